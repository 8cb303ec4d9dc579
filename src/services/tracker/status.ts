/**
 * Device status: connection (online / offline / unknown) from the edge's connection events and
 * the age of the last report; motion (moving / stopped / unknown) by stop detection (stayed within
 * a radius for a minimum time); battery and charging from the newest fix.
 */
import { distanceMetres } from '../../core/geo.js';
import type { Fix } from '../../core/types.js';
import type { TrackingSettings } from './settings.js';

export type Motion = 'moving' | 'stopped' | 'unknown';

/** What the tracker keeps per device (one row of device_status). */
export interface StatusRecord {
  tenantId: string;
  deviceId: string;
  connected: boolean;
  connectionAt: number | null;
  motion: Motion;
  motionSince: number | null;
  anchorLon: number | null;
  anchorLat: number | null;
  anchorTime: number | null;
  lastFixAt: number | null;
  lastReceivedAt: number | null;
  battery: number | null;
  charging: boolean | null;
}

/** The status as the API shows it. */
export interface DeviceStatus {
  deviceId: string;
  connection: 'online' | 'offline' | 'unknown';
  connectionAt: number | null;
  motion: Motion;
  motionSince: number | null;
  lastFixAt: number | null;
  battery: number | null;
  charging: boolean | null;
}

export function emptyStatus(tenantId: string, deviceId: string): StatusRecord {
  return { tenantId, deviceId, connected: false, connectionAt: null, motion: 'unknown', motionSince: null, anchorLon: null, anchorLat: null, anchorTime: null, lastFixAt: null, lastReceivedAt: null, battery: null, charging: null };
}

/**
 * Moves a device's status forward with an accepted, in-order fix. Returns true when the motion
 * changed. A fix farther than stopRadius from the anchor means moving (and becomes the anchor);
 * staying within it for stopMinutes means stopped since the anchor's time.
 */
export function applyFix(status: StatusRecord, fix: Fix, receivedAt: number, s: TrackingSettings): boolean {
  const before = status.motion;
  status.lastFixAt = fix.time;
  status.lastReceivedAt = receivedAt;
  if (fix.battery !== undefined) status.battery = fix.battery;
  if (fix.charging !== undefined) status.charging = fix.charging;
  if (status.anchorLon === null || status.anchorLat === null || status.anchorTime === null) {
    status.anchorLon = fix.lon;
    status.anchorLat = fix.lat;
    status.anchorTime = fix.time;
    return false;
  }
  if (distanceMetres(status.anchorLon, status.anchorLat, fix.lon, fix.lat) > s.stopRadius) {
    status.anchorLon = fix.lon;
    status.anchorLat = fix.lat;
    status.anchorTime = fix.time;
    if (status.motion !== 'moving') {
      status.motion = 'moving';
      status.motionSince = fix.time;
    }
  } else if (fix.time - status.anchorTime >= s.stopMinutes * 60_000 && status.motion !== 'stopped') {
    status.motion = 'stopped';
    status.motionSince = status.anchorTime;
  }
  return status.motion !== before;
}

/** The status as shown: online while connected or while reports are fresher than offlineAfterSeconds. */
export function viewStatus(status: StatusRecord, now: number, s: TrackingSettings): DeviceStatus {
  const fresh = status.lastReceivedAt !== null && now - status.lastReceivedAt < s.offlineAfterSeconds * 1000;
  const seen = status.connectionAt !== null || status.lastReceivedAt !== null;
  return {
    deviceId: status.deviceId,
    connection: status.connected || fresh ? 'online' : seen ? 'offline' : 'unknown',
    connectionAt: status.connectionAt,
    motion: status.motion,
    motionSince: status.motionSince,
    lastFixAt: status.lastFixAt,
    battery: status.battery,
    charging: status.charging,
  };
}
