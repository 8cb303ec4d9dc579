/**
 * Twilio's Programmable Messaging REST API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json,
 * form-encoded To, From, Body, HTTP Basic auth with the account SID and auth token. The base URL is
 * a setting so tests (and regional endpoints) can point it elsewhere. Twilio offers no idempotency
 * key on this call, so the outbox's claim-before-send is what keeps a retry from texting twice.
 */
import { PermanentChannelError, retryable } from './channel.js';
import type { SmsProvider } from './sms.js';

const TIMEOUT_MS = 10_000;

export interface TwilioSettings {
  baseUrl: string;
  accountSid: string;
  authToken: string;
  from: string;
}

export class TwilioSms implements SmsProvider {
  readonly name = 'twilio';

  constructor(private readonly settings: TwilioSettings) {}

  async sendSms(to: string, text: string): Promise<{ providerId: string }> {
    const { baseUrl, accountSid, authToken, from } = this.settings;
    const url = `${baseUrl.replace(/\/$/, '')}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ To: to, From: from, Body: text }).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const answer = (await response.json().catch(() => ({}))) as { sid?: string; message?: string; code?: number };
    if (response.ok && answer.sid) return { providerId: answer.sid };
    const reason = `Twilio answered ${response.status}${answer.code ? ` (error ${answer.code})` : ''}: ${answer.message ?? 'no message'}`;
    if (retryable(response.status)) throw new Error(reason);
    throw new PermanentChannelError(reason);
  }
}
