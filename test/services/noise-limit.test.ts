/**
 * A rule's hourly limit holds when its alerts are stored at the same moment: the count is taken
 * again inside each alert's transaction (SQLite: one connection, one transaction at a time;
 * PostgreSQL: the rule's row locked), so six alerts racing for a limit of two store two. Run on
 * SQLite always, on PostgreSQL when it is reachable (through several pooled connections, as
 * several processes would).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { PostgresStoreFactory } from '../../src/adapters/store-postgres.js';
import type { Store } from '../../src/ports/store.js';
import { NoiseControl, RuleLimitReached } from '../../src/services/notification/noise.js';
import { notificationMigrations, type NotificationDB } from '../../src/services/notification/schema.js';
import { serviceReachable } from '../helpers.js';

async function race(store: Store<NotificationDB>): Promise<{ stored: number; held: number }> {
  const noise = new NoiseControl(store.db, store.dialect);
  const rule = { id: 'rul_race', maxPerHour: 2 };
  const now = Date.now();
  // the rule exists, as it does when it fires: its row is what PostgreSQL locks
  await store.db.insertInto('rules').values({ id: rule.id, tenant_id: 'ten_race', name: 'race', on_event: 'enter', fence_id: 'fen_race', target: '{}', title: 'x', body: '', priority: 'high', enabled: 1, created_at: now, battery_below: null, schedule: null, template_id: null, cooldown_seconds: 0, max_per_hour: rule.maxPerHour, channels: '["app"]' }).execute();
  let stored = 0;
  let held = 0;
  await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      store.db
        .transaction()
        .execute(async (trx) => {
          await noise.holdRuleLimit(trx, rule, now);
          await new Promise((resolve) => setTimeout(resolve, 20)); // the rest of the alert's writes
          await trx.insertInto('messages').values({ id: `msg_race_${i}`, tenant_id: 'ten_race', title: 'x', body: '', priority: 'high', ack_required: 0, options: null, target: '{}', sender: '{}', rule_id: rule.id, created_at: now, expires_at: null, channels: '[]', escalation: null, escalation_due_at: null, escalated_at: null, live_until: null, live_fence_id: null, temp_fence: 0, parent_id: null, subject: `dev_${i}`, source: null }).execute();
        })
        .then(
          () => stored++,
          (err: unknown) => {
            if (!(err instanceof RuleLimitReached)) throw err;
            assert.equal(err.blocked.reason, 'rule_rate_limit');
            held++;
          },
        ),
    ),
  );
  return { stored, held };
}

describe("a rule's hourly limit under concurrent alerts", () => {
  const prefix = `tnoise${process.pid}_`;
  const url = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  let usedPostgres = false;
  after(async () => {
    if (!usedPostgres) return;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${prefix}notification" CASCADE`);
    await client.end();
  });

  it('stores exactly the limit on SQLite', async () => {
    const store = await new SqliteStoreFactory({ dataDir: ':memory:' }).open<NotificationDB>('notification', notificationMigrations);
    try {
      assert.deepEqual(await race(store), { stored: 2, held: 4 });
    } finally {
      await store.close();
    }
  });

  it('stores exactly the limit on PostgreSQL, across pooled connections', async (t) => {
    if (!(await serviceReachable('PostgreSQL', 5432))) return t.skip('PostgreSQL is not reachable on 127.0.0.1:5432');
    usedPostgres = true;
    const store = await new PostgresStoreFactory({ connectionString: url, schemaPrefix: prefix, poolSize: 6 }).open<NotificationDB>('notification', notificationMigrations);
    try {
      assert.deepEqual(await race(store), { stored: 2, held: 4 });
    } finally {
      await store.close();
    }
  });
});
