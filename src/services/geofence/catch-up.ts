/**
 * Catch-up after an unclean stop, for the embedded deployment. The in-process bus keeps nothing
 * across a crash, so a position the tracker had committed (and acknowledged) just before one may
 * never have reached this service, and the crossing it made would be lost. At start, before the
 * service consumes anything new, it asks the tracker for the positions of each device newer than
 * the last one it saw, and evaluates them in fix-time order as if they had come over the bus.
 *
 * "Saw": the newest evaluated position of each device, written behind (`device_positions`, every
 * 2 s, only once evaluated), and the evaluation watermark (`device_state`, written with every event).
 * Replaying a position that was evaluated changes nothing: if it made events, they were committed
 * with the watermark and it is skipped; if not, the state it leaves is the state already there. After
 * a clean stop everything seen was evaluated and written, and nothing is replayed. A device this
 * service never saw is replayed from a minute before the newest position it saw of any device (about
 * when it stopped), never from its whole history, so a tenant's first fence does not judge months of
 * old positions.
 *
 * In a cluster the positions come over NATS JetStream, whose durable consumer redelivers what was
 * not acknowledged, and this is not needed (roles.ts does not pass a source there).
 */
import type { Kysely } from 'kysely';
import type { Position } from '../../core/types.js';
import type { GeofenceDB } from './schema.js';

/** Where the positions are: the tracker, through its public surface. */
export interface PositionSource {
  /** The time of each device's last known fix in a tenant. */
  lastKnown(tenantId: string): Promise<Array<{ deviceId: string; time: number }>>;
  /** A device's positions with a fix time after `after`, oldest first, at most `limit`. */
  after(tenantId: string, deviceId: string, after: number, limit: number): Promise<Position[]>;
}

/** How far before the stop a device never seen is replayed from. */
export const UNSEEN_SLACK_MS = 60_000;
const PAGE = 1000;

export interface CatchUpResult {
  devices: number;
  positions: number;
}

/** Evaluates, through `evaluate`, every position of `source` this service may have missed. */
export async function catchUp(db: Kysely<GeofenceDB>, source: PositionSource, evaluate: (p: Position) => Promise<void>): Promise<CatchUpResult> {
  const newest = await db.selectFrom('device_positions').select((eb) => eb.fn.max('time').as('time')).executeTakeFirst();
  if (newest?.time === null || newest?.time === undefined) return { devices: 0, positions: 0 }; // never saw anything: nothing to catch up with
  const stoppedAbout = Number(newest.time);
  // Only tenants with fences or proximity rules can have missed an event.
  const tenants = await db
    .selectFrom('fences')
    .select('tenant_id')
    .union(db.selectFrom('proximity_rules').select('tenant_id'))
    .execute();
  const result: CatchUpResult = { devices: 0, positions: 0 };
  for (const { tenant_id: tenantId } of tenants) {
    const seen = new Map<string, number>();
    for (const r of await db.selectFrom('device_positions').select(['device_id', 'time']).where('tenant_id', '=', tenantId).execute()) seen.set(r.device_id, Number(r.time));
    for (const r of await db.selectFrom('device_state').select(['device_id', 'last_time']).where('tenant_id', '=', tenantId).execute()) {
      seen.set(r.device_id, Math.max(seen.get(r.device_id) ?? -Infinity, Number(r.last_time)));
    }
    for (const known of await source.lastKnown(tenantId)) {
      const from = seen.get(known.deviceId) ?? stoppedAbout - UNSEEN_SLACK_MS;
      if (known.time <= from) continue;
      let after = from;
      let replayed = 0;
      for (;;) {
        const page = await source.after(tenantId, known.deviceId, after, PAGE);
        for (const p of page) await evaluate(p);
        replayed += page.length;
        if (page.length < PAGE) break;
        after = page.at(-1)!.time;
      }
      if (replayed > 0) {
        result.devices++;
        result.positions += replayed;
      }
    }
  }
  return result;
}
