/**
 * The server-driven reporting interval: how many seconds a device should wait before its next
 * fix, from its speed and its distance to the nearest fence boundary. Far from every fence, or
 * standing still, it reports rarely and saves battery; approaching a boundary it reports often
 * enough that the crossing is seen within a few seconds.
 */

/** Shortest and longest interval the server asks for, seconds. */
export const MIN_INTERVAL = 5;
export const MAX_INTERVAL = 300;
const MOVING_INTERVAL = 60;
/** Assumed speed when the device reports none (a brisk walk), m/s. */
const WALK = 1.4;

/**
 * @param speed metres per second, from the fix (undefined: unknown)
 * @param boundary metres to the nearest fence boundary within the search radius (undefined: none near)
 * @param stopped whether stop detection says the device stands still
 */
export function reportingInterval(speed: number | undefined, boundary: number | undefined, stopped: boolean): number {
  const v = Math.max(speed ?? 0, stopped ? 0 : WALK);
  if (boundary === undefined) return v < 0.5 ? MAX_INTERVAL : MOVING_INTERVAL;
  if (v < 0.5) return clamp(boundary / WALK / 3, MIN_INTERVAL, MAX_INTERVAL); // standing: could start walking
  // report three times on the way to the boundary at the current speed
  return clamp(boundary / v / 3, MIN_INTERVAL, MOVING_INTERVAL);
}

function clamp(value: number, min: number, max: number): number {
  return Math.round(Math.min(max, Math.max(min, value)));
}
