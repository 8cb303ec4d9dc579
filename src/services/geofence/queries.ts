/** Read-side queries over the geofence service's own tables: history of who was inside a fence. */
import type { Kysely } from 'kysely';
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
 */
export async function staysBetween(db: Kysely<GeofenceDB>, tenantId: string, fenceId: string, from: number, to: number): Promise<Stay[]> {
  const rows = await new TenantScope(db, tenantId)
    .selectFrom('fence_events')
    .select(['device_id', 'type', 'time'])
    .where('fence_id', '=', fenceId)
    .where('type', 'in', ['enter', 'exit'])
    .where('time', '<=', to)
    .orderBy('device_id')
    .orderBy('time')
    .execute();
  const out: Stay[] = [];
  let open: Stay | undefined;
  const close = (s: Stay | undefined): void => {
    if (s && (s.exitedAt === null || s.exitedAt > from)) out.push(s);
  };
  for (const r of rows) {
    if (open && open.deviceId !== r.device_id) {
      close(open);
      open = undefined;
    }
    if (r.type === 'enter') {
      close(open);
      open = { deviceId: r.device_id, enteredAt: Number(r.time), exitedAt: null };
    } else if (open) {
      open.exitedAt = Number(r.time);
      close(open);
      open = undefined;
    }
  }
  close(open);
  // Exits after `to` of stays that began before it: they were still inside at `to`, closed later.
  const ends = new Map<string, number>();
  const later = await new TenantScope(db, tenantId).selectFrom('fence_events').select(['device_id', 'time']).where('fence_id', '=', fenceId).where('type', '=', 'exit').where('time', '>', to).orderBy('time').execute();
  for (const r of later) if (!ends.has(r.device_id)) ends.set(r.device_id, Number(r.time));
  for (const s of out) if (s.exitedAt === null && ends.has(s.deviceId)) s.exitedAt = ends.get(s.deviceId)!;
  return out.sort((a, b) => a.enteredAt - b.enteredAt || (a.deviceId < b.deviceId ? -1 : 1));
}
