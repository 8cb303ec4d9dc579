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

/** A delivery to hand to a device, wherever it is connected. */
export interface Dispatch {
  tenantId: string;
  deviceId: string;
  frame: MessageFrame;
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
