/**
 * In-app: the native WebSocket. The message goes on the `notification.dispatch` bus topic to
 * whichever edge holds the device's connection, up to DISPATCH_BATCH devices of one message in one
 * bus message; a device that is not connected gets it from the store (deliveries still `queued`) at
 * its next hello. The edge reports `sent`, the device its receipts.
 */
import { groupBy } from '../../../core/group-by.js';
import type { Bus } from '../../../ports/bus.js';
import { dispatch, DISPATCH_BATCH, type MessageFrame } from '../events.js';
import type { Channel, ChannelJob, ChannelOutcome } from './channel.js';

export class AppChannel implements Channel {
  readonly name = 'app' as const;
  readonly configured = true;

  constructor(private readonly bus: Bus) {}

  /** `job.id` is the delivery id, `job.address` the device id. */
  async send(job: ChannelJob): Promise<ChannelOutcome> {
    await this.dispatchAll([job]);
    return 'dispatched';
  }

  /** Hands these deliveries to the bus: per message, DISPATCH_BATCH devices to a bus message, published in order. */
  async dispatchAll(jobs: Pick<ChannelJob, 'id' | 'address' | 'message'>[]): Promise<void> {
    const publishing: Promise<void>[] = [];
    for (const [messageId, mine] of groupBy(jobs, (job) => job.message.id)) {
      const { deliveryId: _, ...frame } = appFrame(mine[0]!);
      for (let i = 0; i < mine.length; i += DISPATCH_BATCH) {
        const to = mine.slice(i, i + DISPATCH_BATCH).map((j) => ({ deviceId: j.address, deliveryId: j.id }));
        publishing.push(this.bus.publish(dispatch, messageId, { tenantId: mine[0]!.message.tenantId, frame, to }));
      }
    }
    await Promise.all(publishing);
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
