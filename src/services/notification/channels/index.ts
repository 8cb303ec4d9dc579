/** The notification channels, in one explicit list. Adding a channel: one file, one line here. */
import type { Bus } from '../../../ports/bus.js';
import { AppChannel } from './app.js';
import type { Channel, ChannelName } from './channel.js';
import { EmailChannel, type EmailSettings } from './email.js';
import { PushChannel } from './push.js';
import { SmsChannel, type SmsProvider } from './sms.js';
import { TwilioSms, type TwilioSettings } from './sms-twilio.js';
import { WebhookChannel } from './webhook.js';

export * from './channel.js';
export { appFrame } from './app.js';
export { postSigned, webhookSignature, type SignedPost } from './webhook.js';
export { generateVapidKeys, PushChannel, type VapidKeys, type PushSubscriptionJSON } from './push.js';
export type { SmsProvider } from './sms.js';

export interface ChannelSettings {
  email: EmailSettings;
  sms: { provider: 'off' } | ({ provider: 'twilio' } & TwilioSettings);
  vapidSubject: string;
}

export type ChannelSet = { [K in ChannelName]: Channel } & { app: AppChannel; push: PushChannel; close(): void };

/** Builds every channel from the settings. */
export function createChannels(bus: Bus, settings: ChannelSettings): ChannelSet {
  const sms: SmsProvider | undefined = settings.sms.provider === 'twilio' ? new TwilioSms(settings.sms) : undefined;
  const email = new EmailChannel(settings.email);
  return {
    app: new AppChannel(bus),
    email,
    sms: new SmsChannel(sms),
    push: new PushChannel(settings.vapidSubject),
    webhook: new WebhookChannel(),
    close: () => email.close(),
  };
}
