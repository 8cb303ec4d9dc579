/** The embedded store: one SQLite file per service under the data folder, WAL mode. */
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Migration, Store, StoreFactory, SyncSql } from '../ports/store.js';
import { migrate } from './migrate.js';

export interface SqliteOptions {
  /** Folder for the database files; ':memory:' keeps everything in memory (tests of pure logic only). */
  dataDir: string;
  /** 'full' makes every commit durable against power loss (one fsync per group commit). */
  synchronous?: 'full' | 'normal';
}

export class SqliteStoreFactory implements StoreFactory {
  readonly dialect = 'sqlite' as const;
  constructor(private readonly options: SqliteOptions) {
    if (options.dataDir !== ':memory:') mkdirSync(options.dataDir, { recursive: true });
  }

  async open<DB>(service: string, migrations: Migration[]): Promise<Store<DB>> {
    const file = this.options.dataDir === ':memory:' ? ':memory:' : join(this.options.dataDir, `${service}.db`);
    const database = new Database(file);
    database.pragma('journal_mode = WAL');
    database.pragma(`synchronous = ${this.options.synchronous ?? 'full'}`);
    database.pragma('foreign_keys = ON');
    database.pragma('busy_timeout = 5000');
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database }) });
    await migrate(db, migrations);
    return {
      dialect: 'sqlite',
      db,
      sync: database as unknown as SyncSql,
      close: () => db.destroy(),
    };
  }
}
