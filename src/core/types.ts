/** Types shared by every part of Follow Me. Geography is GeoJSON: [longitude, latitude], WGS84. */

export const ROLES = ['owner', 'admin', 'operator', 'member'] as const;
export type Role = (typeof ROLES)[number];

/** Who is asking. Every request and every device connection carries one. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'user'; tenantId: string; userId: string; role: Role }
  | { kind: 'device'; tenantId: string; deviceId: string };

/** A position as a device reports it, before the tracker has judged it. */
export interface Fix {
  /** Time of the fix, epoch milliseconds. */
  time: number;
  lon: number;
  lat: number;
  /** Horizontal accuracy in metres (radius of 68% confidence). */
  accuracy?: number | undefined;
  altitude?: number | undefined;
  /** Metres per second. */
  speed?: number | undefined;
  /** Degrees clockwise from true north. */
  heading?: number | undefined;
  /** Battery level in percent. */
  battery?: number | undefined;
  charging?: boolean | undefined;
}

/** A position the tracker accepted and stored. */
export interface Position extends Fix {
  tenantId: string;
  deviceId: string;
  /** Epoch milliseconds when the server received it. */
  receivedAt: number;
  /** True when the fix is older than the device's last known one (an offline-buffered upload). */
  late: boolean;
}

export const PRIORITIES = ['normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** `unknown`: a channel send given up whose last attempt may have reached the provider (it may have arrived). */
export const DELIVERY_STATES = ['queued', 'sent', 'delivered', 'read', 'acknowledged', 'expired', 'failed', 'unknown'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A receipt a device sends up about one delivery. */
export type ReceiptKind = 'delivered' | 'read' | 'acknowledged';
