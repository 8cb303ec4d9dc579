/**
 * Webhooks: POST of the message as JSON to the tenant's URL, signed with HMAC-SHA256 over
 * "<timestamp>.<body>" (header `X-FollowMe-Signature: t=<unix seconds>,v1=<hex>`), with the
 * outbox row id in `X-FollowMe-Delivery` so a receiver can drop a repeat (docs/messaging.md).
 * `postSigned` is the one signed POST: the geofence event subscriptions (../webhook-worker.ts) use it too.
 */
import { createHmac } from 'node:crypto';
import { PermanentChannelError, retryable, type Channel, type ChannelJob, type ChannelOutcome } from './channel.js';

const TIMEOUT_MS = 10_000;

/** The signature header value for a body sent at `timestamp` (unix seconds). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface SignedPost {
  url: string;
  secret: string;
  /** The JSON body, exactly as signed and sent. */
  body: string;
  /** `x-followme-delivery` and any other header the receiver dedups or routes by. */
  headers: Record<string, string>;
  timeoutMs?: number | undefined;
  /** Aborts the request early (a stopping process). */
  signal?: AbortSignal | undefined;
}

/**
 * POSTs a JSON body signed with the secret at the current time; resolves with the HTTP status
 * (the response body is discarded), rejects on a network error or when the timeout passes.
 */
export async function postSigned(post: SignedPost): Promise<number> {
  const timeout = AbortSignal.timeout(post.timeoutMs ?? TIMEOUT_MS);
  const timestamp = Math.floor(Date.now() / 1000);
  const response = await fetch(post.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'FollowMe-Webhook/1', ...post.headers, 'x-followme-signature': webhookSignature(post.secret, timestamp, post.body) },
    body: post.body,
    signal: post.signal ? AbortSignal.any([timeout, post.signal]) : timeout,
    redirect: 'manual',
  });
  await response.body?.cancel();
  return response.status;
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
    const status = await postSigned({ url: job.address, secret: job.secret, body, headers: { 'x-followme-delivery': job.id } });
    if (status >= 200 && status < 300) return 'delivered';
    if (retryable(status)) throw new Error(`webhook answered ${status}`);
    throw new PermanentChannelError(`webhook answered ${status}`);
  }
}
