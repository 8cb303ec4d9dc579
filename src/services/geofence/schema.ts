/** The geofence service's tables: fences, per-device presence, the events derived from it. */
import type { Migration } from '../../ports/store.js';

export interface GeofenceDB {
  fences: { id: string; tenant_id: string; name: string; geometry: string; radius: number | null; enabled: number; created_at: number; updated_at: number };
  presence: { tenant_id: string; device_id: string; fence_id: string; since: number };
  device_state: { tenant_id: string; device_id: string; last_time: number };
  fence_events: {
    id: string;
    tenant_id: string;
    device_id: string;
    fence_id: string;
    fence_name: string;
    type: string;
    time: number;
    lon: number;
    lat: number;
    accuracy: number | null;
    distance: number;
  };
}

export const geofenceMigrations: Migration[] = [
  {
    name: '001-initial',
    async up(db) {
      await db.schema
        .createTable('fences')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('geometry', 'text', (c) => c.notNull())
        .addColumn('radius', 'double precision')
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('fences_tenant').on('fences').columns(['tenant_id']).execute();
      await db.schema
        .createTable('presence')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('fence_id', 'text', (c) => c.notNull())
        .addColumn('since', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('presence_pk', ['device_id', 'fence_id'])
        .execute();
      await db.schema.createIndex('presence_fence').on('presence').columns(['tenant_id', 'fence_id']).execute();
      await db.schema
        .createTable('device_state')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('last_time', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('fence_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('fence_id', 'text', (c) => c.notNull())
        .addColumn('fence_name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('lon', 'double precision', (c) => c.notNull())
        .addColumn('lat', 'double precision', (c) => c.notNull())
        .addColumn('accuracy', 'double precision')
        .addColumn('distance', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('fence_events_tenant_time').on('fence_events').columns(['tenant_id', 'time']).execute();
      await db.schema.createIndex('fence_events_device_time').on('fence_events').columns(['device_id', 'time']).execute();
    },
  },
];
