import { topic } from '../../ports/bus.js';
import type { DeliveryState, Priority } from '../../core/types.js';

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

/** A delivery moved to a new state. */
export interface DeliveryUpdate {
  tenantId: string;
  messageId: string;
  deliveryId: string;
  deviceId: string;
  state: DeliveryState;
  response?: string | undefined;
  at: number;
}

export const dispatch = topic<Dispatch>('notification.dispatch');
export const deliveryUpdated = topic<DeliveryUpdate>('notification.delivery');
