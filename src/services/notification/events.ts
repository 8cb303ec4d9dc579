import { topic } from '../../ports/bus.js';
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

/** A delivery moved to a new state. In-app deliveries name the device; channel deliveries the channel and recipient. */
export interface DeliveryUpdate {
  tenantId: string;
  messageId: string;
  deliveryId: string;
  channel?: ChannelName | undefined;
  deviceId?: string | undefined;
  recipient?: string | undefined;
  state: DeliveryState;
  response?: string | undefined;
  error?: string | undefined;
  at: number;
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
}

export const dispatch = topic<Dispatch>('notification.dispatch');
export const deliveryUpdated = topic<DeliveryUpdate>('notification.delivery');
export const sosRaised = topic<SosRaised>('notification.sos');
/** An SOS alarm was raised, acknowledged by a responder or resolved: the whole alarm as it is now. */
export const sosAlarmChanged = topic<SosAlarm>('notification.sos-alarm');
