/**
 * Twilio's Programmable Messaging REST API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json,
 * form-encoded To, From, Body, HTTP Basic auth with the account SID and auth token. The base URL is
 * a setting so tests (and regional endpoints) can point it elsewhere.
 *
 * Twilio offers no idempotency key on this call. So the outbox marks a row before sending, and a
 * row found marked (the process died, or the connection broke, before Twilio's answer was
 * recorded) is first looked up in the account's message list (GET the same URL with To and From,
 * newest first, paged by next_page_uri) for a body carrying the row's reference, back to when the
 * first such attempt began. We bound the search by `date_created` rather than Twilio's `DateSent`
 * filter: a message still queued at Twilio has no `date_sent` yet and that filter would miss it.
 */
import { OutcomeUnknownError, PermanentChannelError, retryable } from './channel.js';
import type { SmsProvider } from './sms.js';

const TIMEOUT_MS = 10_000;
/** Connection failures that happen before any byte of the request left: the text was certainly not sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);
/** Twilio's page size limit is 1000; a number gets few texts from us, so small pages end the search soonest. */
const PAGE_SIZE = 50;
const MAX_PAGES = 20;
/** Clock difference between us and Twilio that a search tolerates. */
const SKEW_MS = 5 * 60_000;

interface TwilioMessage {
  sid: string;
  body: string | null;
  date_created: string | null;
}

export interface TwilioSettings {
  baseUrl: string;
  accountSid: string;
  authToken: string;
  from: string;
  /** How long a request may take before its outcome counts as unknown (default 10 s). */
  timeoutMs?: number | undefined;
}

export class TwilioSms implements SmsProvider {
  readonly name = 'twilio';

  constructor(private readonly settings: TwilioSettings) {}

  private get base(): string {
    return this.settings.baseUrl.replace(/\/$/, '');
  }

  private get timeoutMs(): number {
    return this.settings.timeoutMs ?? TIMEOUT_MS;
  }

  private get authorization(): string {
    return `Basic ${Buffer.from(`${this.settings.accountSid}:${this.settings.authToken}`).toString('base64')}`;
  }

  async sendSms(to: string, text: string): Promise<{ providerId: string }> {
    const { accountSid, from } = this.settings;
    const url = `${this.base}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: this.authorization,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ To: to, From: from, Body: text }).toString(),
      signal: AbortSignal.timeout(this.timeoutMs),
    }).catch((err: unknown) => {
      const code = errorCode(err);
      if (code && NOT_SENT.has(code)) throw new Error(`could not reach Twilio (${code}); the text was not sent`);
      throw new OutcomeUnknownError(`no answer from Twilio (${describe(err)}); the text may have been sent`);
    });
    const answer = (await response.json().catch(() => ({}))) as { sid?: string; message?: string; code?: number };
    if (response.ok && answer.sid) return { providerId: answer.sid };
    if (response.ok) throw new OutcomeUnknownError(`Twilio answered ${response.status} without a readable message resource; the text may have been sent`);
    const reason = `Twilio answered ${response.status}${answer.code ? ` (error ${answer.code})` : ''}: ${answer.message ?? 'no message'}`;
    if (retryable(response.status)) throw new Error(reason);
    throw new PermanentChannelError(reason);
  }

  async findSent(to: string, marker: string, since: number): Promise<{ providerId: string } | undefined> {
    const query = new URLSearchParams({ To: to, From: this.settings.from, PageSize: String(PAGE_SIZE) });
    let next: string | null = `/2010-04-01/Accounts/${encodeURIComponent(this.settings.accountSid)}/Messages.json?${query.toString()}`;
    for (let page = 0; next && page < MAX_PAGES; page++) {
      const response: Response = await fetch(`${this.base}${next}`, { headers: { authorization: this.authorization, accept: 'application/json' }, signal: AbortSignal.timeout(this.timeoutMs) });
      const answer = (await response.json().catch(() => ({}))) as { messages?: TwilioMessage[]; next_page_uri?: string | null; code?: number; message?: string };
      // cannot tell: the outbox tries again later, still without sending
      if (!response.ok || !Array.isArray(answer.messages)) throw new Error(`Twilio answered ${response.status} to the message list${answer.code ? ` (error ${answer.code})` : ''}: ${answer.message ?? 'no message list'}`);
      const found = answer.messages.find((m) => m.body?.includes(marker));
      if (found) return { providerId: found.sid };
      // newest first: a page that reaches back before the first attempt ends the search
      const oldest = Math.min(...answer.messages.map((m) => (m.date_created ? Date.parse(m.date_created) : Infinity)));
      if (oldest < since - SKEW_MS) return undefined;
      next = answer.next_page_uri ?? null;
    }
    if (next) throw new Error(`Twilio's message list to ${to} has more than ${MAX_PAGES * PAGE_SIZE} texts since the attempt; cannot tell whether it arrived`);
    return undefined;
  }
}

/** The system error code of a failed fetch (undici puts it on `cause`). */
function errorCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

function describe(err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return 'timed out';
  const code = errorCode(err);
  return code ?? (err instanceof Error ? err.message : String(err));
}
