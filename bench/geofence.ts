/**
 * Geofence benchmark: FenceIndex with 1,000, 100,000 and 1,000,000 seeded fences (half circles of
 * 50 m–2 km, half polygons of 4–31 corners, at the same density whatever the count), against a linear
 * scan over the same fences in the same run; bulk build (`load`) and one-by-one build; upsert and
 * remove times; and ingest through the real GeofenceService (in-memory SQLite, memory bus) with
 * 100,000 fences; "devices within R of P" over 100,000 last positions (the R-tree per tenant)
 * against a scan of them, and the cost of moving a device in it. Prints a table and a JSON line,
 * writes bench/results/geofence.json.
 *
 *   npx tsc -b && node --max-old-space-size=8192 dist/bench/geofence.js
 *   BENCH_GEOFENCE_MAX=100000 …   # skip the 1,000,000 case (memory or time)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FenceShape } from '../src/core/geometry.js';
import { distanceMetres } from '../src/core/geo.js';
import { FenceIndex } from '../src/services/geofence/engine.js';
import { TenantPositions, type LastPosition } from '../src/services/geofence/positions.js';
import { geofenceRig } from '../test/support/geofence-rig.js';
import { seededRandom } from '../test/support/random.js';

const here = dirname(fileURLToPath(import.meta.url));
const SEED = Number(process.env.BENCH_SEED ?? 42);
const MAX = Number(process.env.BENCH_GEOFENCE_MAX ?? 1_000_000);
/** Fences per square degree: the same density at every count, so hits per query stay alike. */
const DENSITY = 40;

interface Fence {
  id: string;
  shape: FenceShape;
}

/** `count` fences in a square area around 10°E 45°N sized for DENSITY (wrapping round the globe at 1M). */
function fences(count: number, random: () => number): { list: Fence[]; area: { west: number; south: number; size: number } } {
  const size = Math.sqrt(count / DENSITY);
  const width = Math.min(size * size / 120, 360) > 0 && size > 120 ? Math.min(size * size / 120, 360) : size;
  const height = size > 120 ? 120 : size;
  const west = size > 120 ? -180 : 10 - width / 2;
  const south = size > 120 ? -60 : 45 - height / 2;
  const list: Fence[] = [];
  for (let i = 0; i < count; i++) {
    const lon = west + random() * width;
    const lat = south + random() * height;
    if (i % 2 === 0) {
      list.push({ id: `c${i}`, shape: { kind: 'circle', center: [lon, lat], radius: 50 + random() * 1950 } });
    } else {
      const n = 4 + Math.floor(random() * 28);
      const ring: [number, number][] = [];
      const r = 0.002 + random() * 0.015;
      for (let k = 0; k < n; k++) {
        const a = ((k + random() * 0.9) / n) * 2 * Math.PI;
        const rr = r * (0.5 + random() * 0.5);
        ring.push([Math.max(-180, Math.min(180, lon + (rr * Math.cos(a)) / Math.cos((lat * Math.PI) / 180))), lat + rr * Math.sin(a)]);
      }
      ring.push(ring[0]!);
      list.push({ id: `p${i}`, shape: { kind: 'polygon', polygons: [[ring]] } });
    }
  }
  return { list, area: { west, south, size: width } };
}

function points(count: number, random: () => number, area: { west: number; south: number }, width: number, height: number): Float64Array {
  const out = new Float64Array(count * 2);
  for (let i = 0; i < count; i++) {
    out[2 * i] = area.west + random() * width;
    out[2 * i + 1] = area.south + random() * height;
  }
  return out;
}

function timeQueries(q: Float64Array, count: number, fn: (lon: number, lat: number) => string[]): { perSecond: number; usPerQuery: number; hits: number } {
  let hits = 0;
  const t = performance.now();
  for (let i = 0; i < count; i++) hits += fn(q[2 * i]!, q[2 * i + 1]!).length;
  const ms = performance.now() - t;
  return { perSecond: Math.round((count / ms) * 1000), usPerQuery: Math.round((ms * 1000 / count) * 100) / 100, hits };
}

