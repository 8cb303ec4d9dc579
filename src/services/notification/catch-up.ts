/**
 * Catch-up after an unclean stop, for the embedded deployment: the rules' side of
 * ../geofence/catch-up.ts. The geofence service commits a fence event and then publishes it on the
 * in-process bus, which keeps nothing across a crash; an event committed but not yet turned into an
 * alert when the process died would never alert. (So would the events the geofence service's own
 * catch-up makes at start, before this service consumes.) So every event the rules handled is
 * marked (`event_marks`: id, tenant, bus partition, fix time), and at start, before consuming
 * anything new, this asks the geofence service for the events after the watermark of each tenant
 * and partition (the newest marked fix time there, less `SLACK_MS` for events of several devices
 * in one partition committed out of fix-time order) and hands the unmarked ones to the rules, in
 * (time, id) order, which is each device's order.
 *
 * Nothing fires twice: marked events are skipped, and an alert's id derives from the event
 * (`msg_<event id>_<rule id>`), so an event handled but not yet marked when the process died finds
 * its alert and adds nothing. A partition without marks of its own starts a minute before the newest
 * mark of the store (about when it stopped), and a store with no marks at all (never handled an
 * event, or just upgraded) replays nothing, so old events never fire late alerts.
 *
 * In a cluster the events come over NATS JetStream, whose durable consumer redelivers what was not
 * acknowledged: nothing is marked and this does not run (roles.ts passes no source there).
 */
import { sql, type Kysely } from 'kysely';
import { partitionOf } from '../../ports/bus.js';
import type { FenceEvent } from '../geofence/index.js';
import type { NotificationDB } from './schema.js';

/** Where the events are: the geofence service, through its public surface. */
export interface EventSource {
  /** Published events of a tenant with a time from `from`, oldest first by (time, id), after `cursor`. */
  eventsAfter(tenantId: string, from: number, cursor: { time: number; id: string } | null, limit: number): Promise<FenceEvent[]>;
}

/** Partitions the watermark is kept per: the in-process bus's lanes (16), in which events of one device are handled in order. */
export const LANES = 16;
/** How far before a partition's watermark the search starts: events of several devices are not committed in fix-time order. */
export const SLACK_MS = 60_000;
/** How long marks are kept beyond what the watermark needs. */
const KEEP_MS = 24 * 3600_000;
const PAGE = 1000;

const EVENT_RULES = ['enter', 'exit', 'dwell', 'within', 'apart'];

export interface EventCatchUpResult {
  tenants: number;
  events: number;
}

/** Records that the rules handled this event (after they did). */
export async function markHandled(db: Kysely<NotificationDB>, event: FenceEvent, now = Date.now()): Promise<void> {
  await db
    .insertInto('event_marks')
    .values({ event_id: event.id, tenant_id: event.tenantId, lane: partitionOf(event.deviceId, LANES), time: event.time, handled_at: now })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .execute();
}

/** Hands every event of `source` the rules may have missed to `handle`, in order. */
export async function catchUpEvents(db: Kysely<NotificationDB>, source: EventSource, handle: (event: FenceEvent) => Promise<void>, now = Date.now()): Promise<EventCatchUpResult> {
  const newest = await db.selectFrom('event_marks').select((eb) => eb.fn.max('time').as('time')).executeTakeFirst();
  if (newest?.time === null || newest?.time === undefined) return { tenants: 0, events: 0 };
  const stoppedAbout = Number(newest.time);
  // only tenants with rules on fence events or an open live zone can have missed an alert
  const tenants = await db
    .selectFrom('rules')
    .select('tenant_id')
    .where('enabled', '=', 1)
    .where('on_event', 'in', EVENT_RULES)
    .union(db.selectFrom('messages').select('tenant_id').where('live_until', '>', now))
    .execute();
  const result: EventCatchUpResult = { tenants: 0, events: 0 };
  for (const { tenant_id: tenantId } of tenants) {
    const watermark = new Map<number, number>();
    for (const r of await db.selectFrom('event_marks').select(['lane', (eb) => eb.fn.max('time').as('time')]).where('tenant_id', '=', tenantId).groupBy('lane').execute()) watermark.set(Number(r.lane), Number(r.time));
    const fromOf = (lane: number) => (watermark.get(lane) ?? stoppedAbout) - SLACK_MS;
    let from = Infinity;
    for (let lane = 0; lane < LANES; lane++) from = Math.min(from, fromOf(lane));
    const marked = new Set((await db.selectFrom('event_marks').select('event_id').where('tenant_id', '=', tenantId).where('time', '>=', from).execute()).map((r) => r.event_id));
    let cursor: { time: number; id: string } | null = null;
    let handled = 0;
    for (;;) {
      const page = await source.eventsAfter(tenantId, from, cursor, PAGE);
      for (const event of page) {
        if (marked.has(event.id) || event.time < fromOf(partitionOf(event.deviceId, LANES))) continue;
        await handle(event);
        handled++;
      }
      if (page.length < PAGE) break;
      cursor = { time: page.at(-1)!.time, id: page.at(-1)!.id };
    }
    if (handled > 0) {
      result.tenants++;
      result.events += handled;
    }
  }
  return result;
}

/** Drops marks no watermark needs: a day old and well below their partition's newest. */
export async function pruneMarks(db: Kysely<NotificationDB>, now = Date.now()): Promise<void> {
  await db
    .deleteFrom('event_marks')
    .where('event_marks.handled_at', '<', now - KEEP_MS)
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('event_marks as n')
          .select('n.event_id')
          .whereRef('n.tenant_id', '=', 'event_marks.tenant_id')
          .whereRef('n.lane', '=', 'event_marks.lane')
          .where('n.time', '>', sql<number>`event_marks.time + ${2 * SLACK_MS}`),
      ),
    )
    .execute();
}
