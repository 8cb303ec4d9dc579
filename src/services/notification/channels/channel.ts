/**
 * The one interface every notification channel implements. A channel turns one outbox row (one
 * message for one recipient on this channel) into one call to its provider. The outbox worker
 * (../outbox.ts) retries failures with back-off; a channel only says what happened.
 */
import type { Priority } from '../../../core/types.js';

export const CHANNELS = ['app', 'email', 'sms', 'push', 'webhook'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** What a channel needs to know about the message it carries. */
export interface OutgoingMessage {
  id: string;
  tenantId: string;
  title: string;
  body: string;
  priority: Priority;
  options: string[] | null;
  ackRequired: boolean;
  createdAt: number;
  expiresAt: number | null;
}

/** One send: this message to this recipient's address. `id` is stable across retries: channels use it as the idempotency key. */
export interface ChannelJob {
  id: string;
  channel: ChannelName;
  recipient: string;
  address: string;
  message: OutgoingMessage;
  /** The tenant's webhook signing secret (webhook channel only). */
  secret?: string | undefined;
  /** A link to the live map, for channels that show one. */
  link?: string | undefined;
  /** The tenant's own e-mail sender (its branding), instead of FOLLOWME_SMTP_FROM. */
  from?: string | undefined;
}

/**
 * What became of a send: handed to the provider (`sent`), confirmed by the far end (`delivered`),
 * or for the in-app channel handed to the bus (`dispatched`: the edge reports `sent` itself).
 */
export type ChannelOutcome = 'dispatched' | 'sent' | 'delivered';

/** A failure that retrying will not cure (a 4xx from the provider, a gone subscription): the row fails at once. */
export class PermanentChannelError extends Error {
  override readonly name = 'PermanentChannelError';
}

/**
 * A failure after the request may have reached the provider (no answer in time, the connection cut
 * after sending, an answer that could not be read): nobody knows whether it arrived. The outbox
 * keeps the attempt marked, looks it up first at the next attempt (channels with `reconcile`), and
 * when the last attempt ends so, records the row as `unknown`, not `failed`.
 */
export class OutcomeUnknownError extends Error {
  override readonly name = 'OutcomeUnknownError';
}

export interface Channel {
  readonly name: ChannelName;
  /** Whether this deployment has what the channel needs (SMTP settings, SMS credentials …). */
  readonly configured: boolean;
  send(job: ChannelJob): Promise<ChannelOutcome>;
  /**
   * For providers without an idempotency key: asks the provider whether an earlier attempt of this
   * job (begun at `since`, its answer never recorded) reached it. Answers the outcome if it did,
   * undefined if it provably did not; throws when it cannot tell (retry later). A channel with this
   * method gets an "attempting" mark in the outbox before every send.
   */
  reconcile?(job: ChannelJob, since: number): Promise<ChannelOutcome | undefined>;
}

/** The plain-text rendering e-mail and SMS share: title, body, the answer options, the link. */
export function plainText(job: ChannelJob): string {
  const m = job.message;
  const lines = [m.title];
  if (m.body) lines.push('', m.body);
  if (m.options?.length) lines.push('', `Answer in the app: ${m.options.join(' / ')}`);
  if (job.link) lines.push('', job.link);
  return lines.join('\n');
}

/** Whether an HTTP status means "try again later" (server trouble, throttling, timeout) rather than "never". */
export function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}
