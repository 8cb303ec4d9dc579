/** The tracker's tables: every accepted position, and the last known one per device. */
import { partitionOf } from '../../ports/bus.js';
import type { Migration } from '../../ports/store.js';
import { defaultSettings } from './settings.js';

/** Partitions of devices when no ownership says otherwise: the bus's (NATS) partition count. */
export const DEVICE_PARTITIONS = 16;

interface PositionRow {
  tenant_id: string;
  device_id: string;
  time: number;
  lon: number;
  lat: number;
  accuracy: number | null;
  altitude: number | null;
  speed: number | null;
  heading: number | null;
  battery: number | null;
  charging: number | null;
  received_at: number;
}

export interface StatusRow {
  tenant_id: string;
  device_id: string;
  connected: number;
  connection_at: number | null;
  motion: string;
  motion_since: number | null;
  anchor_lon: number | null;
  anchor_lat: number | null;
  anchor_time: number | null;
  last_fix_at: number | null;
  last_received_at: number | null;
  battery: number | null;
  charging: number | null;
  /** When the device's offline was published; null while online. */
  offline_since: number | null;
  /** When silence makes it offline (indexed: the offline sweep's queue); null while offline. */
  due_at: number | null;
  /** The device's partition (FNV-1a of its id), so each process sweeps the partitions it owns. */
  part: number;
}

export interface TrackerDB {
  positions: PositionRow;
  last_known: PositionRow;
  device_status: StatusRow;
  tenant_settings: { tenant_id: string; settings: string };
  shares: { id: string; tenant_id: string; owner_user_id: string; followers: string; created_at: number; expires_at: number | null; revoked_at: number | null };
  share_links: { id: string; tenant_id: string; owner_user_id: string; token_hash: string; created_at: number; expires_at: number; revoked_at: number | null };
}

export type { PositionRow };

export const trackerMigrations: Migration[] = [
  {
    name: '001-initial',
    async up(db) {
      for (const table of ['positions', 'last_known'] as const) {
        let t = db.schema
          .createTable(table)
          .addColumn('tenant_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('time', 'bigint', (c) => c.notNull())
          .addColumn('lon', 'double precision', (c) => c.notNull())
          .addColumn('lat', 'double precision', (c) => c.notNull())
          .addColumn('accuracy', 'double precision')
          .addColumn('altitude', 'double precision')
          .addColumn('speed', 'double precision')
          .addColumn('heading', 'double precision')
          .addColumn('battery', 'double precision')
          .addColumn('charging', 'integer')
          .addColumn('received_at', 'bigint', (c) => c.notNull());
        t = table === 'positions' ? t.addPrimaryKeyConstraint('positions_pk', ['device_id', 'time']) : t.addPrimaryKeyConstraint('last_known_pk', ['device_id']);
        await t.execute();
      }
      await db.schema.createIndex('last_known_tenant').on('last_known').columns(['tenant_id']).execute();
      await db.schema.createIndex('positions_tenant_time').on('positions').columns(['tenant_id', 'time']).execute();
    },
  },
  {
    name: '002-status-settings',
    async up(db) {
      await db.schema
        .createTable('device_status')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('connected', 'integer', (c) => c.notNull())
        .addColumn('connection_at', 'bigint')
        .addColumn('motion', 'text', (c) => c.notNull())
        .addColumn('motion_since', 'bigint')
        .addColumn('anchor_lon', 'double precision')
        .addColumn('anchor_lat', 'double precision')
        .addColumn('anchor_time', 'bigint')
        .addColumn('last_fix_at', 'bigint')
        .addColumn('last_received_at', 'bigint')
        .addColumn('battery', 'double precision')
        .addColumn('charging', 'integer')
        .execute();
      await db.schema.createIndex('device_status_tenant').on('device_status').columns(['tenant_id']).execute();
      await db.schema.createTable('tenant_settings').addColumn('tenant_id', 'text', (c) => c.primaryKey()).addColumn('settings', 'text', (c) => c.notNull()).execute();
      await db.schema.createIndex('positions_received').on('positions').columns(['received_at']).execute();
    },
  },
  {
    name: '003-shares',
    async up(db) {
      await db.schema
        .createTable('shares')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('owner_user_id', 'text', (c) => c.notNull())
        .addColumn('followers', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('shares_tenant').on('shares').columns(['tenant_id', 'owner_user_id']).execute();
      await db.schema
        .createTable('share_links')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('owner_user_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
    },
  },
  {
    name: '004-offline-sweep',
    async up(db) {
      await db.schema.alterTable('device_status').addColumn('offline_since', 'bigint').execute();
      await db.schema.alterTable('device_status').addColumn('due_at', 'bigint').execute();
      await db.schema.alterTable('device_status').addColumn('part', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.createIndex('device_status_due').on('device_status').columns(['due_at']).execute();
      // Devices already silent longer than the default threshold count as offline since then (no
      // alert for an outage that is over); the others are due at their default deadline. The sweep
      // recomputes both with each tenant's own threshold when it gets to them.
      const rows = await db.selectFrom('device_status').select(['device_id', 'connected', 'connection_at', 'last_received_at']).execute();
      const now = Date.now();
      for (const r of rows) {
        const connectedAt = r.connected === 1 ? r.connection_at : null;
        const sign = r.last_received_at === null ? connectedAt : Math.max(r.last_received_at, connectedAt ?? -Infinity);
        const part = partitionOf(r.device_id, DEVICE_PARTITIONS);
        const due = sign === null ? null : sign + defaultSettings.offlineAfterSeconds * 1000;
        const change = due !== null && due > now ? { due_at: due, part } : { offline_since: due ?? now, part };
        await db.updateTable('device_status').set(change).where('device_id', '=', r.device_id).execute();
      }
    },
  },
];

/** The tracker's tenant-owned tables, parents first (import order; purge goes in reverse). */
export const trackerTenantTables = ['tenant_settings', 'positions', 'last_known', 'device_status', 'shares', 'share_links'] as const;
