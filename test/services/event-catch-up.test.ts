/**
 * The notification service's start-up catch-up (src/services/notification/catch-up.ts) at the
 * store, on SQLite and on PostgreSQL when it is reachable: which events it hands to the rules after
 * a crash (unmarked ones after each partition's watermark, in order), and which marks the sweep
 * may drop. The crash itself is played end to end in test/e2e/crash-catch-up.test.ts.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { PostgresStoreFactory } from '../../src/adapters/store-postgres.js';
import type { Store } from '../../src/ports/store.js';
import { partitionOf } from '../../src/ports/bus.js';
import type { FenceEvent } from '../../src/services/geofence/index.js';
import { catchUpEvents, LANES, markHandled, pruneMarks, SLACK_MS, type EventSource } from '../../src/services/notification/catch-up.js';
import { notificationMigrations, type NotificationDB } from '../../src/services/notification/schema.js';
import { serviceReachable } from '../helpers.js';

const T = 'ten_catch';

function event(id: string, deviceId: string, time: number): FenceEvent {
  return { id, tenantId: T, deviceId, fenceId: 'fen_1', fenceName: 'Yard', type: 'enter', time, lon: 13.4, lat: 52.52, distance: -10, reason: { distance: -10, accuracy: 5, previous: 'outside' } };
}

/** The geofence service's eventsAfter over a list, as it pages. */
function source(events: FenceEvent[]): EventSource {
  const sorted = [...events].sort((a, b) => a.time - b.time || a.id.localeCompare(b.id));
  return {
    eventsAfter: async (_tenant, from, cursor, limit) =>
      sorted.filter((e) => e.time >= from && (!cursor || e.time > cursor.time || (e.time === cursor.time && e.id > cursor.id))).slice(0, limit),
  };
}

/** Two devices in different partitions. */
function twoDevices(): [string, string] {
  const a = 'dev_a';
  for (let i = 0; ; i++) if (partitionOf(`dev_b${i}`, LANES) !== partitionOf(a, LANES)) return [a, `dev_b${i}`];
}

async function scenario(store: Store<NotificationDB>): Promise<void> {
  const db = store.db;
  const now = Date.now();
  const [a, b] = twoDevices();
  await db.insertInto('rules').values({ id: 'rul_1', tenant_id: T, name: 'r', on_event: 'enter', fence_id: 'fen_1', target: '{}', title: 'x', body: '', priority: 'high', enabled: 1, created_at: now - 3600_000, battery_below: null, schedule: null, template_id: null, cooldown_seconds: 0, max_per_hour: null, channels: '["app"]' }).execute();
  const base = now - 600_000;
  const old = event('fev_old', a, base - 10 * SLACK_MS); // long before the watermark: never replayed
  const handledA = event('fev_a1', a, base);
  const handledB = event('fev_b1', b, base + 5 * SLACK_MS); // partition b ran ahead
  const lostA = event('fev_a2', a, base + SLACK_MS / 2); // within a's slack, committed after b's
  const lostB = event('fev_b2', b, base + 6 * SLACK_MS);
  const behindB = event('fev_b0', b, base + 3 * SLACK_MS); // before b's watermark less its slack: handled then, not marked (older than marks are kept)
  const store1 = [old, event('fev_a0', a, base - 5 * SLACK_MS), handledA, handledB, lostA, lostB, behindB];

  // nothing marked yet: nothing to catch up with (a store that never handled an event, or just upgraded)
  assert.deepEqual(await catchUpEvents(db, source(store1), async () => assert.fail('replayed without marks')), { tenants: 0, events: 0 });

  const earlierA = event('fev_a0', a, base - 5 * SLACK_MS);
  await markHandled(db, earlierA);
  await markHandled(db, handledA);
  await markHandled(db, handledB);
  await markHandled(db, handledB); // a redelivery marks once
  const seen: string[] = [];
  const result = await catchUpEvents(db, source(store1), async (e) => {
    seen.push(e.id);
    await markHandled(db, e);
  });
  assert.deepEqual(seen, ['fev_a2', 'fev_b2'], 'the unmarked events after each watermark, oldest first');
  assert.deepEqual(result, { tenants: 1, events: 2 });
  assert.deepEqual(await catchUpEvents(db, source(store1), async () => assert.fail('replayed twice')), { tenants: 0, events: 0 });

  // the sweep drops marks a day old that lie well below their partition's newest, and keeps the rest
  await db.updateTable('event_marks').set({ handled_at: now - 2 * 86_400_000 }).execute();
  await pruneMarks(db, now);
  const kept = (await db.selectFrom('event_marks').select('event_id').orderBy('event_id').execute()).map((r) => r.event_id);
  assert.deepEqual(kept, ['fev_a1', 'fev_a2', 'fev_b1', 'fev_b2'], 'the newest mark of each partition stays, and what lies within twice its slack');
}

describe('catching up on fence events after a crash, at the store', () => {
  const prefix = `tcatch${process.pid}_`;
  const url = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  let usedPostgres = false;
  after(async () => {
    if (!usedPostgres) return;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${prefix}notification" CASCADE`);
    await client.end();
  });

  it('replays the unmarked events after each partition watermark, once, on SQLite', async () => {
    const store = await new SqliteStoreFactory({ dataDir: ':memory:' }).open<NotificationDB>('notification', notificationMigrations);
    try {
      await scenario(store);
    } finally {
      await store.close();
    }
  });

  it('replays the unmarked events after each partition watermark, once, on PostgreSQL', async (t) => {
    if (!(await serviceReachable('PostgreSQL', 5432))) return t.skip('PostgreSQL is not reachable on 127.0.0.1:5432');
    usedPostgres = true;
    const store = await new PostgresStoreFactory({ connectionString: url, schemaPrefix: prefix, poolSize: 2 }).open<NotificationDB>('notification', notificationMigrations);
    try {
      await scenario(store);
    } finally {
      await store.close();
    }
  });
});
