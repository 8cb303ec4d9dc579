/**
 * SOS alarms: every SOS a device raised, kept so that it outlives the live stream: who raised it,
 * when and where, the alert it produced and its responders, who acknowledged first and when, and
 * whether an operator resolved it. open → acknowledged (a responder acknowledged the alert) →
 * resolved (an operator closed it); an operator may resolve an alarm nobody acknowledged.
 */
import type { Kysely } from 'kysely';
import { AppError, invalid, notFound } from '../../core/errors.js';
import type { TenantContext } from '../../core/tenancy.js';
import type { DeliveryState } from '../../core/types.js';
import { TenantScope } from '../../ports/store.js';
import type { NotificationDB } from './schema.js';

export const SOS_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type SosState = (typeof SOS_STATES)[number];
/** What a list asks for: one state, `unresolved` (open or acknowledged) or `all`. */
export const SOS_FILTERS = ['unresolved', ...SOS_STATES, 'all'] as const;
export type SosFilter = (typeof SOS_FILTERS)[number];

export interface SosResponder {
  deviceId: string;
  name: string;
  /** The state of the alert's delivery to this responder (null: the alert did not reach it in-app). */
  state: DeliveryState | null;
  acknowledgedAt: number | null;
}

export interface SosAlarm {
  id: string;
  tenantId: string;
  /** The id the device gave the SOS (it resends with the same id until the server acknowledges). */
  sosId: string;
  deviceId: string;
  deviceName: string;
  /** The person who carries the device, when one does. */
  userId: string | null;
  personName: string | null;
  raisedAt: number;
  /** Where the device was when it raised the SOS, when it sent a position. */
  position: { lon: number; lat: number; accuracy: number | null } | null;
  text: string | null;
  state: SosState;
  /** The critical alert sent to the responders (null when the tenant had none set). */
  message: { id: string; title: string; body: string } | null;
  responders: SosResponder[];
  acknowledgedBy: { deviceId: string; name: string } | null;
  acknowledgedAt: number | null;
  resolvedBy: { userId: string | null; name: string } | null;
  resolvedAt: number | null;
  resolution: string | null;
}

type Row = NotificationDB['sos_alarms'];

const PAGE_MAX = 200;

/** The row for a newly raised SOS. */
export function sosRow(alarm: { id: string; tenantId: string; sosId: string; deviceId: string; deviceName: string; userId: string | null; personName: string | null; raisedAt: number; lon?: number | undefined; lat?: number | undefined; accuracy?: number | undefined; text?: string | undefined; messageId: string | null; responders: { deviceId: string; name: string }[] }): Row {
  const located = alarm.lon !== undefined && alarm.lat !== undefined;
  return {
    id: alarm.id,
    tenant_id: alarm.tenantId,
    sos_id: alarm.sosId,
    device_id: alarm.deviceId,
    device_name: alarm.deviceName,
    user_id: alarm.userId,
    person_name: alarm.personName,
    raised_at: alarm.raisedAt,
    lon: located ? alarm.lon! : null,
    lat: located ? alarm.lat! : null,
    accuracy: located ? (alarm.accuracy ?? null) : null,
    text: alarm.text ?? null,
    message_id: alarm.messageId,
    responders: JSON.stringify(alarm.responders),
    state: 'open',
    acknowledged_by: null,
    acknowledged_by_name: null,
    acknowledged_at: null,
    resolved_by: null,
    resolved_by_name: null,
    resolved_at: null,
    resolution: null,
  };
}

/**
 * Which alarms a caller may read: operators and above every one of the tenant, a device its own,
 * a member the ones raised by the devices they carry.
 */
export type SosReader = { all: true } | { all: false; deviceIds: string[] };

/** The alarms of a tenant, newest first; page with `before` = the id of the last alarm of the previous page. */
export async function listSosAlarms(db: Kysely<NotificationDB>, ctx: TenantContext, reader: SosReader, query: { state?: SosFilter | undefined; limit?: number | undefined; before?: string | undefined }): Promise<SosAlarm[]> {
  const state = query.state ?? 'unresolved';
  if (!(SOS_FILTERS as readonly string[]).includes(state)) throw invalid('state', `must be one of ${SOS_FILTERS.join(', ')}, got ${JSON.stringify(state)}`);
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw invalid('limit', `must be a whole number from 1 to ${PAGE_MAX}`);
  if (!reader.all && reader.deviceIds.length === 0) return [];
  const scope = new TenantScope(db, ctx.tenantId);
  let q = scope.selectFrom('sos_alarms').selectAll();
  if (state === 'unresolved') q = q.where('state', '!=', 'resolved');
  else if (state !== 'all') q = q.where('state', '=', state);
  if (!reader.all) q = q.where('device_id', 'in', reader.deviceIds);
  if (query.before !== undefined) {
    const last = await scope.selectFrom('sos_alarms').select(['raised_at', 'id']).where('id', '=', query.before).executeTakeFirst();
    if (!last) throw invalid('before', `no SOS alarm ${query.before} in this tenant: pass the id of the last alarm of the previous page`);
    q = q.where((eb) => eb.or([eb('raised_at', '<', last.raised_at), eb.and([eb('raised_at', '=', last.raised_at), eb('id', '<', last.id)])]));
  }
  const rows = await q.orderBy('raised_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return withDetails(db, ctx, rows);
}

/** One alarm, if the reader may see it (otherwise not_found, as if it did not exist). */
export async function getSosAlarm(db: Kysely<NotificationDB>, ctx: TenantContext, reader: SosReader, id: string): Promise<SosAlarm> {
  const row = await new TenantScope(db, ctx.tenantId).selectFrom('sos_alarms').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || (!reader.all && !reader.deviceIds.includes(row.device_id))) throw notFound('SOS alarm', id);
  return (await withDetails(db, ctx, [row]))[0]!;
}

