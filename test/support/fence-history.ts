/**
 * A fence's stored history for the stays query: seeded enter/exit (and dwell) events of many devices
 * in one fence, with other fences and another tenant beside it, written straight into the geofence
 * service's fence_events table. Shared by test/services/geofence-stays.test.ts and bench/geofence-stays.ts.
 */
import type { Kysely } from 'kysely';
import type { GeofenceDB } from '../../src/services/geofence/index.js';
import { seededRandom } from './random.js';

export interface HistoryShape {
  devices: number;
  /** Stays per device in the fence. */
  stays: number;
  start: number;
  seed: number;
}

/** Writes the history; returns the time of the last event. */
export async function seedFenceHistory(db: Kysely<GeofenceDB>, tenantId: string, fenceId: string, shape: HistoryShape): Promise<number> {
  const random = seededRandom(shape.seed);
  type Row = GeofenceDB['fence_events'];
  let batch: Row[] = [];
  let last = shape.start;
  let n = 0;
  const flush = async () => {
    if (batch.length > 0) await db.insertInto('fence_events').values(batch).execute();
    batch = [];
  };
  const event = (tenant: string, fence: string, device: string, type: string, time: number): Row => ({ id: `fev_${n++}`, tenant_id: tenant, device_id: device, fence_id: fence, fence_name: 'f', type, time, lon: 0, lat: 0, accuracy: null, distance: 0, reason: null, other_device_id: null });
  for (let d = 0; d < shape.devices; d++) {
    const device = `dev_${String(d).padStart(6, '0')}`;
    let t = shape.start + Math.floor(random() * 3600_000);
    for (let s = 0; s < shape.stays; s++) {
      batch.push(event(tenantId, fenceId, device, 'enter', t));
      const length = 60_000 + Math.floor(random() * 4 * 3600_000);
      if (random() < 0.3) batch.push(event(tenantId, fenceId, device, 'dwell', t + Math.floor(length / 2)));
      // the last stay of some devices is still open
      if (s < shape.stays - 1 || random() < 0.7) batch.push(event(tenantId, fenceId, device, 'exit', t + length));
      if (random() < 0.2) batch.push(event(tenantId, `${fenceId}_other`, device, 'enter', t + 1));
      if (random() < 0.1) batch.push(event(`${tenantId}_other`, fenceId, device, 'exit', t + 2));
      last = Math.max(last, t + length);
      t += length + 60_000 + Math.floor(random() * 12 * 3600_000);
      if (batch.length >= 500) await flush();
    }
  }
  await flush();
  return last;
}
