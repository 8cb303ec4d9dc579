/**
 * The geofence service: a tenant's fences in a spatial index, per-device presence, and the
 * enter/exit events derived by comparing the previous and the new state on each position.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import { registry } from '../../core/metrics.js';
import { invalid, notFound } from '../../core/errors.js';
import { parseFenceShape, shapeToGeoJSON, type FenceShape, type GeoJSONGeometry } from '../../core/geometry.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import type { TenantContext } from '../../core/tenancy.js';
import type { Position } from '../../core/types.js';
import { topic, type Bus, type Subscription } from '../../ports/bus.js';
import { TenantScope, type Store } from '../../ports/store.js';
import { positionAccepted } from '../tracker/index.js';
import { FenceIndex } from './engine.js';
import { fenceEvent, type FenceEvent } from './events.js';
import type { GeofenceDB } from './schema.js';

export interface Fence {
  id: string;
  tenantId: string;
  name: string;
  geometry: GeoJSONGeometry;
  radius?: number;
  enabled: boolean;
  createdAt: number;
}

export interface FenceInput {
  name: string;
  geometry: unknown;
  radius?: unknown;
  enabled?: boolean | undefined;
}

export interface EventQuery {
  fenceId?: string | undefined;
  deviceId?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  limit?: number | undefined;
}

const evaluations = new Counter({ name: 'followme_geofence_evaluations_total', help: 'Positions evaluated against fences (late ones skipped)', labelNames: ['outcome'], registers: [registry] });
const fenceEventsTotal = new Counter({ name: 'followme_geofence_events_total', help: 'Fence events, by type', labelNames: ['type'], registers: [registry] });

/** A fence was created, changed or deleted: every geofence worker refreshes it in its index. */
const fenceChanged = topic<{ tenantId: string; fenceId: string }>('geofence.fence-changed');

export class GeofenceService {
  private readonly indexes = new Map<string, Promise<{ index: FenceIndex; names: Map<string, string> }>>();
  private readonly presence = new Map<string, Set<string>>();
  private readonly lastTime = new Map<string, number>();
  private subscriptions: Subscription[] = [];

  constructor(
    private readonly store: Store<GeofenceDB>,
    private readonly bus: Bus,
    private readonly logger: Logger,
  ) {}

  private get db(): Kysely<GeofenceDB> {
    return this.store.db;
  }

  async start(): Promise<void> {
    this.subscriptions.push(await this.bus.consume(positionAccepted, 'geofence', (m) => this.onPosition(m.data)));
    this.subscriptions.push(await this.bus.subscribe(fenceChanged, (m) => this.refresh(m.data.tenantId, m.data.fenceId)));
  }

  async stop(): Promise<void> {
    for (const s of this.subscriptions) await s.close();
    this.subscriptions = [];
  }

  // ---- fences ----

  async createFence(ctx: TenantContext, input: FenceInput): Promise<Fence> {
    const name = fenceName(input.name);
    const shape = parseFenceShape(input.geometry, input.radius);
    const now = Date.now();
    const id = newId('fen');
    const { geometry, radius } = shapeToGeoJSON(shape);
    await new TenantScope(this.db, ctx.tenantId).insert('fences', { id, name, geometry: JSON.stringify(geometry), radius: radius ?? null, enabled: input.enabled === false ? 0 : 1, created_at: now, updated_at: now });
    await this.changed(ctx.tenantId, id);
    return this.getFence(ctx, id);
  }

  async updateFence(ctx: TenantContext, id: string, input: Partial<FenceInput>): Promise<Fence> {
    const current = await this.getFence(ctx, id);
    const changes: Partial<GeofenceDB['fences']> = { updated_at: Date.now() };
    if (input.name !== undefined) changes.name = fenceName(input.name);
    if (input.geometry !== undefined || input.radius !== undefined) {
      const shape = parseFenceShape(input.geometry ?? current.geometry, input.radius !== undefined ? input.radius : input.geometry !== undefined ? undefined : current.radius);
      const { geometry, radius } = shapeToGeoJSON(shape);
      changes.geometry = JSON.stringify(geometry);
      changes.radius = radius ?? null;
    }
    if (input.enabled !== undefined) changes.enabled = input.enabled ? 1 : 0;
    await new TenantScope(this.db, ctx.tenantId).updateTable('fences').set(changes).where('id', '=', id).execute();
    await this.changed(ctx.tenantId, id);
    return this.getFence(ctx, id);
  }