/** The alarm whose alert this is, moved to acknowledged by the first responder who acknowledges it; undefined when nothing changed. */
export async function acknowledgeSosAlarm(db: Kysely<NotificationDB>, ctx: TenantContext, messageId: string, by: { deviceId: string; name: string }, at: number): Promise<string | undefined> {
  const moved = await new TenantScope(db, ctx.tenantId)
    .updateTable('sos_alarms')
    .set({ state: 'acknowledged', acknowledged_by: by.deviceId, acknowledged_by_name: by.name, acknowledged_at: at })
    .where('message_id', '=', messageId)
    .where('state', '=', 'open')
    .returning('id')
    .executeTakeFirst();
  return moved?.id;
}

/** An operator closes the alarm, with an optional note; a resolved alarm stays resolved. */
export async function resolveSosAlarm(db: Kysely<NotificationDB>, ctx: TenantContext, id: string, by: { userId: string | null; name: string }, resolution: string | undefined, at: number): Promise<void> {
  if (resolution !== undefined && (typeof resolution !== 'string' || resolution.length > 1000)) throw invalid('resolution', 'must be text of at most 1000 characters');
  const scope = new TenantScope(db, ctx.tenantId);
  const row = await scope.selectFrom('sos_alarms').select(['state', 'resolved_at', 'resolved_by_name']).where('id', '=', id).executeTakeFirst();
  if (!row) throw notFound('SOS alarm', id);
  if (row.state === 'resolved') throw new AppError('conflict', `SOS alarm ${id} was resolved already, by ${row.resolved_by_name ?? 'someone'} at ${new Date(row.resolved_at!).toISOString()}`, [{ field: 'id', reason: 'is resolved already' }]);
  const updated = await scope.updateTable('sos_alarms').set({ state: 'resolved', resolved_by: by.userId, resolved_by_name: by.name, resolved_at: at, resolution: resolution?.trim() || null }).where('id', '=', id).where('state', '=', row.state).executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return resolveSosAlarm(db, ctx, id, by, resolution, at); // acknowledged meanwhile: try again from the new state
}

/** Rows with their alert's text and each responder's delivery state. */
async function withDetails(db: Kysely<NotificationDB>, ctx: TenantContext, rows: Row[]): Promise<SosAlarm[]> {
  const messageIds = rows.flatMap((r) => (r.message_id ? [r.message_id] : []));
  const scope = new TenantScope(db, ctx.tenantId);
  const messages = messageIds.length ? await scope.selectFrom('messages').select(['id', 'title', 'body']).where('id', 'in', messageIds).execute() : [];
  const deliveries = messageIds.length ? await scope.selectFrom('deliveries').select(['message_id', 'device_id', 'state', 'acknowledged_at']).where('message_id', 'in', messageIds).execute() : [];
  return rows.map((r) => {
    const message = messages.find((m) => m.id === r.message_id);
    const mine = deliveries.filter((d) => d.message_id === r.message_id);
    const responders = (JSON.parse(r.responders) as { deviceId: string; name: string }[]).map((x) => {
      const d = mine.find((m) => m.device_id === x.deviceId);
      return { deviceId: x.deviceId, name: x.name, state: (d?.state as DeliveryState | undefined) ?? null, acknowledgedAt: d?.acknowledged_at ?? null };
    });
    return {
      id: r.id,
      tenantId: r.tenant_id,
      sosId: r.sos_id,
      deviceId: r.device_id,
      deviceName: r.device_name,
      userId: r.user_id,
      personName: r.person_name,
      raisedAt: r.raised_at,
      position: r.lon !== null && r.lat !== null ? { lon: r.lon, lat: r.lat, accuracy: r.accuracy } : null,
      text: r.text,
      state: r.state as SosState,
      message: message ? { id: message.id, title: message.title, body: message.body } : null,
      responders,
      acknowledgedBy: r.acknowledged_by ? { deviceId: r.acknowledged_by, name: r.acknowledged_by_name ?? r.acknowledged_by } : null,
      acknowledgedAt: r.acknowledged_at,
      resolvedBy: r.resolved_at !== null ? { userId: r.resolved_by, name: r.resolved_by_name ?? 'unknown' } : null,
      resolvedAt: r.resolved_at,
      resolution: r.resolution,
    };
  });
}
