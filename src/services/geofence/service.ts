/**
 * The geofence service: fences and proximity rules (their CRUD, import and export), the queries over
 * presence, history and last positions, and the wiring of evaluation to the bus. Evaluation itself is
 * in evaluation.ts, the index in engine.ts.
 */
import type { Kysely } from 'kysely';
import { invalid, notFound } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import type { TenantContext } from '../../core/tenancy.js';
import { topic, type Bus, type Ownership, type Subscription } from '../../ports/bus.js';
import { exportTenantRows, importTenantRows, purgeTenantRows, TenantScope, type Store } from '../../ports/store.js';
import { clientChanged } from '../client/index.js';
import { positionAccepted } from '../tracker/index.js';
import { Evaluator, insertEvents, toEvent } from './evaluation.js';
import type { FenceEvent, FenceEventType } from './events.js';
import { fenceColumns, importColumns, toFeature, toFence, type Fence, type FenceInput } from './fences.js';
import { catchUp, type PositionSource } from './catch-up.js';
import { LastPositions, type NearbyDevice } from './positions.js';
import { proximityColumns, toProximityRule, type ProximityInput, type ProximityRule } from './proximity.js';
import { staysBetween, type Stay } from './queries.js';
import { geofenceTenantTables, type GeofenceDB } from './schema.js';
import { GroupCache, KeyedQueue, type GroupsOf } from './support.js';

export interface EventQuery {
  fenceId?: string | undefined;
  deviceId?: string | undefined;
  type?: FenceEventType | undefined;
  from?: number | undefined;
  to?: number | undefined;
  limit?: number | undefined;
}

export interface GeofenceOptions {
  /** Group membership of a device, from the client service (injected by roles.ts). Without it, fences that name groups match no device through them. */
  groupsOf?: GroupsOf;
  /** See docs/geofencing.md, "Dwell". Default 60 s. */
  dwellGraceMs?: number;
  /** How often the dwell timer looks for stays that reached their dwell time. Default 10 s; 0 turns it off. */
  dwellTickMs?: number;
  /** How often last positions are written behind. Default 2 s. */
  positionsFlushMs?: number;
  /**
   * Cluster: the partitions of devices whose presence and watermark this process keeps. Positions are
   * consumed only for owned partitions; a partition's cached state is dropped when it is acquired or
   * released, so the next owner starts from what the last one committed.
   */
  ownership?: Ownership | undefined;
  /** Embedded: where to find positions missed in a crash (the tracker), evaluated at start; see catch-up.ts. */
  catchUp?: PositionSource | undefined;
}

/** A fence or proximity rule was created, changed or deleted (fenceId '*': many, e.g. an import): every geofence worker refreshes it. */
const fenceChanged = topic<{ tenantId: string; fenceId: string; kind?: 'fence' | 'proximity' }>('geofence.fence-changed');

/** The tag of the fences devices define themselves (OwnTracks waypoints). */
export const DEVICE_REGION_TAG = 'owntracks';

/** A circular region as a device defines it; `key` is the device's own id for it (OwnTracks `rid`). */
export interface DeviceRegion {
  key: string;
  name: string;
  lon: number;
  lat: number;
  radius: number;
}

/** An enter or exit a device reported for one of its regions. */
export interface ReportedEvent {
  key: string;
  name?: string | undefined;
  type: 'enter' | 'exit';
  time: number;
  lon: number;
  lat: number;
  accuracy?: number | undefined;
}

