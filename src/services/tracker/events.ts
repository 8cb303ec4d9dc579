import { topic } from '../../ports/bus.js';
import type { Position } from '../../core/types.js';
import type { DeviceStatus } from './status.js';

/** Every position the tracker stored, in the order stored per device; fixes older than the last known one are flagged `late`. */
export const positionAccepted = topic<Position>('tracker.position');

/** A device connected to or disconnected from an edge. Published by the edge, kept by the tracker. */
export interface DeviceConnection {
  tenantId: string;
  deviceId: string;
  connected: boolean;
  at: number;
}

export const deviceConnection = topic<DeviceConnection>('edge.connection');

/** A device's connection or motion changed. */
export const deviceStatusChanged = topic<DeviceStatus & { tenantId: string }>('tracker.status');

/** A member started or stopped sharing with an audience ("follow me"), so that live views of followers change at once. */
export interface ShareChanged {
  tenantId: string;
  ownerUserId: string;
  /** Whom the share named (users, groups); after a revocation they may still follow through another share. */
  followers: { userIds: string[]; groupIds: string[] };
  /** true: the share starts; false: it was revoked. Expiry publishes nothing: readers compare `expiresAt` with the clock. */
  active: boolean;
}

export const shareChanged = topic<ShareChanged>('tracker.share');
