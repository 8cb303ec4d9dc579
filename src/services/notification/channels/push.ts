/**
 * Web Push for the member web app (RFC 8030 with VAPID, RFC 8292, and aes128gcm payload
 * encryption, RFC 8291). The web-push library builds the encrypted request and the VAPID JWT;
 * we send it with fetch so the outbox sees every status. The outbox row id, hashed, is the push
 * `Topic`: a repeat replaces the copy still waiting at the push service instead of adding one.
 */
import { createHash } from 'node:crypto';
import webpush from 'web-push';
import { PermanentChannelError, retryable, type Channel, type ChannelJob, type ChannelOutcome } from './channel.js';

const TIMEOUT_MS = 10_000;
const DEFAULT_TTL_SECONDS = 24 * 3600;

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
}

/** A browser's PushSubscription as the member app posts it. */
export interface PushSubscriptionJSON {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export class PushChannel implements Channel {
  readonly name = 'push' as const;
  private vapid: VapidKeys | undefined;

  constructor(private readonly subject: string) {}

  get configured(): boolean {
    return this.vapid !== undefined;
  }

  /** The service loads (or on first start generates and keeps) the key pair, then hands it here. */
  useKeys(keys: VapidKeys): void {
    this.vapid = keys;
  }

  async send(job: ChannelJob): Promise<ChannelOutcome> {
    if (!this.vapid) throw new Error('VAPID keys are not loaded yet');
    const subscription = JSON.parse(job.address) as PushSubscriptionJSON;
    const m = job.message;
    const payload = JSON.stringify({ deliveryId: job.id, messageId: m.id, title: m.title, body: m.body, priority: m.priority, options: m.options, link: job.link ?? null });
    const ttl = m.expiresAt === null ? DEFAULT_TTL_SECONDS : Math.max(0, Math.floor((m.expiresAt - Date.now()) / 1000));
    const details = webpush.generateRequestDetails(subscription, payload, {
      vapidDetails: { subject: this.subject, publicKey: this.vapid.publicKey, privateKey: this.vapid.privateKey },
      TTL: ttl,
      urgency: m.priority === 'normal' ? 'normal' : 'high',
      topic: createHash('sha256').update(job.id).digest('base64url').slice(0, 32),
      contentEncoding: 'aes128gcm',
    });
    const response = await fetch(details.endpoint, {
      method: details.method,
      headers: details.headers as Record<string, string>,
      body: details.body ?? null,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.ok) return 'sent';
    if (retryable(response.status)) throw new Error(`push service answered ${response.status}`);
    // 404 and 410: the subscription is gone; 400/403/413: the request will not become acceptable
    throw new PermanentChannelError(`push service answered ${response.status}`);
  }
}

/** A fresh VAPID key pair (P-256), URL-safe base64 as browsers take them. */
export function generateVapidKeys(): VapidKeys {
  return webpush.generateVAPIDKeys();
}
