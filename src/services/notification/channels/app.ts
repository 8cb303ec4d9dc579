/**
 * In-app: the native WebSocket. The message goes on the `notification.dispatch` bus topic to
 * whichever edge holds the device's connection; a device that is not connected gets it from the
 * store (deliveries still `queued`) at its next hello. The edge reports `sent`, the device its receipts.
 */
import type { Bus } from '../../../ports/bus.js';
import { dispatch, type MessageFrame } from '../events.js';
import type { Channel, ChannelJob, ChannelOutcome } from './channel.js';

export class AppChannel implements Channel {
  readonly name = 'app' as const;
  readonly configured = true;

  constructor(private readonly bus: Bus) {}

  /** `job.id` is the delivery id, `job.address` the device id. */
  async send(job: ChannelJob): Promise<ChannelOutcome> {
    await this.bus.publish(dispatch, job.address, { tenantId: job.message.tenantId, deviceId: job.address, frame: appFrame(job) });
    return 'dispatched';
  }
}

/** The `message` frame of docs/device-protocol.md section 4. */
export function appFrame(job: Pick<ChannelJob, 'id' | 'message'>): MessageFrame {
  const m = job.message;
  const frame: MessageFrame = { type: 'message', deliveryId: job.id, messageId: m.id, priority: m.priority, title: m.title, body: m.body, sentAt: m.createdAt, ackRequired: m.ackRequired };
  if (m.expiresAt !== null) frame.expiresAt = m.expiresAt;
  if (m.options) frame.options = m.options;
  return frame;
}