  async deleteFence(ctx: TenantContext, id: string): Promise<void> {
    await this.getFence(ctx, id);
    await this.db.transaction().execute(async (trx) => {
      const scope = new TenantScope<GeofenceDB>(trx, ctx.tenantId);
      await scope.deleteFrom('presence').where('fence_id', '=', id).execute();
      await scope.deleteFrom('fences').where('id', '=', id).execute();
    });
    for (const inside of this.presence.values()) inside.delete(id);
    await this.changed(ctx.tenantId, id);
  }

  async getFence(ctx: TenantContext, id: string): Promise<Fence> {
    const row = await new TenantScope(this.db, ctx.tenantId).selectFrom('fences').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('fence', id);
    return toFence(row);
  }

  async listFences(ctx: TenantContext): Promise<Fence[]> {
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('fences').selectAll().orderBy('id').execute();
    return rows.map(toFence);
  }

  /** The devices inside a fence now. */
  async insideNow(ctx: TenantContext, fenceId: string): Promise<string[]> {
    await this.getFence(ctx, fenceId);
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('presence').select('device_id').where('fence_id', '=', fenceId).orderBy('device_id').execute();
    return rows.map((r) => r.device_id);
  }

  /** The fences a device is inside now. */
  async fencesOf(ctx: TenantContext, deviceId: string): Promise<string[]> {
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('presence').select('fence_id').where('device_id', '=', deviceId).orderBy('fence_id').execute();
    return rows.map((r) => r.fence_id);
  }

  async listEvents(ctx: TenantContext, q: EventQuery): Promise<FenceEvent[]> {
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalid('limit', `must be a whole number from 1 to 10000, got ${q.limit}`);
    let query = new TenantScope(this.db, ctx.tenantId).selectFrom('fence_events').selectAll();
    if (q.fenceId) query = query.where('fence_id', '=', q.fenceId);
    if (q.deviceId) query = query.where('device_id', '=', q.deviceId);
    if (q.from !== undefined) query = query.where('time', '>=', q.from);
    if (q.to !== undefined) query = query.where('time', '<=', q.to);
    const rows = await query.orderBy('time', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toEvent);
  }

  // ---- evaluation ----

  /**
   * One position: compare the device's presence with what the fix says, store the transitions and
   * the new presence in one transaction, then publish the events. A fix older than the last one
   * evaluated (a late upload) changes nothing. The stored watermark (device_state) moves only with
   * a transition; positions after it are evaluated again after a restart, which is harmless, since
   * presence is stored and an unchanged state fires nothing. A redelivered position that did fire
   * publishes its events again (same ids), so a stop between commit and publish loses nothing.
   */
  private async onPosition(p: Position): Promise<void> {
    const last = await this.lastEvaluated(p.deviceId);
    if (last !== undefined && p.time <= last) {
      evaluations.inc({ outcome: 'skipped_late' });
      if (p.time === last) await this.republish(p);
      return;
    }
    evaluations.inc({ outcome: 'evaluated' });
    const { index, names } = await this.indexFor(p.tenantId);
    const inside = await this.presenceOf(p.tenantId, p.deviceId);
    for (const fenceId of inside) if (!index.has(fenceId)) inside.delete(fenceId);
    const transitions = index.evaluate(p.lon, p.lat, p.accuracy, inside);
    const events: FenceEvent[] = transitions.map((t) => ({
      id: eventId(p.deviceId, t.fenceId, p.time, t.type),
      tenantId: p.tenantId,
      deviceId: p.deviceId,
      fenceId: t.fenceId,
      fenceName: names.get(t.fenceId) ?? t.fenceId,
      type: t.type,
      time: p.time,
      lon: p.lon,
      lat: p.lat,
      accuracy: p.accuracy,
      distance: Math.round(t.distance * 100) / 100,
    }));
    // Most positions change nothing: they cost no write at all. A transition writes presence, the
    // events and the device's watermark in one transaction.
    if (events.length > 0) {
      await this.db.transaction().execute(async (trx) => {
        const scope = new TenantScope<GeofenceDB>(trx, p.tenantId);
        for (const e of events) {
          if (e.type === 'enter') await scope.insert('presence', { device_id: p.deviceId, fence_id: e.fenceId, since: p.time });
          else await scope.deleteFrom('presence').where('device_id', '=', p.deviceId).where('fence_id', '=', e.fenceId).execute();
        }
        await trx
          .insertInto('fence_events')
          .values(events.map((e) => ({ id: e.id, tenant_id: e.tenantId, device_id: e.deviceId, fence_id: e.fenceId, fence_name: e.fenceName, type: e.type, time: e.time, lon: e.lon, lat: e.lat, accuracy: e.accuracy ?? null, distance: e.distance })))
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        await trx
          .insertInto('device_state')
          .values({ tenant_id: p.tenantId, device_id: p.deviceId, last_time: p.time })
          .onConflict((oc) => oc.column('device_id').doUpdateSet({ last_time: p.time }))
          .execute();
      });
    }
    for (const e of events) {
      if (e.type === 'enter') inside.add(e.fenceId);
      else inside.delete(e.fenceId);
    }
    this.lastTime.set(p.deviceId, p.time);
    for (const e of events) {
      fenceEventsTotal.inc({ type: e.type });
      await this.bus.publish(fenceEvent, e.deviceId, e);
    }
  }

