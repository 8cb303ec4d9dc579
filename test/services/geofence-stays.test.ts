/**
 * "Who was inside F between t1 and t2" (staysBetween) against a plain scan of the fence's whole
 * history, on seeded random histories and windows, on SQLite and (when reachable) PostgreSQL.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { PostgresStoreFactory } from '../../src/adapters/store-postgres.js';
import type { Store } from '../../src/ports/store.js';
import { geofenceMigrations, type GeofenceDB } from '../../src/services/geofence/index.js';
import { staysBetween, type Stay } from '../../src/services/geofence/queries.js';
import { serviceReachable } from '../helpers.js';
import { seedFenceHistory } from '../support/fence-history.js';
import { seededRandom } from '../support/random.js';

const TENANT = 'ten_stays';
const FENCE = 'fen_stays';
const PG_URL = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The answer by definition: every enter/exit of the fence in time order, stays cut out of them, those overlapping [from, to] kept. */
async function reference(db: Kysely<GeofenceDB>, from: number, to: number): Promise<Stay[]> {
  const rows = await db.selectFrom('fence_events').select(['device_id', 'type', 'time']).where('tenant_id', '=', TENANT).where('fence_id', '=', FENCE).where('type', 'in', ['enter', 'exit']).orderBy('device_id').orderBy('time').execute();
  const stays: Stay[] = [];
  let open: Stay | undefined;
  for (const r of rows) {
    if (open && (open.deviceId !== r.device_id || r.type === 'enter')) {
      stays.push(open);
      open = undefined;
    }
    if (r.type === 'enter') open = { deviceId: r.device_id, enteredAt: Number(r.time), exitedAt: null };
    else if (open) {
      open.exitedAt = Number(r.time);
      stays.push(open);
      open = undefined;
    }
  }
  if (open) stays.push(open);
  return stays
    .filter((s) => s.enteredAt <= to && (s.exitedAt === null || s.exitedAt > from))
    .sort((a, b) => a.enteredAt - b.enteredAt || (a.deviceId < b.deviceId ? -1 : 1));
}

const stores: [string, () => Promise<Store<GeofenceDB> | undefined>][] = [
  ['SQLite', () => new SqliteStoreFactory({ dataDir: ':memory:', synchronous: 'normal' }).open<GeofenceDB>('geofence', geofenceMigrations)],
  ['PostgreSQL', async () => ((await serviceReachable('PostgreSQL', 5432)) ? new PostgresStoreFactory({ connectionString: PG_URL, schemaPrefix: `stays${process.pid}_`, poolSize: 2 }).open<GeofenceDB>('geofence', geofenceMigrations) : undefined)],
];

for (const [name, open] of stores) {
  describe(`who was inside a fence between two times, on ${name}`, () => {
    let store: Store<GeofenceDB> | undefined;
    after(async () => {
      await store?.close();
      if (name !== 'PostgreSQL' || !store) return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "stays${process.pid}_geofence" CASCADE`);
      await client.end();
    });

    it('answers what a scan of the whole history answers, for random windows', async (t) => {
      store = await open();
      if (!store) return t.skip('PostgreSQL not reachable');
      const start = Date.UTC(2026, 0, 1);
      const end = await seedFenceHistory(store.db, TENANT, FENCE, { devices: 40, stays: 30, start, seed: 7 });
      const random = seededRandom(11);
      const windows: [number, number][] = [[start - 86_400_000, start - 1], [start, end], [end + 1, end + 86_400_000]];
      for (let i = 0; i < 60; i++) {
        const a = start - 3600_000 + Math.floor(random() * (end - start + 7200_000));
        windows.push([a, a + Math.floor(random() * (i % 3 === 0 ? 60_000 : 3 * 86_400_000))]);
      }
      let nonEmpty = 0;
      for (const [from, to] of windows) {
        const expected = await reference(store.db, from, to);
        if (expected.length > 0) nonEmpty++;
        assert.deepEqual(await staysBetween(store.db, TENANT, FENCE, from, to), expected, `window [${from}, ${to}]`);
      }
      assert.ok(nonEmpty > 40, 'most windows hold stays');
      // a boundary exactly on an exit and an enter
      const [edge] = await store.db.selectFrom('fence_events').select(['time', 'type']).where('fence_id', '=', FENCE).where('tenant_id', '=', TENANT).where('type', '=', 'exit').orderBy('time').limit(1).execute();
      for (const w of [[Number(edge!.time), Number(edge!.time) + 10], [Number(edge!.time) - 10, Number(edge!.time)]] as [number, number][]) {
        assert.deepEqual(await staysBetween(store.db, TENANT, FENCE, w[0], w[1]), await reference(store.db, w[0], w[1]));
      }
    });
  });
}
