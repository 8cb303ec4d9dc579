// "Who was inside F between t1 and t2": the stays query (staysBetween, index seeks per device plus the
// window's events) against the scan it replaced (every enter and exit of the fence up to t2, and every
// exit after it), on the same seeded history in the same run: one fence, 1,000 devices with 200 stays
// each (about 460,000 events), in a SQLite file. Run: npx tsc -b && node dist/bench/geofence-stays.js
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { SqliteStoreFactory } from '../src/adapters/store-sqlite.js';
import { TenantScope } from '../src/ports/store.js';
import { geofenceMigrations, type GeofenceDB } from '../src/services/geofence/index.js';
import { staysBetween, type Stay } from '../src/services/geofence/queries.js';
import { seedFenceHistory } from '../test/support/fence-history.js';

const TENANT = 'ten_bench';
const FENCE = 'fen_bench';
const DEVICES = Number(process.env.BENCH_STAYS_DEVICES ?? 1000);
const STAYS = Number(process.env.BENCH_STAYS_PER_DEVICE ?? 200);

/** The query as it was: the fence's whole history up to `to`, stays cut out in memory. */
async function scanStays(db: Kysely<GeofenceDB>, from: number, to: number): Promise<Stay[]> {
  const rows = await new TenantScope(db, TENANT).selectFrom('fence_events').select(['device_id', 'type', 'time']).where('fence_id', '=', FENCE).where('type', 'in', ['enter', 'exit']).where('time', '<=', to).orderBy('device_id').orderBy('time').execute();
  const out: Stay[] = [];
  let open: Stay | undefined;
  const close = (s: Stay | undefined): void => {
    if (s && (s.exitedAt === null || s.exitedAt > from)) out.push(s);
  };
  for (const r of rows) {
    if (open && open.deviceId !== r.device_id) {
      close(open);
      open = undefined;
    }
    if (r.type === 'enter') {
      close(open);
      open = { deviceId: r.device_id, enteredAt: r.time, exitedAt: null };
    } else if (open) {
      open.exitedAt = r.time;
      close(open);
      open = undefined;
    }
  }
  close(open);
  const ends = new Map<string, number>();
  const later = await new TenantScope(db, TENANT).selectFrom('fence_events').select(['device_id', 'time']).where('fence_id', '=', FENCE).where('type', '=', 'exit').where('time', '>', to).orderBy('time').execute();
  for (const r of later) if (!ends.has(r.device_id)) ends.set(r.device_id, r.time);
  for (const s of out) if (s.exitedAt === null && ends.has(s.deviceId)) s.exitedAt = ends.get(s.deviceId)!;
  return out.sort((a, b) => a.enteredAt - b.enteredAt || (a.deviceId < b.deviceId ? -1 : 1));
}

async function median(run: () => Promise<unknown>, times = 5): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b)[Math.floor(times / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), 'followme-bench-stays-'));
try {
  const store = await new SqliteStoreFactory({ dataDir: dir, synchronous: 'normal' }).open<GeofenceDB>('geofence', geofenceMigrations);
  const start = Date.UTC(2026, 0, 1);
  const seeded = performance.now();
  const end = await seedFenceHistory(store.db, TENANT, FENCE, { devices: DEVICES, stays: STAYS, start, seed: 2026 });
  const events = Number((await store.db.selectFrom('fence_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  console.log(`seeded ${events} events (${DEVICES} devices × ${STAYS} stays, with other fences and another tenant) in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);
  const windows: [string, number, number][] = [
    ['the last hour', end - 3600_000, end],
    ['one day in the middle', start + (end - start) / 2, start + (end - start) / 2 + 86_400_000],
    ['one hour near the start', start + 86_400_000, start + 86_400_000 + 3600_000],
  ];
  console.log('window                    stays   scan (before)   seeks (now)   ratio');
  for (const [name, from, to] of windows) {
    const now = await staysBetween(store.db, TENANT, FENCE, from, to);
    const before = await scanStays(store.db, from, to);
    if (JSON.stringify(now) !== JSON.stringify(before)) throw new Error(`the answers differ for ${name}`);
    const scanMs = await median(() => scanStays(store.db, from, to));
    const seekMs = await median(() => staysBetween(store.db, TENANT, FENCE, from, to));
    console.log(`${name.padEnd(24)} ${String(now.length).padStart(6)} ${scanMs.toFixed(1).padStart(12)} ms ${seekMs.toFixed(1).padStart(10)} ms ${(scanMs / seekMs).toFixed(1).padStart(6)}×`);
  }
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