export interface IndexResult {
  fences: number;
  bulkLoadMs: number;
  oneByOneMs: number | null;
  heapMB: number;
  indexed: { queries: number; perSecond: number; usPerQuery: number; hitsPerQuery: number };
  scan: { queries: number; perSecond: number; usPerQuery: number };
  speedup: number;
  upsertUs: number;
  removeUs: number;
}

function measureIndex(count: number): IndexResult {
  const random = seededRandom(SEED + count);
  const { list, area } = fences(count, random);
  const size = Math.sqrt(count / DENSITY);
  const width = size > 120 ? Math.min((size * size) / 120, 360) : size;
  const height = size > 120 ? 120 : size;

  let oneByOneMs: number | null = null;
  if (count <= 100_000) {
    const single = new FenceIndex();
    const t = performance.now();
    for (const f of list) single.upsert(f.id, f.shape);
    oneByOneMs = Math.round(performance.now() - t);
  }
  const index = new FenceIndex();
  const t0 = performance.now();
  index.load(list);
  const bulkLoadMs = Math.round(performance.now() - t0);
  global.gc?.();
  const heapMB = Math.round(process.memoryUsage().heapUsed / 1048576);

  const q = points(200_000, seededRandom(SEED * 7 + count), area, width, height);
  timeQueries(q, 20_000, (lon, lat) => index.containing(lon, lat)); // warm up
  const indexed = timeQueries(q, 200_000, (lon, lat) => index.containing(lon, lat));
  const scanQueries = Math.max(20, Math.min(20_000, Math.round(2e7 / count)));
  const scan = timeQueries(q, scanQueries, (lon, lat) => index.scan(lon, lat));
  // The two must agree on the queries both answered.
  for (let i = 0; i < Math.min(scanQueries, 200); i++) {
    const a = index.containing(q[2 * i]!, q[2 * i + 1]!).sort().join();
    const b = index.scan(q[2 * i]!, q[2 * i + 1]!).sort().join();
    if (a !== b) throw new Error(`index and scan disagree at query ${i}`);
  }

  // Updates: move 2,000 fences (upsert replaces), then remove and put back 2,000.
  const moves = 2000;
  const t1 = performance.now();
  for (let i = 0; i < moves; i++) {
    const f = list[Math.floor(random() * list.length)]!;
    index.upsert(f.id, f.shape);
  }
  const upsertUs = Math.round(((performance.now() - t1) * 1000) / moves * 10) / 10;
  const removed = list.slice(0, moves);
  const t2 = performance.now();
  for (const f of removed) index.remove(f.id);
  const removeUs = Math.round(((performance.now() - t2) * 1000) / moves * 10) / 10;
  return {
    fences: count,
    bulkLoadMs,
    oneByOneMs,
    heapMB,
    indexed: { queries: 200_000, perSecond: indexed.perSecond, usPerQuery: indexed.usPerQuery, hitsPerQuery: Math.round((indexed.hits / 200_000) * 1000) / 1000 },
    scan: { queries: scanQueries, perSecond: scan.perSecond, usPerQuery: scan.usPerQuery },
    speedup: Math.round(indexed.perSecond / scan.perSecond),
    upsertUs,
    removeUs,
  };
}

export interface IngestResult {
  fences: number;
  devices: number;
  positions: number;
  tenantLoadMs: number;
  positionsPerSecond: number;
  events: number;
}

