/**
 * The tracker's writes on the hot path. `append`: one transaction per group commit that inserts
 * the positions (skipping duplicates by device and time) and moves each device's last known
 * position forward. `saveStatuses`: device statuses, flushed in batches. On SQLite both run on
 * cached prepared statements, synchronously (microseconds a row), so they never interleave with
 * another transaction on the connection; elsewhere through Kysely.
 */
import type { Kysely } from 'kysely';
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

function kyselyLog(db: Kysely<TrackerDB>): PositionLog {
  return {
    append: (rows) =>
      db.transaction().execute(async (trx) => {
        const inserted = new Set<string>();
        for (let i = 0; i < rows.length; i += 500) {
          const chunk = rows.slice(i, i + 500);
          const returned = await trx
            .insertInto('positions')
            .values(chunk)
            .onConflict((oc) => oc.columns(['device_id', 'time']).doNothing())
            .returning(['device_id', 'time'])
            .execute();
          for (const r of returned) inserted.add(`${r.device_id}\u0000${r.time}`);
        }
        // delete as we go: a second copy of one fix in the same batch is a duplicate
        const statuses = rows.map((r): AppendStatus => (inserted.delete(`${r.device_id}\u0000${r.time}`) ? 'accepted' : 'duplicate'));
        for (const row of newestPerDevice(rows, statuses).values()) {
          await trx
            .insertInto('last_known')
            .values(row)
            .onConflict((oc) =>
              oc
                .column('device_id')
                .doUpdateSet((eb) => Object.fromEntries(COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'device_id').map((c) => [c, eb.ref(`excluded.${c}`)])))
                .where('last_known.time', '<', (eb) => eb.ref('excluded.time')),
            )
            .execute();
        }
        return statuses;
      }),
    saveStatuses: (rows) =>
      db.transaction().execute(async (trx) => {
        for (const row of rows) {
          const { device_id: _id, ...rest } = row;
          await trx.insertInto('device_status').values(row).onConflict((oc) => oc.column('device_id').doUpdateSet(rest)).execute();
        }
      }),
  };
}
