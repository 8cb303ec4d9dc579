import { mulberry32 } from '../../src/core/random.js';

/** Seeded pseudo-random numbers (mulberry32) so every test run sees the same data. */
export const seededRandom = mulberry32;

/** A latitude uniformly distributed over the sphere's area. */
export function randomLat(random: () => number): number {
  return (Math.asin(2 * random() - 1) * 180) / Math.PI;
}