  private async republish(p: Position): Promise<void> {
    const rows = await new TenantScope(this.db, p.tenantId).selectFrom('fence_events').selectAll().where('device_id', '=', p.deviceId).where('time', '=', p.time).execute();
    for (const row of rows) await this.bus.publish(fenceEvent, row.device_id, toEvent(row));
  }

  private async lastEvaluated(deviceId: string): Promise<number | undefined> {
    if (this.lastTime.has(deviceId)) return this.lastTime.get(deviceId);
    const row = await this.db.selectFrom('device_state').select('last_time').where('device_id', '=', deviceId).executeTakeFirst();
    if (row) this.lastTime.set(deviceId, row.last_time);
    return row?.last_time;
  }

  private async presenceOf(tenantId: string, deviceId: string): Promise<Set<string>> {
    let inside = this.presence.get(deviceId);
    if (!inside) {
      const rows = await new TenantScope(this.db, tenantId).selectFrom('presence').select('fence_id').where('device_id', '=', deviceId).execute();
      inside = new Set(rows.map((r) => r.fence_id));
      this.presence.set(deviceId, inside);
    }
    return inside;
  }

  private indexFor(tenantId: string): Promise<{ index: FenceIndex; names: Map<string, string> }> {
    let loading = this.indexes.get(tenantId);
    if (!loading) {
      loading = (async () => {
        const index = new FenceIndex();
        const names = new Map<string, string>();
        const rows = await new TenantScope(this.db, tenantId).selectFrom('fences').selectAll().where('enabled', '=', 1).execute();
        for (const row of rows) {
          index.upsert(row.id, shapeOf(row));
          names.set(row.id, row.name);
        }
        this.logger.debug({ tenantId, fences: index.size }, 'fence index loaded');
        return { index, names };
      })();
      this.indexes.set(tenantId, loading);
      loading.catch(() => this.indexes.delete(tenantId));
    }
    return loading;
  }

  private async changed(tenantId: string, fenceId: string): Promise<void> {
    await this.refresh(tenantId, fenceId);
    await this.bus.publish(fenceChanged, tenantId, { tenantId, fenceId });
  }

  /** Brings one fence of a loaded index up to date with the store. */
  private async refresh(tenantId: string, fenceId: string): Promise<void> {
    const loaded = this.indexes.get(tenantId);
    if (!loaded) return;
    const { index, names } = await loaded;
    const row = await new TenantScope(this.db, tenantId).selectFrom('fences').selectAll().where('id', '=', fenceId).executeTakeFirst();
    if (!row || row.enabled !== 1) {
      if (index.has(fenceId)) index.remove(fenceId);
      names.delete(fenceId);
      return;
    }
    index.upsert(row.id, shapeOf(row));
    names.set(row.id, row.name);
  }
}

function fenceName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid('name', 'must be a non-empty string');
  if (value.length > 200) throw invalid('name', 'must be at most 200 characters');
  return value.trim();
}

function shapeOf(row: GeofenceDB['fences']): FenceShape {
  return parseFenceShape(JSON.parse(row.geometry), row.radius ?? undefined);
}

function toFence(row: GeofenceDB['fences']): Fence {
  const fence: Fence = { id: row.id, tenantId: row.tenant_id, name: row.name, geometry: JSON.parse(row.geometry) as GeoJSONGeometry, enabled: row.enabled === 1, createdAt: row.created_at };
  if (row.radius !== null) fence.radius = row.radius;
  return fence;
}

function toEvent(row: GeofenceDB['fence_events']): FenceEvent {
  const event: FenceEvent = { id: row.id, tenantId: row.tenant_id, deviceId: row.device_id, fenceId: row.fence_id, fenceName: row.fence_name, type: row.type as FenceEvent['type'], time: row.time, lon: row.lon, lat: row.lat, distance: row.distance };
  if (row.accuracy !== null) event.accuracy = row.accuracy;
  return event;
}

/** The same crossing always gets the same id, so a redelivered position cannot make a second event. */
function eventId(deviceId: string, fenceId: string, time: number, type: string): string {
  return `fev_${createHash('sha256').update(`${deviceId}|${fenceId}|${time}|${type}`).digest('base64url').slice(0, 22)}`;
}
