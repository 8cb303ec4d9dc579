/**
 * The tracker's writes on the hot path. `append`: one transaction per group commit that inserts
 * the positions (skipping duplicates by device and time) and moves each device's last known
 * position forward. `saveStatuses`: device statuses, flushed in batches. On SQLite both run on
 * cached prepared statements, synchronously (microseconds a row), so they never interleave with
 * another transaction on the connection; elsewhere through Kysely.
 */
import type { Kysely, QueryCreator } from 'kysely';
import type { Store } from '../../ports/store.js';
import type { PositionRow, StatusRow, TrackerDB } from './schema.js';

export type AppendStatus = 'accepted' | 'duplicate';

export interface PositionLog {
  /** Appends in one transaction; one status per row, in order. */
  append(rows: PositionRow[]): Promise<AppendStatus[]>;
  /** Upserts device statuses in one transaction. */
  saveStatuses(rows: StatusRow[]): Promise<void>;
}

const STATUS_COLUMNS = ['tenant_id', 'device_id', 'connected', 'connection_at', 'motion', 'motion_since', 'anchor_lon', 'anchor_lat', 'anchor_time', 'last_fix_at', 'last_received_at', 'battery', 'charging', 'offline_since', 'due_at', 'part'] as const;
const STATUS_UPDATES = STATUS_COLUMNS.filter((c) => c !== 'device_id').map((c) => `${c} = excluded.${c}`).join(', ');

/** Rows per statement: 500 × 13 columns stays far below PostgreSQL's 65,535 parameters. */
const CHUNK = 500;
const COLUMNS = ['tenant_id', 'device_id', 'time', 'lon', 'lat', 'accuracy', 'altitude', 'speed', 'heading', 'battery', 'charging', 'received_at'] as const;
const UPDATES = COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'device_id').map((c) => `${c} = excluded.${c}`).join(', ');

export function positionLog(store: Store<TrackerDB>): PositionLog {
  return store.sync ? sqliteLog(store) : kyselyLog(store.db);
}

/** Newest row per device among the accepted ones. */
function newestPerDevice(rows: PositionRow[], statuses: AppendStatus[]): Map<string, PositionRow> {
  const newest = new Map<string, PositionRow>();
  rows.forEach((row, i) => {
    if (statuses[i] !== 'accepted') return;
    const best = newest.get(row.device_id);
    if (!best || row.time > best.time) newest.set(row.device_id, row);
  });
  return newest;
}

function sqliteLog(store: Store<TrackerDB>): PositionLog {
  const sync = store.sync!;
  const placeholders = COLUMNS.map(() => '?').join(', ');
  const insert = sync.prepare(`INSERT INTO positions (${COLUMNS.join(', ')}) VALUES (${placeholders}) ON CONFLICT (device_id, time) DO NOTHING`);
  const upsert = sync.prepare(`INSERT INTO last_known (${COLUMNS.join(', ')}) VALUES (${placeholders}) ON CONFLICT (device_id) DO UPDATE SET ${UPDATES} WHERE last_known.time < excluded.time`);
  const values = (r: PositionRow) => COLUMNS.map((c) => r[c]);
  const write = sync.transaction((rows: PositionRow[]): AppendStatus[] => {
    const statuses = rows.map((row): AppendStatus => (insert.run(...values(row)).changes === 1 ? 'accepted' : 'duplicate'));
    for (const row of newestPerDevice(rows, statuses).values()) upsert.run(...values(row));
    return statuses;
  });
  const status = sync.prepare(`INSERT INTO device_status (${STATUS_COLUMNS.join(', ')}) VALUES (${STATUS_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (device_id) DO UPDATE SET ${STATUS_UPDATES}`);
  const writeStatuses = sync.transaction((rows: StatusRow[]) => {
    for (const row of rows) status.run(...STATUS_COLUMNS.map((c) => row[c]));
  });
  return { append: async (rows) => write(rows), saveStatuses: async (rows) => writeStatuses(rows) };
}

/**
 * Every statement is multi-row, and rows are written in key order: two processes writing some of the
 * same rows (a partition changing hands) then lock them in the same order and cannot deadlock. A
 * group commit of up to 500 positions is one statement, the positions' insert and the last known
 * positions' upsert as two data-modifying CTEs: atomic on its own, one round trip to PostgreSQL
 * (instead of BEGIN, INSERT, one upsert per device, COMMIT). Larger ones are a transaction of
 * statements of 500 rows each.
 */
function kyselyLog(db: Kysely<TrackerDB>): PositionLog {
  const byDevice = <R extends { device_id: string }>(a: R, b: R) => (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0);
  const insertPositions = (qc: QueryCreator<TrackerDB>, rows: PositionRow[]) =>
    qc.insertInto('positions').values(rows).onConflict((oc) => oc.columns(['device_id', 'time']).doNothing()).returning(['device_id', 'time']);
  const moveLastKnown = (qc: QueryCreator<TrackerDB>, rows: PositionRow[]) =>
    qc
      .insertInto('last_known')
      .values(rows)
      .onConflict((oc) =>
        oc
          .column('device_id')
          .doUpdateSet((eb) => Object.fromEntries(COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'device_id').map((c) => [c, eb.ref(`excluded.${c}`)])))
          .where('last_known.time', '<', (eb) => eb.ref('excluded.time')),
      )
      .returning('device_id');
  // delete as we go: a second copy of one fix in the same batch is a duplicate
  const statusesOf = (rows: PositionRow[], inserted: Set<string>) => rows.map((r): AppendStatus => (inserted.delete(`${r.device_id}\u0000${r.time}`) ? 'accepted' : 'duplicate'));
  return {
    async append(rows) {
      const sorted = [...rows].sort((a, b) => byDevice(a, b) || a.time - b.time);
      if (sorted.length <= CHUNK) {
        // Newest of every row, duplicates included: a stored fix already moved last_known at least as far.
        const newest = [...newestPerDevice(rows, rows.map(() => 'accepted')).values()].sort(byDevice);
        const returned = await db
          .with('stored', () => insertPositions(db, sorted))
          .with('moved', () => moveLastKnown(db, newest))
          .selectFrom('stored')
          .select(['device_id', 'time'])
          .execute();
        return statusesOf(rows, new Set(returned.map((r) => `${r.device_id}\u0000${r.time}`)));
      }
      return db.transaction().execute(async (trx) => {
        const inserted = new Set<string>();
        for (let i = 0; i < sorted.length; i += CHUNK) {
          for (const r of await insertPositions(trx, sorted.slice(i, i + CHUNK)).execute()) inserted.add(`${r.device_id}\u0000${r.time}`);
        }
        const statuses = statusesOf(rows, inserted);
        const newest = [...newestPerDevice(rows, statuses).values()].sort(byDevice);
        for (let i = 0; i < newest.length; i += CHUNK) await moveLastKnown(trx, newest.slice(i, i + CHUNK)).execute();
        return statuses;
      });
    },
    saveStatuses: (rows) =>
      db.transaction().execute(async (trx) => {
        const sorted = [...rows].sort(byDevice);
        for (let i = 0; i < sorted.length; i += CHUNK) {
          await trx
            .insertInto('device_status')
            .values(sorted.slice(i, i + CHUNK))
            .onConflict((oc) => oc.column('device_id').doUpdateSet((eb) => Object.fromEntries(STATUS_COLUMNS.filter((c) => c !== 'device_id').map((c) => [c, eb.ref(`excluded.${c}`)]))))
            .execute();
        }
      }),
  };
}
