/** The tracker's tables: every accepted position, and the last known one per device. */
import type { Migration } from '../../ports/store.js';

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

export interface TrackerDB {
  positions: PositionRow;
  last_known: PositionRow;
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
];
