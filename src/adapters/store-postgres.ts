/** The cluster store: one PostgreSQL schema per service, reached through a pool whose search_path is that schema. */
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Migration, Store, StoreFactory } from '../ports/store.js';
import { migrate } from './migrate.js';

// Epoch milliseconds live in BIGINT columns; they fit a JS number exactly.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface PostgresOptions {
  connectionString: string;
  /** Prefix for schema names, so that several deployments (or test runs) can share one database. */
  schemaPrefix?: string;
  poolSize?: number;
}

export class PostgresStoreFactory implements StoreFactory {
  readonly dialect = 'postgres' as const;
  constructor(private readonly options: PostgresOptions) {}

  async open<DB>(service: string, migrations: Migration[]): Promise<Store<DB>> {
    const schema = `${this.options.schemaPrefix ?? 'followme_'}${service}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    const admin = new pg.Client({ connectionString: this.options.connectionString });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } finally {
      await admin.end();
    }
    const pool = new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.poolSize ?? 10,
      options: `-c search_path="${schema}"`,
      // pg_stat_activity says which service (and process) holds a connection and runs what
      application_name: `followme ${service} ${process.pid}`,
    });
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    await sql`select 1`.execute(db);
    await migrate(db, migrations, schema);
    return { dialect: 'postgres', db, close: () => db.destroy() };
  }
}
