// Micro-measurement of FenceIndex.containing: 100,000 seeded random fences (half circles, half
// polygons) over Europe, then the same 200,000 seeded query points every run. Baseline: an empty loop
// over the same points in the same run. Run: npx tsc -b && node dist/bench/geofence-containing.js
import { parseFenceShape } from '../src/core/geometry.js';
import { FenceIndex } from '../src/services/geofence/engine.js';
import { seededRandom } from '../test/support/random.js';

const FENCES = 100_000;
const QUERIES = 200_000;
const random = seededRandom(2024);
const index = new FenceIndex();
const built = performance.now();
for (let i = 0; i < FENCES; i++) {
  const lon = -10 + random() * 40;
  const lat = 36 + random() * 24;
  if (i % 2 === 0) {
    index.upsert(`c${i}`, { kind: 'circle', center: [lon, lat], radius: 50 + random() * 2_000 });
  } else {
    const n = 4 + Math.floor(random() * 28);
    const ring: [number, number][] = [];
    for (let k = 0; k < n; k++) {
      const a = ((k + random() * 0.9) / n) * 2 * Math.PI;
      const r = 0.002 + random() * 0.02;
      ring.push([lon + r * Math.cos(a), lat + r * Math.sin(a)]);
    }
    ring.push(ring[0]!);
    index.upsert(`p${i}`, parseFenceShape({ type: 'Polygon', coordinates: [ring] }, undefined));
  }
}
const buildMs = performance.now() - built;
const points = new Float64Array(QUERIES * 2);
for (let i = 0; i < QUERIES; i++) {
  points[2 * i] = -10 + random() * 40;
  points[2 * i + 1] = 36 + random() * 24;
}

function run(): { us: number; hits: number } {
  let hits = 0;
  const t = performance.now();
  for (let i = 0; i < QUERIES; i++) hits += index.containing(points[2 * i]!, points[2 * i + 1]!).length;
  return { us: ((performance.now() - t) * 1000) / QUERIES, hits };
}
function baseline(): number {
  let sum = 0;
  const t = performance.now();
  for (let i = 0; i < QUERIES; i++) sum += points[2 * i]! + points[2 * i + 1]!;
  if (Number.isNaN(sum)) console.log(sum);
  return ((performance.now() - t) * 1000) / QUERIES;
}

run(); // warm up
const results = [run(), run(), run()];
const base = baseline();
const best = Math.min(...results.map((r) => r.us));
console.log(`indexed ${FENCES} fences in ${buildMs.toFixed(0)} ms`);
console.log(`containing: ${best.toFixed(2)} µs/query (best of 3 × ${QUERIES}), ${(results[0]!.hits / QUERIES).toFixed(3)} hits/query, baseline loop ${base.toFixed(3)} µs`);
