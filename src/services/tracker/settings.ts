/**
 * Per-tenant tracking settings: the filters of the position pipeline, stop detection, the
 * offline threshold and retention. Kept by the tracker (it is the tracker's policy), cached in
 * memory, changed through the API by a tenant admin.
 */
import { invalid } from '../../core/errors.js';

export interface TrackingSettings {
  /** Fixes whose accuracy radius is larger than this (metres) are filtered. 0 turns the filter off. */
  maxAccuracy: number;
  /** Fixes implying a speed above this (m/s) from the previous stored fix are filtered. 0: off. */
  maxSpeed: number;
  /** A fix within this many metres (or its accuracy, if larger) of the previous stored one, while not moving, is filtered as jitter. 0: off. */
  jitterDistance: number;
  /** Even a stationary device gets one fix stored per this many seconds (shows it is alive). */
  jitterKeepAliveSeconds: number;
  /** Oldest fix accepted, days. */
  maxAgeDays: number;
  /** Furthest into the future a fix may be (clock skew), seconds. */
  maxFutureSeconds: number;
  /** A device that stayed within this radius (metres) … */
  stopRadius: number;
  /** … for at least this many minutes is stopped. */
  stopMinutes: number;
  /** A device that has not reported (nor connected) for this long is offline, connected or not. */
  offlineAfterSeconds: number;
  /** Positions older than this many days are deleted in the background. 0 keeps them forever. */
  retentionDays: number;
}

export const defaultSettings: Readonly<TrackingSettings> = Object.freeze({
  maxAccuracy: 1000,
  maxSpeed: 100,
  jitterDistance: 5,
  jitterKeepAliveSeconds: 300,
  maxAgeDays: 7,
  maxFutureSeconds: 300,
  stopRadius: 50,
  stopMinutes: 3,
  offlineAfterSeconds: 600,
  retentionDays: 90,
});

const LIMITS: Record<keyof TrackingSettings, [number, number]> = {
  maxAccuracy: [0, 100_000],
  maxSpeed: [0, 1000],
  jitterDistance: [0, 1000],
  jitterKeepAliveSeconds: [1, 86_400],
  maxAgeDays: [1, 3650],
  maxFutureSeconds: [0, 86_400],
  stopRadius: [1, 10_000],
  stopMinutes: [1, 1440],
  offlineAfterSeconds: [10, 604_800],
  retentionDays: [0, 36_500],
};

/** Merges a partial change into settings, refusing unknown keys and out-of-range values with the field named. */
export function mergeSettings(current: TrackingSettings, change: unknown): TrackingSettings {
  if (!change || typeof change !== 'object' || Array.isArray(change)) throw invalid('body', 'must be an object of tracking settings');
  const next = { ...current };
  for (const [key, value] of Object.entries(change as Record<string, unknown>)) {
    const limits = LIMITS[key as keyof TrackingSettings];
    if (!limits) throw invalid(key, `is not a tracking setting; known: ${Object.keys(LIMITS).join(', ')}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < limits[0] || value > limits[1]) throw invalid(key, `must be a number from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(value)}`);
    next[key as keyof TrackingSettings] = value;
  }
  return next;
}
