/**
 * Device status: connection (online / offline / unknown) from the age of the device's last sign
 * of life (a report, or while connected the start of its connection); motion (moving / stopped / unknown) by stop detection (stayed within
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
  /** When the device went offline (its offline was published); null while online or never seen. */
  offlineSince: number | null;
  /** When silence makes the device offline if nothing arrives before; null while offline or never seen. Indexed: the sweep's queue. */
  dueAt: number | null;
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
  /** When it went offline (null while online or never seen); one offline, one alert. */
  offlineSince: number | null;
}

export function emptyStatus(tenantId: string, deviceId: string): StatusRecord {
  return { tenantId, deviceId, connected: false, connectionAt: null, motion: 'unknown', motionSince: null, anchorLon: null, anchorLat: null, anchorTime: null, lastFixAt: null, lastReceivedAt: null, battery: null, charging: null, offlineSince: null, dueAt: null };
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

/** The newest sign of life: the last report, or while connected the start of the connection. */
export function lastSign(status: StatusRecord): number | null {
  const connectedAt = status.connected ? status.connectionAt : null;
  if (status.lastReceivedAt === null) return connectedAt;
  return connectedAt === null ? status.lastReceivedAt : Math.max(connectedAt, status.lastReceivedAt);
}

/**
 * Brings the offline bookkeeping up to `now`: a device is online while its last sign of life is
 * younger than offlineAfterSeconds (connected or not: a connection that carries no reports does
 * not keep it online). Answers 'offline' when it just went offline (since `at`), 'online' when it
 * just came back, undefined when nothing changed; either way `dueAt` says when silence makes it
 * offline next. Publishing on the transitions only is what makes one alert per offline.
 */
export function settleConnection(status: StatusRecord, now: number, s: TrackingSettings, at = now): 'offline' | 'online' | undefined {
  const sign = lastSign(status);
  const threshold = s.offlineAfterSeconds * 1000;
  if (sign !== null && now - sign < threshold) {
    status.dueAt = sign + threshold;
    if (status.offlineSince === null) return undefined;
    status.offlineSince = null;
    return 'online';
  }
  status.dueAt = null;
  if (status.offlineSince !== null || (sign === null && status.connectionAt === null)) return undefined;
  status.offlineSince = at;
  return 'offline';
}

/** The status as shown: online while the last sign of life is fresher than offlineAfterSeconds. */
export function viewStatus(status: StatusRecord, now: number, s: TrackingSettings): DeviceStatus {
  const sign = lastSign(status);
  const fresh = sign !== null && now - sign < s.offlineAfterSeconds * 1000;
  const seen = status.connectionAt !== null || status.lastReceivedAt !== null;
  return {
    deviceId: status.deviceId,
    connection: fresh ? 'online' : seen ? 'offline' : 'unknown',
    connectionAt: status.connectionAt,
    motion: status.motion,
    motionSince: status.motionSince,
    lastFixAt: status.lastFixAt,
    battery: status.battery,
    charging: status.charging,
    offlineSince: fresh ? null : status.offlineSince,
  };
}
