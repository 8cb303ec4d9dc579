/**
 * The Store port: SQL through Kysely, one database per service (a SQLite file in the embedded
 * deployment, a PostgreSQL schema in a cluster), so that no service can read another's tables.
 * Tenant scoping happens in one place, `TenantScope`: a service reaches tenant-owned rows only
 * through a scope, which adds the tenant condition to every select, update and delete and sets
 * the tenant on every insert.
 */
import type { Kysely, SelectQueryBuilder, UpdateQueryBuilder, DeleteQueryBuilder, Insertable, UpdateResult, DeleteResult } from 'kysely';
import { sql } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

export interface Migration {
  name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations build schema, not typed rows
  up(db: Kysely<any>): Promise<void>;
}

export interface Store<DB> {
  readonly dialect: Dialect;
  readonly db: Kysely<DB>;
  /**
   * Synchronous prepared statements on the same database, for hot paths (SQLite only; absent on
   * PostgreSQL). A synchronous transaction runs within one tick, so it cannot interleave with
   * Kysely's statements; a service uses it only where it opens no Kysely transactions itself.
   */
  readonly sync?: SyncSql;
  close(): Promise<void>;
}

export interface SyncStatement {
  run(...params: unknown[]): { changes: number };
}

export interface SyncSql {
  prepare(source: string): SyncStatement;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
}

export interface StoreFactory {
  readonly dialect: Dialect;
  /** Opens (creating and migrating as needed) the database of one service. */
  open<DB>(service: string, migrations: Migration[]): Promise<Store<DB>>;
}

/** Tables that have a tenant_id column. */
export type TenantTable<DB> = {
  [T in keyof DB & string]: DB[T] extends { tenant_id: unknown } ? T : never;
}[keyof DB & string];

/** The only way services touch tenant-owned rows: every statement it builds is bound to one tenant. */
export class TenantScope<DB> {
  constructor(
    readonly db: Kysely<DB>,
    readonly tenantId: string,
  ) {}

  selectFrom<T extends TenantTable<DB>>(table: T): SelectQueryBuilder<DB, T, object> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely cannot type a generic table name
    return ((this.db as Kysely<any>).selectFrom(table as string) as SelectQueryBuilder<any, any, object>).where(sql.ref(`${table}.tenant_id`), '=', this.tenantId) as never;
  }

  updateTable<T extends TenantTable<DB>>(table: T): UpdateQueryBuilder<DB, T, T, UpdateResult> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    return ((this.db as Kysely<any>).updateTable(table as string) as UpdateQueryBuilder<any, any, any, never>).where(sql.ref(`${table}.tenant_id`), '=', this.tenantId) as never;
  }

  deleteFrom<T extends TenantTable<DB>>(table: T): DeleteQueryBuilder<DB, T, DeleteResult> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    return ((this.db as Kysely<any>).deleteFrom(table as string) as DeleteQueryBuilder<any, any, never>).where(sql.ref(`${table}.tenant_id`), '=', this.tenantId) as never;
  }

  async insert<T extends TenantTable<DB>>(table: T, rows: Omit<Insertable<DB[T]>, 'tenant_id'> | Omit<Insertable<DB[T]>, 'tenant_id'>[]): Promise<void> {
    const list = (Array.isArray(rows) ? rows : [rows]).map((row) => ({ ...row, tenant_id: this.tenantId }));
    if (list.length === 0) return;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
    await (this.db as Kysely<any>).insertInto(table).values(list).execute();
  }

  /** The same scope inside a transaction. */
  with(db: Kysely<DB>): TenantScope<DB> {
    return new TenantScope(db, this.tenantId);
  }
}

/** Every row of one tenant in the given tables, by table (a tenant's export). */
export async function exportTenantRows<DB>(db: Kysely<DB>, tables: readonly TenantTable<DB>[], tenantId: string): Promise<Record<string, unknown[]>> {
  const scope = new TenantScope(db, tenantId);
  const out: Record<string, unknown[]> = {};
  for (const table of tables) out[table] = await scope.selectFrom(table).selectAll().execute();
  return out;
}

/** Deletes every row of one tenant from the given tables, children first (reverse of `tables`); returns how many. Idempotent: a purge cut short can run again. */
export async function purgeTenantRows<DB>(db: Kysely<DB>, tables: readonly TenantTable<DB>[], tenantId: string): Promise<number> {
  const scope = new TenantScope(db, tenantId);
  let deleted = 0;
  for (const table of [...tables].reverse()) deleted += Number((await scope.deleteFrom(table).executeTakeFirst()).numDeletedRows);
  return deleted;
}

/** Inserts an export's rows of one tenant (parents first), forcing each row's tenant_id to the tenant. */
export async function importTenantRows<DB>(db: Kysely<DB>, tables: readonly TenantTable<DB>[], tenantId: string, rows: Record<string, unknown[]>): Promise<number> {
  let inserted = 0;
  for (const table of tables) {
    const list = rows[table] ?? [];
    if (!Array.isArray(list)) throw new TypeError(`${table}: expected an array of rows`);
    for (let i = 0; i < list.length; i += 200) {
      const chunk = list.slice(i, i + 200).map((row) => ({ ...(row as object), tenant_id: tenantId }));
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- rows come from an export of the same schema
      if (chunk.length > 0) await (db as Kysely<any>).insertInto(table).values(chunk).execute();
      inserted += chunk.length;
    }
  }
  return inserted;
}