export class GeofenceService {
  private readonly positions: LastPositions;
  private readonly groups: GroupCache;
  private readonly evaluator: Evaluator;
  private subscriptions: Subscription[] = [];
  private dwellTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store<GeofenceDB>,
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly options: GeofenceOptions = {},
  ) {
    this.positions = new LastPositions(store.db, logger);
    this.groups = new GroupCache(options.groupsOf);
    const owner = options.ownership;
    this.evaluator = new Evaluator(store.db, bus, logger, this.positions, this.groups, new KeyedQueue(), {
      dwellGraceMs: options.dwellGraceMs ?? 60_000,
      owns: owner && ((deviceId) => owner.owns(owner.partitionOf(deviceId))),
    });
  }

  private get db(): Kysely<GeofenceDB> {
    return this.store.db;
  }

  async start(): Promise<void> {
    const owner = this.options.ownership;
    if (owner) {
      const forget = async (p: number) => {
        await this.positions.flush();
        this.evaluator.forgetDevices((deviceId) => owner.partitionOf(deviceId) === p);
      };
      const detach = await owner.attach({ name: 'geofence presence', acquire: forget, release: forget }, 'state');
      this.subscriptions.push({ close: detach });
    }
    if (this.options.catchUp) {
      const started = Date.now();
      const caught = await catchUp(this.db, this.options.catchUp, (p) => this.evaluator.onPosition(p));
      if (caught.positions > 0) this.logger.warn({ ...caught, ms: Date.now() - started }, 'evaluated positions missed before an unclean stop');
    }
    this.subscriptions.push(await this.bus.consume(positionAccepted, 'geofence', (m) => this.evaluator.onPosition(m.data), { owner }));
    this.subscriptions.push(
      await this.bus.subscribe(fenceChanged, (m) =>
        m.data.kind === 'proximity'
          ? this.evaluator.refreshRules(m.data.tenantId)
          : m.data.fenceId === '*'
            ? this.evaluator.forgetTenant(m.data.tenantId)
            : this.evaluator.refreshFence(m.data.tenantId, m.data.fenceId),
      ),
    );
    this.subscriptions.push(await this.bus.subscribe(clientChanged, (m) => this.groups.invalidate(m.data.tenantId)));
    this.positions.start(this.options.positionsFlushMs ?? 2000);
    const tick = this.options.dwellTickMs ?? 10_000;
    if (tick > 0) {
      this.dwellTimer = setInterval(() => {
        this.ticking = this.ticking.then(() => this.dwellTick()).catch((err: unknown) => this.logger.error({ err }, 'dwell timer failed; it runs again at the next tick'));
      }, tick);
      this.dwellTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.dwellTimer) clearInterval(this.dwellTimer);
    this.dwellTimer = undefined;
    await this.ticking;
    for (const s of this.subscriptions.reverse()) await s.close(); // consumers stop before the state they use is dropped
    this.subscriptions = [];
    await this.positions.stop();
  }

  /** Fires the dwell events that are due by the server clock (the timer calls this; tests may too). Returns how many fired. */
  dwellTick(now = Date.now()): Promise<number> {
    return this.evaluator.dwellTick(now);
  }

  // ---- fences ----

  async createFence(ctx: TenantContext, input: FenceInput): Promise<Fence> {
    const columns = fenceColumns(input);
    const now = Date.now();
    const id = newId('fen');
    await new TenantScope(this.db, ctx.tenantId).insert('fences', { ...(columns as Required<typeof columns>), id, created_at: now, updated_at: now });
    await this.changed(ctx.tenantId, id);
    return this.getFence(ctx, id);
  }

  async updateFence(ctx: TenantContext, id: string, input: FenceInput): Promise<Fence> {
    const current = await this.getFence(ctx, id);
    const changes = { ...fenceColumns(input, '', current), updated_at: Date.now() };
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
    await this.changed(ctx.tenantId, id);
  }

  /**
   * A region a device defined itself (an OwnTracks waypoint): a circle fence that applies to that
   * device only, tagged `owntracks`, found again by the device and the app's region id (`key`), so
   * that sending it again updates it instead of adding another.
   */
  async saveDeviceRegion(ctx: TenantContext, deviceId: string, region: DeviceRegion): Promise<Fence> {
    const input: FenceInput = {
      name: region.name,
      geometry: { type: 'Point', coordinates: [region.lon, region.lat] },
      radius: region.radius,
      tags: [DEVICE_REGION_TAG],
      metadata: { source: 'device', deviceId, key: region.key },
      appliesTo: { deviceIds: [deviceId], groupIds: [] },
    };
    const existing = await this.deviceRegion(ctx, deviceId, region.key);
    return existing ? this.updateFence(ctx, existing.id, input) : this.createFence(ctx, input);
  }

  /**
   * An enter or exit the device reported itself (an OwnTracks transition): kept in the event log as
   * `reported_enter` / `reported_exit` with `source: "device"`, never published, so rules and presence
   * rest on Follow Me's own evaluation. `fenceId` is the region's fence when the device sent it as a
   * waypoint. Recording the same report again changes nothing.
   */
  async recordReportedEvent(ctx: TenantContext, deviceId: string, report: ReportedEvent): Promise<FenceEvent> {
    const fence = await this.deviceRegion(ctx, deviceId, report.key);
    const event: FenceEvent = {
      id: `fev_${deviceId}_${report.time}_${report.type}`,
      tenantId: ctx.tenantId, deviceId, fenceId: fence?.id ?? `${DEVICE_REGION_TAG}:${report.key}`, fenceName: report.name ?? fence?.name ?? report.key,
      type: report.type === 'enter' ? 'reported_enter' : 'reported_exit', time: report.time, lon: report.lon, lat: report.lat, distance: 0,
      reason: { distance: 0, accuracy: report.accuracy ?? 0, previous: report.type === 'enter' ? 'outside' : 'inside' },
      source: 'device',
    };
    if (report.accuracy !== undefined) event.accuracy = report.accuracy;
    await insertEvents(this.db, [event]);
    return event;
  }

  private async deviceRegion(ctx: TenantContext, deviceId: string, key: string): Promise<Fence | undefined> {
    return (await this.listFences(ctx, { tag: DEVICE_REGION_TAG })).find((f) => f.metadata.deviceId === deviceId && f.metadata.key === key);
  }

  async getFence(ctx: TenantContext, id: string): Promise<Fence> {
    const row = await new TenantScope(this.db, ctx.tenantId).selectFrom('fences').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('fence', id);
    return toFence(row);
  }

  async listFences(ctx: TenantContext, q: { tag?: string | undefined } = {}): Promise<Fence[]> {
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('fences').selectAll().orderBy('id').execute();
    const fences = rows.map(toFence);
    return q.tag === undefined ? fences : fences.filter((f) => f.tags.includes(q.tag!));
  }

  /**
   * Imports a GeoJSON FeatureCollection, one fence per Feature, all or nothing: one invalid feature
   * refuses the whole import (the error names it, e.g. `features[3].geometry.coordinates[0]`) and
   * nothing is stored.
   */
  async importFences(ctx: TenantContext, collection: unknown): Promise<Fence[]> {
    const columns = importColumns(collection);
    const now = Date.now();
    const ids = columns.map(() => newId('fen'));
    await this.db.transaction().execute(async (trx) => {
      const scope = new TenantScope<GeofenceDB>(trx, ctx.tenantId);
      for (let i = 0; i < columns.length; i += 200) {
        await scope.insert('fences', columns.slice(i, i + 200).map((c, k) => ({ ...(c as Required<typeof c>), id: ids[i + k]!, created_at: now, updated_at: now })));
      }
    });
    // One reload in bulk rather than one refresh per fence.
    this.evaluator.forgetTenant(ctx.tenantId);
    await this.bus.publish(fenceChanged, ctx.tenantId, { tenantId: ctx.tenantId, fenceId: '*', kind: 'fence' });
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('fences').selectAll().where('id', 'in', ids).execute();
    const byId = new Map(rows.map((r) => [r.id, toFence(r)]));
    return ids.map((id) => byId.get(id)!);
  }

  /** Every fence of the tenant as a GeoJSON FeatureCollection (the import format). */
  async exportFences(ctx: TenantContext): Promise<{ type: 'FeatureCollection'; features: ReturnType<typeof toFeature>[] }> {
    return { type: 'FeatureCollection', features: (await this.listFences(ctx)).map(toFeature) };
  }

  // ---- proximity rules ----

  async createProximityRule(ctx: TenantContext, input: ProximityInput): Promise<ProximityRule> {
    const id = newId('prx');
    await new TenantScope(this.db, ctx.tenantId).insert('proximity_rules', { ...proximityColumns(input), id, created_at: Date.now() });
    await this.changedRules(ctx.tenantId, id);
    return this.getProximityRule(ctx, id);
  }

  async listProximityRules(ctx: TenantContext): Promise<ProximityRule[]> {
    return (await new TenantScope(this.db, ctx.tenantId).selectFrom('proximity_rules').selectAll().orderBy('id').execute()).map(toProximityRule);
  }

  async getProximityRule(ctx: TenantContext, id: string): Promise<ProximityRule> {
    const row = await new TenantScope(this.db, ctx.tenantId).selectFrom('proximity_rules').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('proximity rule', id);
    return toProximityRule(row);
  }

  async deleteProximityRule(ctx: TenantContext, id: string): Promise<void> {
    await this.getProximityRule(ctx, id);
    await this.db.transaction().execute(async (trx) => {
      const scope = new TenantScope<GeofenceDB>(trx, ctx.tenantId);
      await scope.deleteFrom('proximity_state').where('rule_id', '=', id).execute();
      await scope.deleteFrom('proximity_rules').where('id', '=', id).execute();
    });
    await this.changedRules(ctx.tenantId, id);
  }

  // ---- queries ----

  /** The devices inside a fence now. */
  async insideNow(ctx: TenantContext, fenceId: string): Promise<string[]> {
    return (await this.presenceIn(ctx, fenceId)).map((p) => p.deviceId);
  }

  /** The devices inside a fence now, with when each entered. */
  async presenceIn(ctx: TenantContext, fenceId: string): Promise<Array<{ deviceId: string; since: number; dwelled: boolean }>> {
    await this.getFence(ctx, fenceId);
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('presence').select(['device_id', 'since', 'dwelled']).where('fence_id', '=', fenceId).orderBy('device_id').execute();
    return rows.map((r) => ({ deviceId: r.device_id, since: Number(r.since), dwelled: r.dwelled === 1 }));
  }

  /** The fences a device is inside now. */
  async fencesOf(ctx: TenantContext, deviceId: string): Promise<string[]> {
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('presence').select('fence_id').where('device_id', '=', deviceId).orderBy('fence_id').execute();
    return rows.map((r) => r.fence_id);
  }

  /** The enabled fences whose shape contains the point (a point on a boundary is inside), by the index. */
  async containing(ctx: TenantContext, lon: number, lat: number): Promise<Fence[]> {
    checkPoint(lon, lat);
    const ids = (await this.evaluator.tenant(ctx.tenantId)).index.containing(lon, lat);
    if (ids.length === 0) return [];
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('fences').selectAll().where('id', 'in', ids).orderBy('id').execute();
    return rows.map(toFence);
  }

  /** Devices whose last position (as this service saw it) is within `radius` metres of the point, nearest first. */
  async devicesNear(ctx: TenantContext, lon: number, lat: number, radius: number, limit = 1000): Promise<NearbyDevice[]> {
    checkPoint(lon, lat);
    if (!(radius > 0 && radius <= 1_000_000)) throw invalid('radius', `expected metres greater than 0 and at most 1000000, got ${radius}`);
    return this.positions.near(ctx.tenantId, lon, lat, radius, limit);
  }

  /** Who was inside the fence at some moment of [from, to], from the stored enter and exit events. */
  async staysIn(ctx: TenantContext, fenceId: string, from: number, to: number): Promise<Stay[]> {
    await this.getFence(ctx, fenceId);
    if (!(to >= from)) throw invalid('to', `must not be before from (${from}), got ${to}`);
    return staysBetween(this.db, ctx.tenantId, fenceId, from, to);
  }

  /** Metres from a point to the nearest boundary of an enabled fence of the tenant, if one is within `within` metres. */
  async nearestBoundary(tenantId: string, lon: number, lat: number, within: number): Promise<number | undefined> {
    const { index } = await this.evaluator.tenant(tenantId);
    return index.nearestBoundary(lon, lat, within);
  }

  /**
   * The published events (not the device-reported ones) with a time from `from`, oldest first by
   * (time, id), after `cursor` if given: how the notification service catches up on events its
   * in-process bus lost in a crash.
   */
  async eventsAfter(ctx: TenantContext, from: number, cursor: { time: number; id: string } | null, limit: number): Promise<FenceEvent[]> {
    let query = new TenantScope(this.db, ctx.tenantId).selectFrom('fence_events').selectAll().where('time', '>=', from).where('type', 'not in', ['reported_enter', 'reported_exit']);
    if (cursor) query = query.where((eb) => eb.or([eb('time', '>', cursor.time), eb.and([eb('time', '=', cursor.time), eb('id', '>', cursor.id)])]));
    const rows = await query.orderBy('time').orderBy('id').limit(Math.min(Math.max(1, limit), 10_000)).execute();
    return rows.map(toEvent);
  }

  async listEvents(ctx: TenantContext, q: EventQuery): Promise<FenceEvent[]> {
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalid('limit', `must be a whole number from 1 to 10000, got ${q.limit}`);
    let query = new TenantScope(this.db, ctx.tenantId).selectFrom('fence_events').selectAll();
    if (q.fenceId) query = query.where('fence_id', '=', q.fenceId);
    if (q.deviceId) query = query.where('device_id', '=', q.deviceId);
    if (q.type) query = query.where('type', '=', q.type);
    if (q.from !== undefined) query = query.where('time', '>=', q.from);
    if (q.to !== undefined) query = query.where('time', '<=', q.to);
    const rows = await query.orderBy('time', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toEvent);
  }

  /** Resolves when every last position seen so far is written to the service's table. */
  flushPositions(): Promise<void> {
    return this.positions.flush();
  }

  // ---- a tenant's data as a whole ----

  async exportTenant(tenantId: string): Promise<Record<string, unknown[]>> {
    return exportTenantRows(this.db, geofenceTenantTables, tenantId);
  }

  /** Deletes every row of the tenant and forgets its fences and rules in memory. */
  async purgeTenant(tenantId: string): Promise<number> {
    this.evaluator.forgetTenant(tenantId);
    return this.db.transaction().execute((trx) => purgeTenantRows<GeofenceDB>(trx, geofenceTenantTables, tenantId));
  }

  async importTenant(tenantId: string, rows: Record<string, unknown[]>): Promise<number> {
    this.evaluator.forgetTenant(tenantId);
    return this.db.transaction().execute((trx) => importTenantRows<GeofenceDB>(trx, geofenceTenantTables, tenantId, rows));
  }

  private async changed(tenantId: string, fenceId: string): Promise<void> {
    await this.evaluator.refreshFence(tenantId, fenceId);
    await this.bus.publish(fenceChanged, tenantId, { tenantId, fenceId, kind: 'fence' });
  }

  private async changedRules(tenantId: string, ruleId: string): Promise<void> {
    await this.evaluator.refreshRules(tenantId);
    await this.bus.publish(fenceChanged, tenantId, { tenantId, fenceId: ruleId, kind: 'proximity' });
  }
}

function checkPoint(lon: number, lat: number): void {
  if (!Number.isFinite(lon) || lon < -180 || lon > 180) throw invalid('lon', `expected a longitude within [-180, 180], got ${lon}`);
  if (!Number.isFinite(lat) || lat < -90 || lat > 90) throw invalid('lat', `expected a latitude within [-90, 90], got ${lat}`);
}


