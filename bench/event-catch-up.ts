/**
 * What the notification service's crash catch-up costs (src/services/notification/catch-up.ts), on
 * the embedded store (SQLite file, WAL, FOLLOWME_SQLITE_SYNC as configured, default full): marking
 * each handled fence event (one insert per event, as the rules do, one at a time), and a start-up
 * catch-up over N events of which none, or all, were marked. Baseline in the same run: the same
 * number of single-row inserts into a table without the index, so the ratio shows the index's share.
 * Seeded: the same events every run.
 *
 *   npx tsc -b && node dist/bench/event-catch-up.js            # 10,000 events over 200 devices
 *   node dist/bench/event-catch-up.js --events=50000 --devices=1000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { SqliteStoreFactory } from '../src/adapters/store-sqlite.js';
import type { FenceEvent } from '../src/services/geofence/index.js';
import { catchUpEvents, markHandled, type EventSource } from '../src/services/notification/catch-up.js';
import { notificationMigrations, type NotificationDB } from '../src/services/notification/schema.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const count = Number(args.get('events') ?? 10_000);
const deviceCount = Number(args.get('devices') ?? 200);
const sync = (process.env.FOLLOWME_SQLITE_SYNC ?? 'full') as 'full' | 'normal';
const T = 'ten_bench';

const base = Date.UTC(2026, 11, 1);
const events: FenceEvent[] = Array.from({ length: count }, (_, i) => ({
  id: `fev_${String(i).padStart(8, '0')}`,
  tenantId: T,
  deviceId: `dev_${i % deviceCount}`,
  fenceId: 'fen_1',
  fenceName: 'Yard',
  type: i % 2 === 0 ? 'enter' : 'exit',
  time: base + i * 100,
  lon: 13.4,
  lat: 52.52,
  distance: -10,
  reason: { distance: -10, accuracy: 5, previous: 'outside' },
}));
const source: EventSource = {
  eventsAfter: async (_t, from, cursor, limit) => {
    let i = events.findIndex((e) => e.time >= from && (!cursor || e.time > cursor.time || (e.time === cursor.time && e.id > cursor.id)));
    if (i < 0) i = events.length;
    return events.slice(i, i + limit);
  },
};

const dir = mkdtempSync(join(tmpdir(), 'followme-bench-catch-up-'));
try {
  const store = await new SqliteStoreFactory({ dataDir: dir, synchronous: sync }).open<NotificationDB>('notification', notificationMigrations);
  const db = store.db;
  await db.insertInto('rules').values({ id: 'rul_1', tenant_id: T, name: 'r', on_event: 'enter', fence_id: 'fen_1', target: '{}', title: 'x', body: '', priority: 'high', enabled: 1, created_at: base, battery_below: null, schedule: null, template_id: null, cooldown_seconds: 0, max_per_hour: null, channels: '["app"]' }).execute();
  await sql`create table plain_rows (id text primary key, tenant_id text not null, lane integer not null, time bigint not null, handled_at bigint not null)`.execute(db);

  let t = performance.now();
  for (const e of events) await db.insertInto('plain_rows' as never).values({ id: e.id, tenant_id: T, lane: 0, time: e.time, handled_at: 0 } as never).execute();
  const plainMs = performance.now() - t;

  // one event marked long ago sets the watermark at the start: every later one is unmarked
  await markHandled(db, events[0]!);
  t = performance.now();
  let handled = 0;
  await catchUpEvents(db, source, async () => void handled++, base);
  const replayMs = performance.now() - t;

  t = performance.now();
  for (const e of events.slice(1)) await markHandled(db, e);
  const markMs = performance.now() - t;

  t = performance.now();
  const again = await catchUpEvents(db, source, async () => assert(false), base);
  const skipMs = performance.now() - t;
  await store.close();

  const us = (ms: number, n: number) => ((ms * 1000) / n).toFixed(0);
  console.log(`events ${count} over ${deviceCount} devices, SQLite synchronous=${sync}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`baseline: single-row insert without the watermark index  ${plainMs.toFixed(0)} ms  (${us(plainMs, count)} µs/event)`);
  console.log(`mark each handled event (insert, on conflict nothing)     ${markMs.toFixed(0)} ms  (${us(markMs, count - 1)} µs/event, ${(markMs / (count - 1) / (plainMs / count)).toFixed(2)}× baseline)`);
  console.log(`catch-up at start, ${handled} unmarked events replayed      ${replayMs.toFixed(0)} ms  (${us(replayMs, handled)} µs/event, handler excluded)`);
  console.log(`catch-up at start, all ${count} marked (${again.events} replayed) ${skipMs.toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function assert(ok: boolean): void {
  if (!ok) throw new Error('a marked event was replayed');
}