/** Positions through the real GeofenceService: 1,000 devices walking among 100,000 fences. */
async function measureIngest(fenceCount: number, positionCount: number): Promise<IngestResult> {
  const rig = await geofenceRig({ dwellTickMs: 0 });
  try {
    const random = seededRandom(SEED + 99);
    const { list, area } = fences(fenceCount, random);
    const size = Math.sqrt(fenceCount / DENSITY);
    for (let i = 0; i < list.length; i += 10_000) {
      await rig.geofence.importFences(rig.ctx, {
        type: 'FeatureCollection',
        features: list.slice(i, i + 10_000).map((f, k) => ({
          type: 'Feature',
          geometry: f.shape.kind === 'circle' ? { type: 'Point', coordinates: f.shape.center } : { type: 'Polygon', coordinates: f.shape.kind === 'polygon' ? f.shape.polygons[0] : [] },
          properties: { name: `f${i + k}`, ...(f.shape.kind === 'circle' ? { radius: f.shape.radius } : {}) },
        })),
      });
    }
    await rig.bus.drain();
    const devices = 1000;
    const walkers = Array.from({ length: devices }, () => ({ lon: area.west + random() * size, lat: area.south + random() * size }));
    const t0 = Date.UTC(2024, 0, 1);
    const tl = performance.now();
    await rig.send({ deviceId: 'warm', lon: walkers[0]!.lon, lat: walkers[0]!.lat, time: t0 }); // loads the tenant: bulk index build
    const tenantLoadMs = Math.round(performance.now() - tl);
    const started = performance.now();
    for (let i = 0; i < positionCount; i++) {
      const d = i % devices;
      const w = walkers[d]!;
      w.lon += (random() - 0.5) * 0.002;
      w.lat += (random() - 0.5) * 0.002;
      await rig.bus.publish(
        { name: 'tracker.position' },
        `d${d}`,
        { tenantId: 'ten_test', deviceId: `d${d}`, time: t0 + 1000 + Math.floor(i / devices) * 1000, lon: w.lon, lat: w.lat, accuracy: 10, receivedAt: 0, late: false },
      );
    }
    await rig.bus.drain();
    const seconds = (performance.now() - started) / 1000;
    const events = (await rig.geofence.listEvents(rig.ctx, { limit: 10_000 })).length;
    return { fences: fenceCount, devices, positions: positionCount, tenantLoadMs, positionsPerSecond: Math.round(positionCount / seconds), events };
  } finally {
    await rig.close();
  }
}

export interface NearResult {
  devices: number;
  radius: number;
  indexed: { perSecond: number; usPerQuery: number; hitsPerQuery: number };
  scan: { perSecond: number; usPerQuery: number };
  speedup: number;
  moveUs: number;
}

/** Devices near P: `devices` last positions in one city-sized square degree, queries of `radius` metres. */
function measureNear(devices: number, radius: number): NearResult {
  const random = seededRandom(SEED + devices + radius);
  const area = { west: 13, south: 52 };
  const spots = points(devices, random, area, 1, 1);
  const index = new TenantPositions();
  const all: [string, LastPosition][] = [];
  for (let i = 0; i < devices; i++) {
    const p = { time: 1, lon: spots[2 * i]!, lat: spots[2 * i + 1]!, accuracy: 10 };
    index.set(`d${i}`, p);
    all.push([`d${i}`, p]);
  }
  const q = points(2000, random, area, 1, 1);
  const within = (lon: number, lat: number, candidates: Iterable<[string, LastPosition]>) => {
    const out: string[] = [];
    for (const [id, p] of candidates) if (distanceMetres(lon, lat, p.lon, p.lat) <= radius) out.push(id);
    return out;
  };
  const indexed = timeQueries(q, 2000, (lon, lat) => within(lon, lat, index.candidates(lon, lat, radius)));
  const scanCount = 200;
  // the scan is what the service did before the index: every device, a latitude band cut, then the distance
  const band = (radius / 111_000) * 1.01;
  const scan = timeQueries(q, scanCount, (lon, lat) => within(lon, lat, all.filter(([, p]) => Math.abs(p.lat - lat) <= band)));
  const moves = points(devices, random, area, 1, 1);
  const t = performance.now();
  for (let i = 0; i < devices; i++) index.set(`d${i}`, { time: 2, lon: moves[2 * i]!, lat: moves[2 * i + 1]!, accuracy: 10 });
  const moveUs = Math.round(((performance.now() - t) * 1000 / devices) * 100) / 100;
  return {
    devices,
    radius,
    indexed: { perSecond: indexed.perSecond, usPerQuery: indexed.usPerQuery, hitsPerQuery: Math.round((indexed.hits / 2000) * 10) / 10 },
    scan: { perSecond: scan.perSecond, usPerQuery: scan.usPerQuery },
    speedup: Math.round((indexed.perSecond / scan.perSecond) * 10) / 10,
    moveUs,
  };
}

