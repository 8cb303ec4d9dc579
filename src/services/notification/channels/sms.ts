/**
 * SMS: one channel over a narrow provider interface, so a deployment picks its provider by
 * configuration. Twilio is the adapter we ship (sms-twilio.ts).
 */
import { createHash } from 'node:crypto';
import { PermanentChannelError, plainText, type Channel, type ChannelJob, type ChannelOutcome } from './channel.js';

/** A provider that can send one text message. Throws PermanentChannelError for a refusal, anything else to retry. */
export interface SmsProvider {
  readonly name: string;
  sendSms(to: string, text: string, idempotencyKey: string): Promise<{ providerId: string }>;
  /**
   * The provider's record of a text to `to` created since `since` whose body contains `marker`,
   * if there is one (how a send whose answer was lost is told from one that never arrived).
   */
  findSent(to: string, marker: string, since: number): Promise<{ providerId: string } | undefined>;
}

const MAX_SMS_CHARS = 1600; // Twilio's limit for one (concatenated) message

/**
 * The reference each text ends with: six characters from the outbox row id, unique enough among
 * the texts one number gets from us in a day, so the provider's message list can tell whether a
 * send whose answer was lost arrived.
 */
export function smsReference(outboxId: string): string {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
  const digest = createHash('sha256').update(outboxId).digest();
  let ref = '';
  for (let i = 0; i < 6; i++) ref += alphabet[digest[i]! % alphabet.length];
  return `Ref ${ref}`;
}

export class SmsChannel implements Channel {
  readonly name = 'sms' as const;
  readonly configured: boolean;

  constructor(private readonly provider: SmsProvider | undefined) {
    this.configured = provider !== undefined;
  }

  async send(job: ChannelJob): Promise<ChannelOutcome> {
    if (!this.provider) throw new PermanentChannelError('no SMS provider is configured (FOLLOWME_SMS_PROVIDER)');
    const ref = smsReference(job.id);
    const room = MAX_SMS_CHARS - ref.length - 1;
    const text = plainText(job);
    await this.provider.sendSms(job.address, `${text.length > room ? `${text.slice(0, room - 1)}…` : text}\n${ref}`, job.id);
    return 'sent';
  }

  async reconcile(job: ChannelJob, since: number): Promise<ChannelOutcome | undefined> {
    if (!this.provider) throw new PermanentChannelError('no SMS provider is configured (FOLLOWME_SMS_PROVIDER)');
    return (await this.provider.findSent(job.address, smsReference(job.id), since)) ? 'sent' : undefined;
  }
}
