/** The Store contract, run on SQLite always and on PostgreSQL when it is reachable. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { PostgresStoreFactory } from '../../src/adapters/store-postgres.js';
import { TenantScope, type Migration, type Store, type StoreFactory } from '../../src/ports/store.js';
import { serviceReachable } from '../helpers.js';

interface DB {
  notes: { id: string; tenant_id: string; text: string; at: number };
}

const migrations: Migration[] = [
  {
    name: '001',
    async up(db) {
      await db.schema
        .createTable('notes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
];

function storeContract(name: string, factory: () => Promise<StoreFactory | undefined>, cleanup: () => Promise<void>): void {
  describe(`Store contract: ${name}`, () => {
    let stores: StoreFactory | undefined;
    let store: Store<DB>;
    before(async () => {
      stores = await factory();
      if (stores) store = await stores.open<DB>('contract', migrations);
    });
    after(async () => {
      if (stores) await store.close();
      await cleanup();
    });

    it('keeps epoch milliseconds exact and returns them as numbers', async (t) => {
      if (!stores) return t.skip(`${name} not reachable`);
      const at = 1_764_584_100_123;
      await new TenantScope(store.db, 'ten_a').insert('notes', { id: 'n-ms', text: 'ms', at });
      const row = await new TenantScope(store.db, 'ten_a').selectFrom('notes').selectAll().where('id', '=', 'n-ms').executeTakeFirstOrThrow();
      assert.equal(row.at, at);
      assert.equal(typeof row.at, 'number');
    });

    it('binds every statement of a tenant scope to that tenant', async (t) => {
      if (!stores) return t.skip(`${name} not reachable`);
      const a = new TenantScope(store.db, 'ten_iso_a');
      const b = new TenantScope(store.db, 'ten_iso_b');
      await a.insert('notes', [{ id: 'iso-a1', text: 'a', at: 1 }]);
      await b.insert('notes', [{ id: 'iso-b1', text: 'b', at: 1 }]);
      assert.deepEqual((await a.selectFrom('notes').select('id').where('id', 'like', 'iso-%').execute()).map((r) => r.id), ['iso-a1']);
      // b cannot see, change or delete a's row even by naming its id
      assert.equal(await b.selectFrom('notes').select('id').where('id', '=', 'iso-a1').executeTakeFirst(), undefined);
      await b.updateTable('notes').set({ text: 'hacked' }).where('id', '=', 'iso-a1').execute();
      await b.deleteFrom('notes').where('id', '=', 'iso-a1').execute();
      const row = await a.selectFrom('notes').selectAll().where('id', '=', 'iso-a1').executeTakeFirstOrThrow();
      assert.equal(row.text, 'a');
      assert.equal(row.tenant_id, 'ten_iso_a');
    });

    it('rolls a failed transaction back whole', async (t) => {
      if (!stores) return t.skip(`${name} not reachable`);
      await assert.rejects(
        store.db.transaction().execute(async (trx) => {
          const scope = new TenantScope<DB>(trx, 'ten_tx');
          await scope.insert('notes', { id: 'tx-1', text: 'one', at: 1 });
          await scope.insert('notes', { id: 'tx-1', text: 'duplicate key', at: 2 });
        }),
      );
      assert.equal(await new TenantScope(store.db, 'ten_tx').selectFrom('notes').select('id').where('id', '=', 'tx-1').executeTakeFirst(), undefined);
    });

    it('applies each migration once, so reopening a store changes nothing', async (t) => {
      if (!stores) return t.skip(`${name} not reachable`);
      const again = await stores.open<DB>('contract', migrations);
      const count = await again.db.selectFrom('notes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      assert.ok(Number(count.n) >= 1);
      await again.close();
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'followme-store-'));
storeContract('sqlite', async () => new SqliteStoreFactory({ dataDir: dir }), async () => rmSync(dir, { recursive: true, force: true }));

const prefix = `t${process.pid}_`;
const url = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
storeContract(
  'postgres',
  async () => ((await serviceReachable('PostgreSQL', 5432)) ? new PostgresStoreFactory({ connectionString: url, schemaPrefix: prefix }) : undefined),
  async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${prefix}contract" CASCADE`);
    } catch {
      // not reachable: nothing to clean
    } finally {
      await client.end().catch(() => undefined);
    }
  },
);

describe('PostgreSQL store', () => {
  it('names its connections after the service and process, for pg_stat_activity', async (t) => {
    if (!(await serviceReachable('PostgreSQL', 5432))) return t.skip('PostgreSQL not reachable');
    const store = await new PostgresStoreFactory({ connectionString: url, schemaPrefix: prefix, poolSize: 1 }).open<DB>('named', migrations);
    try {
      const { rows } = await sql<{ name: string }>`select application_name as name from pg_stat_activity where pid = pg_backend_pid()`.execute(store.db);
      assert.equal(rows[0]?.name, `followme named ${process.pid}`);
    } finally {
      await sql.raw(`DROP SCHEMA IF EXISTS "${prefix}named" CASCADE`).execute(store.db);
      await store.close();
    }
  });
});
