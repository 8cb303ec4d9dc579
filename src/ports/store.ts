/**
 * The Store port: SQL through Kysely, one database per service (a SQLite file in the embedded
 * deployment, a PostgreSQL schema in a cluster), so that no service can read another's tables.
 * Tenant scoping happens in one place, `TenantScope`: a service reaches tenant-owned rows only
 * through a scope, which adds the tenant condition to every select, update and delete and sets
 * the tenant on every insert.
 */
import type { Kysely, SelectQueryBuilder, UpdateQueryBuilder, DeleteQueryBuilder, Insertable, UpdateResult, DeleteResult } from 'kysely';
import { PostgresAdapter, SqliteAdapter, sql } from 'kysely';

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

  /** Inserts rows of the tenant, in one statement (insertRows). */
  async insert<T extends TenantTable<DB>>(table: T, rows: Omit<Insertable<DB[T]>, 'tenant_id'> | Omit<Insertable<DB[T]>, 'tenant_id'>[]): Promise<void> {
    const list = (Array.isArray(rows) ? rows : [rows]).map((row) => ({ ...row, tenant_id: this.tenantId }));
    await insertRows(this.db, table, list);
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

/** From how many rows an insert goes through one array (PostgreSQL) or JSON (SQLite) parameter per statement. */
const BULK_FROM = 50;
/** Column types of PostgreSQL tables, as the unnest casts need them, by database (its adapter, shared by its transactions) and table. */
const pgColumnTypes = new WeakMap<object, Map<string, Promise<Map<string, string>>>>();

/**
 * Inserts rows into one table in one statement. Many rows with the same columns and plain values
 * (text, numbers, null) go in as one parameter per column (PostgreSQL: `INSERT … SELECT FROM
 * unnest($1::text[], …)`) or one JSON parameter (SQLite: `… FROM json_each(?)`), so a statement of
 * 5,000 deliveries is neither 70,000 bound parameters nor a query Kysely compiles value by value:
 * a 100,000-recipient send's transaction on PostgreSQL went from 5.4 s to 2.6–3.0 s
 * (docs/benchmarks.md, "A large send"). Anything else is Kysely's multi-row VALUES.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any table of any service's schema
export async function insertRows(db: Kysely<any>, table: string, rows: Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = rows.length >= BULK_FROM ? uniformColumns(rows) : undefined;
  const adapter = db.getExecutor().adapter;
  if (columns && adapter instanceof PostgresAdapter) {
    const types = await columnTypesOf(db, table);
    const arrays = columns.map((c) => {
      const type = types.get(c);
      if (!type) throw new Error(`${table} has no column ${c}`);
      return sql`${rows.map((r) => r[c] ?? null)}::${sql.raw(type)}[]`;
    });
    await sql`insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))}) select * from unnest(${sql.join(arrays)})`.execute(db);
  } else if (columns && adapter instanceof SqliteAdapter) {
    const json = JSON.stringify(rows.map((r) => columns.map((c) => r[c] ?? null)));
    await sql`insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))}) select ${sql.join(columns.map((_, k) => sql`value ->> ${sql.lit(k)}`))} from json_each(${json})`.execute(db);
  } else {
    await db.insertInto(table).values(rows).execute();
  }
}

/** The columns every row has, when each row has the same ones and only text, finite numbers or null in them; else undefined. */
function uniformColumns(rows: Record<string, unknown>[]): string[] | undefined {
  const columns = Object.keys(rows[0]!);
  for (const row of rows) {
    let n = 0;
    for (const key in row) {
      n++;
      const v = row[key];
      // undefined means the column's default to Kysely, which one parameter per column cannot say
      if (v !== null && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) return undefined;
    }
    if (n !== columns.length || columns.some((c) => !(c in row))) return undefined;
  }
  return columns;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
function columnTypesOf(db: Kysely<any>, table: string): Promise<Map<string, string>> {
  const adapter = db.getExecutor().adapter;
  let byTable = pgColumnTypes.get(adapter);
  if (!byTable) pgColumnTypes.set(adapter, (byTable = new Map()));
  let types = byTable.get(table);
  if (!types) {
    // the table as the connection's search_path finds it: the service's own schema
    types = sql<{ name: string; type: string }>`select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = to_regclass(${table}) and attnum > 0 and not attisdropped`
      .execute(db)
      .then(({ rows }) => new Map(rows.map((r) => [r.name, r.type])));
    types.catch(() => byTable.delete(table));
    byTable.set(table, types);
  }
  return types;
}
