/** Read-side queries over the geofence service's own tables: history of who was inside a fence. */
import { sql, type Kysely } from 'kysely';
import { TenantScope } from '../../ports/store.js';
import type { GeofenceDB } from './schema.js';

/** One stay of a device inside a fence; `exitedAt` null while it is still inside. */
export interface Stay {
  deviceId: string;
  enteredAt: number;
  exitedAt: number | null;
}

/**
 * The stays in a fence that overlap [from, to], from its stored enter and exit events. A stay is
 * [enter, exit): one that ended exactly at `from` does not overlap, one that began exactly at `to` does.
 *
 * It reads only what the window needs, through the index (tenant_id, fence_id, device_id, time):
 * the devices that ever had an event in the fence (a loose index scan: one seek per device), and per
 * device its last enter or exit before `from` (inside at `from`?) and its first exit after `to` (when
 * a stay open at `to` ended), each one seek; then the events inside [from, to] through
 * (fence_id, time). So the cost grows with the devices that visited the fence and the events in the
 * window, not with the fence's whole history (docs/geofencing.md, "Queries").
 */
export async function staysBetween(db: Kysely<GeofenceDB>, tenantId: string, fenceId: string, from: number, to: number): Promise<Stay[]> {
  const ofDevice = sql`e.tenant_id = ${tenantId} AND e.fence_id = ${fenceId} AND e.device_id = devs.d`;
  const { rows: edges } = await sql<{ d: string; before_type: string | null; before_time: number | string | null; exit_after: number | string | null }>`
    WITH RECURSIVE devs(d) AS (
      SELECT MIN(device_id) FROM fence_events WHERE tenant_id = ${tenantId} AND fence_id = ${fenceId}
      UNION ALL
      SELECT (SELECT MIN(device_id) FROM fence_events WHERE tenant_id = ${tenantId} AND fence_id = ${fenceId} AND device_id > devs.d) FROM devs WHERE devs.d IS NOT NULL
    )
    SELECT d,
      (SELECT e.type FROM fence_events e WHERE ${ofDevice} AND e.type IN ('enter', 'exit') AND e.time < ${from} ORDER BY e.time DESC LIMIT 1) AS before_type,
      (SELECT e.time FROM fence_events e WHERE ${ofDevice} AND e.type IN ('enter', 'exit') AND e.time < ${from} ORDER BY e.time DESC LIMIT 1) AS before_time,
      (SELECT MIN(e.time) FROM fence_events e WHERE ${ofDevice} AND e.type = 'exit' AND e.time > ${to}) AS exit_after
    FROM devs WHERE d IS NOT NULL`.execute(db);
  const window = await new TenantScope(db, tenantId)
    .selectFrom('fence_events')
    .select(['device_id', 'type', 'time'])
    .where('fence_id', '=', fenceId)
    .where('type', 'in', ['enter', 'exit'])
    .where('time', '>=', from)
    .where('time', '<=', to)
    .orderBy('time')
    .execute();
  const open = new Map<string, Stay>();
  for (const e of edges) if (e.before_type === 'enter') open.set(e.d, { deviceId: e.d, enteredAt: Number(e.before_time), exitedAt: null });
  const out: Stay[] = [];
  for (const r of window) {
    const stay = open.get(r.device_id);
    if (r.type === 'enter') {
      if (stay) out.push(stay); // an enter without the exit before it: the earlier stay is cut here, as an open one
      open.set(r.device_id, { deviceId: r.device_id, enteredAt: Number(r.time), exitedAt: null });
    } else if (stay) {
      stay.exitedAt = Number(r.time);
      if (stay.exitedAt > from) out.push(stay);
      open.delete(r.device_id);
    }
  }
  // Stays still open at `to`: closed by their first exit after it, if there is one.
  const exitAfter = new Map(edges.map((e) => [e.d, e.exit_after === null ? null : Number(e.exit_after)]));
  for (const stay of open.values()) out.push({ ...stay, exitedAt: exitAfter.get(stay.deviceId) ?? null });
  return out.sort((a, b) => a.enteredAt - b.enteredAt || (a.deviceId < b.deviceId ? -1 : 1));
}
