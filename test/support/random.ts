/** Seeded pseudo-random numbers (mulberry32) so every test run sees the same data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A latitude uniformly distributed over the sphere's area. */
export function randomLat(random: () => number): number {
  return (Math.asin(2 * random() - 1) * 180) / Math.PI;
}
