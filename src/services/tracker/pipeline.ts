/**
 * The position pipeline, as one readable list. Each check stage looks at one fix and either lets it
 * through or says why not; a fix that a stage refuses is answered with the reason and counted,
 * never silently dropped. After the checks: durable append with group commit (which also moves the
 * last known position forward), then publish. See TrackerService.ingest for the order in action.
 */
import type { Fix } from '../../core/types.js';

export interface IngestResult {
  status: 'accepted' | 'duplicate' | 'rejected';
  code?: 'validation_failed';
  field?: string;
  reason?: string;
}

/** What a check stage sees: the fix, when it arrived, and the device's last known fix time. */
export interface Candidate {
  fix: Fix;
  receivedAt: number;
  lastKnownTime: number | undefined;
}

export interface Limits {
  /** Oldest fix accepted, relative to arrival, ms. */
  maxAgeMs: number;
  /** Furthest into the future a fix may be (clock skew), ms. */
  maxFutureMs: number;
}

export const defaultLimits: Limits = { maxAgeMs: 7 * 24 * 3600_000, maxFutureMs: 5 * 60_000 };

type Check = (c: Candidate, limits: Limits) => IngestResult | undefined;

const reject = (field: string, reason: string): IngestResult => ({ status: 'rejected', code: 'validation_failed', field, reason });

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
const timeWindow: Check = ({ fix, receivedAt }, limits) => {
  if (fix.time > receivedAt + limits.maxFutureMs) return reject('time', `is ${Math.round((fix.time - receivedAt) / 1000)} s in the future; the device clock is wrong (at most ${limits.maxFutureMs / 1000} s allowed)`);
  if (fix.time < receivedAt - limits.maxAgeMs) return reject('time', `is older than ${Math.round(limits.maxAgeMs / 86_400_000)} days`);
  return undefined;
};

/** The check stages, in order. */
export const checks: readonly Check[] = [validate, timeWindow];

/** Runs the checks on one fix; undefined means it may be stored. */
export function check(candidate: Candidate, limits: Limits = defaultLimits): IngestResult | undefined {
  for (const stage of checks) {
    const result = stage(candidate, limits);
    if (result) return result;
  }
  return undefined;
}
