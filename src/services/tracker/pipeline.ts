/**
 * The position pipeline, as one readable list. Each check stage looks at one fix and either lets
 * it through or says why not: `rejected` when the fix is invalid, `filtered` when it is valid but
 * the tenant's filters drop it (inaccurate, impossible speed, jitter while stationary). Nothing is
 * dropped silently: every outcome is answered, counted and explained. After the checks come the
 * durable append with group commit (which also moves the last known position forward), the
 * device status, and publishing (TrackerService.ingest).
 */
import { distanceMetres } from '../../core/geo.js';
import type { Fix } from '../../core/types.js';
import type { TrackingSettings } from './settings.js';

export interface IngestResult {
  status: 'accepted' | 'duplicate' | 'rejected' | 'filtered';
  code?: 'validation_failed';
  field?: string;
  /** For `filtered`: which filter (accuracy, speed, jitter). */
  filter?: 'accuracy' | 'speed' | 'jitter';
  reason?: string;
}

/** The previous stored fix of the device, in fix-time order. */
export interface Previous {
  time: number;
  lon: number;
  lat: number;
  /** When the last fix was stored (for the jitter keep-alive). */
  storedTime: number;
  moving: boolean;
}

/** What a check stage sees. */
export interface Candidate {
  fix: Fix;
  receivedAt: number;
  /** Undefined when the device has no earlier fix, or this fix is older than it (a late upload). */
  previous: Previous | undefined;
}

type Check = (c: Candidate, s: TrackingSettings) => IngestResult | undefined;

const reject = (field: string, reason: string): IngestResult => ({ status: 'rejected', code: 'validation_failed', field, reason });
const filtered = (filter: NonNullable<IngestResult['filter']>, reason: string): IngestResult => ({ status: 'filtered', filter, reason });

function finiteIn(value: unknown, min: number, max: number, maxExclusive = false): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && (maxExclusive ? value < max : value <= max);
}

const describe = (value: unknown): string => (typeof value === 'number' ? String(value) : JSON.stringify(value) ?? 'nothing');

/** Ranges and types of every field. */
const validate: Check = ({ fix }) => {
  if (!finiteIn(fix.lon, -180, 180)) return reject('lon', `must be a number from -180 to 180, got ${describe(fix.lon)}`);
  if (!finiteIn(fix.lat, -90, 90)) return reject('lat', `must be a number from -90 to 90, got ${describe(fix.lat)}`);
  if (typeof fix.time !== 'number' || !Number.isFinite(fix.time)) return reject('time', `must be epoch milliseconds or an ISO 8601 time, got ${describe(fix.time)}`);
  if (fix.accuracy !== undefined && !finiteIn(fix.accuracy, 0, 1e7)) return reject('accuracy', `must be metres from 0, got ${describe(fix.accuracy)}`);
  if (fix.altitude !== undefined && !finiteIn(fix.altitude, -12_000, 100_000)) return reject('altitude', `must be metres from -12000 to 100000, got ${describe(fix.altitude)}`);
  if (fix.speed !== undefined && !finiteIn(fix.speed, 0, 1_000)) return reject('speed', `must be metres per second from 0 to 1000, got ${describe(fix.speed)}`);
  if (fix.heading !== undefined && !finiteIn(fix.heading, 0, 360, true)) return reject('heading', `must be degrees from 0 up to 360, got ${describe(fix.heading)}`);
  if (fix.battery !== undefined && !finiteIn(fix.battery, 0, 100)) return reject('battery', `must be a percentage from 0 to 100, got ${describe(fix.battery)}`);
  if (fix.charging !== undefined && typeof fix.charging !== 'boolean') return reject('charging', `must be true or false, got ${describe(fix.charging)}`);
  return undefined;
};

/** Fixes from a clock far in the future, or too old to matter, are refused. */
const timeWindow: Check = ({ fix, receivedAt }, s) => {
  if (fix.time > receivedAt + s.maxFutureSeconds * 1000) return reject('time', `is ${Math.round((fix.time - receivedAt) / 1000)} s in the future; the device clock is wrong (at most ${s.maxFutureSeconds} s allowed)`);
  if (fix.time < receivedAt - s.maxAgeDays * 86_400_000) return reject('time', `is older than ${s.maxAgeDays} days`);
  return undefined;
};

/** A fix whose accuracy radius is worse than the tenant's threshold says little about where the device is. */
const accuracy: Check = ({ fix }, s) => {
  if (s.maxAccuracy > 0 && fix.accuracy !== undefined && fix.accuracy > s.maxAccuracy) return filtered('accuracy', `accuracy ${fix.accuracy} m is worse than the tenant's limit of ${s.maxAccuracy} m`);
  return undefined;
};

/** A jump no vehicle could make since the previous fix is a GPS outlier. */
const speed: Check = ({ fix, previous }, s) => {
  if (s.maxSpeed <= 0 || !previous || fix.time <= previous.time) return undefined;
  const metres = distanceMetres(previous.lon, previous.lat, fix.lon, fix.lat);
  const slack = fix.accuracy ?? 0; // an inaccurate fix may seem to jump by its own error
  const implied = Math.max(0, metres - slack) / ((fix.time - previous.time) / 1000);
  if (implied > s.maxSpeed) return filtered('speed', `implies ${implied.toFixed(0)} m/s from the previous fix, above the tenant's limit of ${s.maxSpeed} m/s`);
  return undefined;
};

/** A stationary device's fixes wander by a few metres; store one per keep-alive period, not each. */
const jitter: Check = ({ fix, previous }, s) => {
  if (s.jitterDistance <= 0 || !previous || previous.moving || fix.time <= previous.time) return undefined;
  if (fix.time - previous.storedTime >= s.jitterKeepAliveSeconds * 1000) return undefined;
  const metres = distanceMetres(previous.lon, previous.lat, fix.lon, fix.lat);
  const within = Math.max(s.jitterDistance, fix.accuracy ?? 0);
  if (metres <= within) return filtered('jitter', `${metres.toFixed(1)} m from the previous fix while stationary (within ${within} m)`);
  return undefined;
};

/** The check stages, in order. */
export const checks: readonly Check[] = [validate, timeWindow, accuracy, speed, jitter];

/** Runs the checks on one fix; undefined means it may be stored. */
export function check(candidate: Candidate, settings: TrackingSettings): IngestResult | undefined {
  for (const stage of checks) {
    const result = stage(candidate, settings);
    if (result) return result;
  }
  return undefined;
}
