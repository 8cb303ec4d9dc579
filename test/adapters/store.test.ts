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
  readings: { id: string; tenant_id: string; label: string | null; at: number; value: number | null };
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
  {
    name: '002',
    async up(db) {
      await db.schema
        .createTable('readings')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('label', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .execute();
    },
  },
];

/** Text that quoting gets wrong: array and JSON syntax, quotes, backslashes, the word NULL, an empty string, non-ASCII. */
const AWKWARD = ['plain', '', 'NULL', 'null', '{a,b}', '"quoted"', "it's", 'back\\slash', 'comma, and ; semicolon', '[1,2]', '{"k":"v"}', 'Zoë 🚑 東京', ' padded ', 'line\nbreak', 'tab\tstop'];

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

    it('inserts many rows in one statement exactly as one by one, and rolls them back with their transaction', async (t) => {
      if (!stores) return t.skip(`${name} not reachable`);
      const rows = Array.from({ length: 600 }, (_, i) => ({
        id: `r-${String(i).padStart(4, '0')}`,
        label: i % 7 === 3 ? null : `${AWKWARD[i % AWKWARD.length]}#${i}`,
        at: 1_764_584_100_123 + i * 997,
        value: i % 5 === 0 ? null : i % 2 ? -i / 3 : i,
      }));
      // many rows at once (one parameter per column), and the same rows one statement each
      await new TenantScope(store.db, 'ten_bulk').insert('readings', rows);
      for (const row of rows) await new TenantScope(store.db, 'ten_single').insert('readings', { ...row, id: `s-${row.id}` });
      const read = (tenant: string) => new TenantScope(store.db, tenant).selectFrom('readings').select(['id', 'label', 'at', 'value']).orderBy('id').execute();
      const [bulk, single] = [await read('ten_bulk'), await read('ten_single')];
      assert.deepEqual(bulk, single.map((r) => ({ ...r, id: r.id.slice(2) })));
      assert.deepEqual(bulk.map((r) => r.label), rows.map((r) => r.label));
      assert.deepEqual(bulk.map((r) => [r.at, r.value === null ? null : Number(r.value)]), rows.map((r) => [r.at, r.value]));

      // rows that do not all have the same plain columns still go in, through Kysely's VALUES
      const mixed = rows.slice(0, 60).map((r, i) => (i === 30 ? { id: `m-${r.id}`, at: r.at } : { ...r, id: `m-${r.id}` }));
      await new TenantScope(store.db, 'ten_bulk').insert('readings', mixed);
      assert.equal((await read('ten_bulk')).filter((r) => r.id.startsWith('m-')).length, 60);

      await assert.rejects(
        store.db.transaction().execute(async (trx) => {
          const fresh = rows.map((r) => ({ ...r, id: `t-${r.id}` }));
          await new TenantScope<DB>(trx, 'ten_bulk_tx').insert('readings', fresh);
          await new TenantScope<DB>(trx, 'ten_bulk_tx').insert('readings', fresh.slice(0, 60));
        }),
      );
      assert.deepEqual(await read('ten_bulk_tx'), [], 'the duplicate keys of the second insert took the first back with them');
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