export async function runGeofenceBench(): Promise<{ index: IndexResult[]; ingest: IngestResult; near: NearResult[] }> {
  const counts = [1_000, 100_000, 1_000_000].filter((c) => c <= MAX);
  const index: IndexResult[] = [];
  for (const c of counts) {
    index.push(measureIndex(c));
    global.gc?.();
  }
  const ingest = await measureIngest(100_000, Number(process.env.BENCH_GEOFENCE_POSITIONS ?? 50_000));
  const near = [500, 2000].map((radius) => measureNear(100_000, radius));
  return { index, ingest, near };
}

function table(r: { index: IndexResult[]; ingest: IngestResult; near: NearResult[] }): string {
  const pad = (v: unknown, n: number): string => String(v).padStart(n);
  const lines = [
    `geofence index: seeded fences (half circles, half polygons), ${DENSITY} per square degree, ${cpus().length} CPUs, node ${process.version}`,
    `${'fences'.padStart(9)} ${'load ms'.padStart(8)} ${'1-by-1 ms'.padStart(9)} ${'heap MB'.padStart(8)} ${'index q/s'.padStart(10)} ${'µs/q'.padStart(6)} ${'hits/q'.padStart(7)} ${'scan q/s'.padStart(9)} ${'(n)'.padStart(6)} ${'×'.padStart(7)} ${'upsert µs'.padStart(9)} ${'remove µs'.padStart(9)}`,
  ];
  for (const x of r.index) {
    lines.push(
      `${pad(x.fences, 9)} ${pad(x.bulkLoadMs, 8)} ${pad(x.oneByOneMs ?? '—', 9)} ${pad(x.heapMB, 8)} ${pad(x.indexed.perSecond, 10)} ${pad(x.indexed.usPerQuery, 6)} ${pad(x.indexed.hitsPerQuery, 7)} ${pad(x.scan.perSecond, 9)} ${pad(x.scan.queries, 6)} ${pad(x.speedup, 7)} ${pad(x.upsertUs, 9)} ${pad(x.removeUs, 9)}`,
    );
  }
  const g = r.ingest;
  lines.push(`ingest through GeofenceService (in-memory SQLite, memory bus): ${g.fences} fences, ${g.devices} devices, ${g.positions} positions: ${g.positionsPerSecond} positions/s, tenant load ${g.tenantLoadMs} ms, ${g.events} events`);
  for (const n of r.near) {
    lines.push(`devices within ${n.radius} m of P, ${n.devices} devices in one square degree: index ${n.indexed.perSecond} q/s (${n.indexed.usPerQuery} µs, ${n.indexed.hitsPerQuery} hits), scan ${n.scan.perSecond} q/s (${n.scan.usPerQuery} µs), ×${n.speedup}; moving a device ${n.moveUs} µs`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const result = await runGeofenceBench();
  const out = { benchmark: 'geofence', at: new Date().toISOString(), seed: SEED, max: MAX, machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version }, ...result, totalMs: Date.now() - started };
  console.log(table(result));
  console.log(JSON.stringify(out));
  const dir = join(resolve(here, '..', '..'), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'geofence.json'), `${JSON.stringify(out, null, 2)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
