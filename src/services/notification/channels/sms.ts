/**
 * SMS: one channel over a narrow provider interface, so a deployment picks its provider by
 * configuration. Twilio is the adapter we ship (sms-twilio.ts).
 */
import { PermanentChannelError, plainText, type Channel, type ChannelJob, type ChannelOutcome } from './channel.js';

/** A provider that can send one text message. Throws PermanentChannelError for a refusal, anything else to retry. */
export interface SmsProvider {
  readonly name: string;
  sendSms(to: string, text: string, idempotencyKey: string): Promise<{ providerId: string }>;
}

const MAX_SMS_CHARS = 1600; // Twilio's limit for one (concatenated) message

export class SmsChannel implements Channel {
  readonly name = 'sms' as const;
  readonly configured: boolean;

  constructor(private readonly provider: SmsProvider | undefined) {
    this.configured = provider !== undefined;
  }

  async send(job: ChannelJob): Promise<ChannelOutcome> {
    if (!this.provider) throw new PermanentChannelError('no SMS provider is configured (FOLLOWME_SMS_PROVIDER)');
    const text = plainText(job);
    await this.provider.sendSms(job.address, text.length > MAX_SMS_CHARS ? `${text.slice(0, MAX_SMS_CHARS - 1)}…` : text, job.id);
    return 'sent';
  }
}
