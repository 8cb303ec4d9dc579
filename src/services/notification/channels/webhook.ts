/**
 * Webhooks: POST of the message as JSON to the tenant's URL, signed with HMAC-SHA256 over
 * "<timestamp>.<body>" (header `X-FollowMe-Signature: t=<unix seconds>,v1=<hex>`), with the
 * outbox row id in `X-FollowMe-Delivery` so a receiver can drop a repeat (docs/messaging.md).
 */
import { createHmac } from 'node:crypto';
import { PermanentChannelError, retryable, type Channel, type ChannelJob, type ChannelOutcome } from './channel.js';

const TIMEOUT_MS = 10_000;

/** The signature header value for a body sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;
  readonly configured = true;

  async send(job: ChannelJob): Promise<ChannelOutcome> {
    if (!job.secret) throw new PermanentChannelError('the tenant has no webhook configured');
    const m = job.message;
    const body = JSON.stringify({
      type: 'message',
      deliveryId: job.id,
      message: { id: m.id, title: m.title, body: m.body, priority: m.priority, options: m.options, ackRequired: m.ackRequired, createdAt: m.createdAt, expiresAt: m.expiresAt },
      link: job.link ?? null,
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(job.address, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'FollowMe-Webhook/1', 'x-followme-delivery': job.id, 'x-followme-signature': webhookSignature(job.secret, timestamp, body) },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (response.ok) return 'delivered';
    if (retryable(response.status)) throw new Error(`webhook answered ${response.status}`);
    throw new PermanentChannelError(`webhook answered ${response.status}`);
  }
}
