/**
 * The geofence service's tables: fences and proximity rules, per-device presence and proximity
 * state, the events derived from them, and the last position of every device it has seen.
 */
import type { Migration } from '../../ports/store.js';

export interface GeofenceDB {
  fences: {
    id: string;
    tenant_id: string;
    name: string;
    geometry: string;
    radius: number | null;
    width: number | null;
    /** JSON array of strings. */
    tags: string;
    /** JSON object. */
    metadata: string;
    /** JSON { groupIds, deviceIds }, or null for every device. */
    applies_to: string | null;
    /** JSON Schedule, or null for always. */
    schedule: string | null;
    /** JSON Hysteresis, or null for the defaults. */
    hysteresis: string | null;
    dwell_minutes: number | null;
    enabled: number;
    created_at: number;
    updated_at: number;
  };
  presence: { tenant_id: string; device_id: string; fence_id: string; since: number; dwelled: number };
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
    /** JSON EventReason. */
    reason: string | null;
    other_device_id: string | null;
  };
  device_positions: { tenant_id: string; device_id: string; time: number; lon: number; lat: number; accuracy: number | null };
  proximity_rules: {
    id: string;
    tenant_id: string;
    name: string;
    device_id: string;
    other_device_id: string | null;
    other_group_id: string | null;
    distance: number;
    exit_margin: number;
    use_accuracy: number;
    enabled: number;
    created_at: number;
  };
  /** A row per pair that is within the rule's distance now. */
  proximity_state: { tenant_id: string; rule_id: string; device_id: string; other_id: string; since: number };
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
  {
    name: '002-attributes-dwell-proximity',
    async up(db) {
      await db.schema.alterTable('fences').addColumn('width', 'double precision').execute();
      await db.schema.alterTable('fences').addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.alterTable('fences').addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema.alterTable('fences').addColumn('applies_to', 'text').execute();
      await db.schema.alterTable('fences').addColumn('schedule', 'text').execute();
      await db.schema.alterTable('fences').addColumn('hysteresis', 'text').execute();
      await db.schema.alterTable('fences').addColumn('dwell_minutes', 'integer').execute();
      await db.schema.alterTable('presence').addColumn('dwelled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('fence_events').addColumn('reason', 'text').execute();
      await db.schema.alterTable('fence_events').addColumn('other_device_id', 'text').execute();
      await db.schema.createIndex('fence_events_fence_time').on('fence_events').columns(['fence_id', 'time']).execute();
      await db.schema
        .createTable('device_positions')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.primaryKey())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('lon', 'double precision', (c) => c.notNull())
        .addColumn('lat', 'double precision', (c) => c.notNull())
        .addColumn('accuracy', 'double precision')
        .execute();
      await db.schema.createIndex('device_positions_tenant').on('device_positions').columns(['tenant_id']).execute();
      await db.schema
        .createTable('proximity_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('other_device_id', 'text')
        .addColumn('other_group_id', 'text')
        .addColumn('distance', 'double precision', (c) => c.notNull())
        .addColumn('exit_margin', 'double precision', (c) => c.notNull())
        .addColumn('use_accuracy', 'integer', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('proximity_rules_tenant').on('proximity_rules').columns(['tenant_id']).execute();
      await db.schema
        .createTable('proximity_state')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('other_id', 'text', (c) => c.notNull())
        .addColumn('since', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('proximity_state_pk', ['rule_id', 'device_id', 'other_id'])
        .execute();
    },
  },
  {
    // "who was inside F between t1 and t2" seeks per device instead of reading the fence's history
    name: '003-fence-events-device-index',
    async up(db) {
      await db.schema.createIndex('fence_events_fence_device_time').on('fence_events').columns(['tenant_id', 'fence_id', 'device_id', 'time']).execute();
    },
  },
];

/** The geofence service's tenant-owned tables, parents first (import order; purge goes in reverse). */
export const geofenceTenantTables = ['fences', 'proximity_rules', 'presence', 'device_state', 'fence_events', 'device_positions', 'proximity_state'] as const;
