import { Counter } from 'prom-client';
import { groupBy } from '../../core/group-by.js';
import { registry } from '../../core/metrics.js';
import { topic, type Bus } from '../../ports/bus.js';
import type { DeliveryState, Priority } from '../../core/types.js';
import type { ChannelName } from './channels/channel.js';
import type { SosAlarm } from './sos.js';

/** The `message` frame a device receives (docs/device-protocol.md, section 4). */
export interface MessageFrame {
  type: 'message';
  deliveryId: string;
  messageId: string;
  priority: Priority;
  title: string;
  body: string;
  sentAt: number;
  expiresAt?: number;
  ackRequired: boolean;
  options?: string[];
}

/**
 * In-app deliveries of one message to hand to devices, wherever they are connected: one bus message
 * for up to DISPATCH_BATCH devices (a fan-out to 100,000 devices is 200 bus messages, not 100,000).
 * Each edge sends the frame to the devices of `to` it holds, each copy with its own `deliveryId`.
 */
export interface Dispatch {
  tenantId: string;
  frame: Omit<MessageFrame, 'deliveryId'>;
  to: { deviceId: string; deliveryId: string }[];
}

/** Most devices in one dispatch: about 35 KB of ids, far below NATS's max_payload with any frame. */
export const DISPATCH_BATCH = 500;

/** The frame one device of a dispatch gets. */
export function frameFor(d: Dispatch, deliveryId: string): MessageFrame {
  return { ...d.frame, deliveryId };
}

/**
 * The devices a dispatch names. A notification process not yet upgraded (a rolling upgrade) still
 * publishes one device per dispatch as `{ deviceId, frame }` with the delivery id in the frame:
 * read as a batch of one rather than dropped.
 */
export function recipientsOf(d: Dispatch): Dispatch['to'] {
  if (Array.isArray(d.to)) return d.to;
  const legacy = d as unknown as { deviceId?: unknown; frame?: { deliveryId?: unknown } };
  return typeof legacy.deviceId === 'string' && typeof legacy.frame?.deliveryId === 'string' ? [{ deviceId: legacy.deviceId, deliveryId: legacy.frame.deliveryId }] : [];
}

/** One delivery moved to a new state. In-app deliveries name the device; channel deliveries the recipient. */
export interface DeliveryUpdate {
  deliveryId: string;
  channel: ChannelName;
  deviceId?: string | undefined;
  recipient?: string | undefined;
  state: DeliveryState;
  response?: string | undefined;
  error?: string | undefined;
  at: number;
}

/**
 * Deliveries of one message that moved: one bus message for up to UPDATE_BATCH of them (a send to
 * 10,000 devices is 20 bus messages of `queued`, not 10,000; the edges' `sent` reports are batched
 * per flush the same way), a batch of one for a single change (a receipt, a channel send).
 */
export interface DeliveryUpdates {
  tenantId: string;
  messageId: string;
  updates: DeliveryUpdate[];
}

/** A delivery update with the tenant and message it belongs to: what publishers hand to publishDeliveryUpdates. */
export type DeliveryChange = DeliveryUpdate & { tenantId: string; messageId: string };

/**
 * Most updates in one bus message: about 75 KB of ids and states. A batch of many is a fan-out's
 * `queued`, `sent` or `expired` (no responses or errors), far below NATS's max_payload.
 */
export const UPDATE_BATCH = 500;

const updateBatches = new Counter({ name: 'followme_notification_delivery_batches_total', help: 'notification.delivery bus messages published (each carries up to 500 delivery updates of one message)', registers: [registry] });

/**
 * Publishes delivery changes as batches: grouped by tenant and message, UPDATE_BATCH to a bus
 * message keyed by the message id, in the order given within a message, all in flight at once.
 */
export async function publishDeliveryUpdates(bus: Bus, changes: readonly DeliveryChange[]): Promise<void> {
  const sends: Promise<void>[] = [];
  for (const mine of groupBy(changes, (c) => `${c.tenantId}/${c.messageId}`).values()) {
    const { tenantId, messageId } = mine[0]!;
    const updates = mine.map(({ tenantId: _tenant, messageId: _message, ...update }) => update);
    for (let i = 0; i < updates.length; i += UPDATE_BATCH) sends.push(bus.publish(deliveryUpdated, messageId, { tenantId, messageId, updates: updates.slice(i, i + UPDATE_BATCH) }));
  }
  updateBatches.inc(sends.length);
  await Promise.all(sends);
}

/**
 * The updates a batch carries. A notification process not yet upgraded (a rolling upgrade) still
 * publishes one flat update per bus message: read as a batch of one rather than dropped.
 */
export function updatesOf(b: DeliveryUpdates): DeliveryUpdate[] {
  if (Array.isArray(b.updates)) return b.updates;
  const { tenantId: _tenant, messageId: _message, ...legacy } = b as unknown as DeliveryChange;
  return typeof legacy.deliveryId === 'string' && typeof legacy.state === 'string' ? [legacy] : [];
}

/** An SOS a device raised (native protocol `sos` frame), for the notification service. */
export interface SosRaised {
  id: string;
  tenantId: string;
  deviceId: string;
  at: number;
  lon?: number | undefined;
  lat?: number | undefined;
  accuracy?: number | undefined;
  text?: string | undefined;
  /** Already kept by the notification service before the device's ack (embedded, keepSos): for the live stream only. */
  kept?: boolean | undefined;
}

export const dispatch = topic<Dispatch>('notification.dispatch');
export const deliveryUpdated = topic<DeliveryUpdates>('notification.delivery');
export const sosRaised = topic<SosRaised>('notification.sos');
/** An SOS alarm was raised, acknowledged by a responder or resolved: the whole alarm as it is now. */
export const sosAlarmChanged = topic<SosAlarm>('notification.sos-alarm');
