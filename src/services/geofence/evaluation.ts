/**
 * Evaluation: each accepted position against the tenant's fences and proximity rules. Compares the
 * device's previous state (presence, pairs within) with what the fix says and stores the changes and
 * their events in one transaction, then publishes the events. Also the dwell timer.
 *
 * Order: per device, evaluation runs one position at a time, and a fix not newer than the last one
 * evaluated (the watermark) changes nothing, so events leave in fix-time order.
 */
import type { ExpressionBuilder, Kysely } from 'kysely';
import { sql } from 'kysely';
import { Counter } from 'prom-client';
import { GroupCommit } from '../../core/group-commit.js';
import type { Logger } from '../../core/log.js';
import { registry } from '../../core/metrics.js';
import type { Position } from '../../core/types.js';
import type { Bus } from '../../ports/bus.js';
import { TenantScope } from '../../ports/store.js';
import { FenceIndex } from './engine.js';
import { fenceEvent, type FenceEvent, type FenceEventType, type ReportedEventType } from './events.js';
import { shapeOf, toFence, type AppliesTo } from './fences.js';
import type { LastPositions } from './positions.js';
import { pairKey, proximityChanges, toProximityRule, type PairChange, type ProximityRule } from './proximity.js';
import { isOpen, type Schedule } from './schedule.js';
import type { GeofenceDB } from './schema.js';
import { eventId, round2, type GroupCache, type KeyedQueue } from './support.js';

const evaluations = new Counter({ name: 'followme_geofence_evaluations_total', help: 'Positions evaluated against fences (late ones skipped)', labelNames: ['outcome'], registers: [registry] });
const fenceEventsTotal = new Counter({ name: 'followme_geofence_events_total', help: 'Fence events, by type', labelNames: ['type'], registers: [registry] });

/** What evaluation needs of a fence beyond its shape. */
interface FenceRuntime {
  name: string;
  enabled: boolean;
  schedule: Schedule | null;
  appliesTo: AppliesTo | null;
  dwellMinutes: number | null;
}

/** One tenant's fences (enabled ones indexed), proximity rules and the pairs within each other now. */
export interface TenantState {
  index: FenceIndex;
  fences: Map<string, FenceRuntime>;
  rules: ProximityRule[];
  within: Set<string>;
  /** Fences that name groups in appliesTo: while there are none, no position needs the device's groups. */
  groupFences: Set<string>;
}

interface Stay {
  since: number;
  dwelled: boolean;
}

export interface EvaluationOptions {
  /** The dwell timer fires for stays that reached their dwell time at least this long ago (server clock). Default 60 s. */
  dwellGraceMs: number;
  /** Cluster: whether this process owns the device's state now (the dwell timer leaves other devices to their owners). */
  owns?: ((deviceId: string) => boolean) | undefined;
}

/** What one evaluation writes: presence, pair state, its events and the device's watermark. */
interface Change {
  tenantId: string;
  deviceId: string;
  time: number;
  events: FenceEvent[];
  pairs: PairChange[];
}

/** Statements of at most this many rows (and conditions), below every parameter limit. */
const CHUNK = 500;

export class Evaluator {
  private readonly tenants = new Map<string, Promise<TenantState>>();
  /** Group commit of evaluations' writes; resolves per change with the error that kept it from being written, if any. */
  private readonly writes = new GroupCommit<Change, Error | undefined>((changes) => this.writeBatch(changes), 0, CHUNK);
  private readonly presence = new Map<string, Map<string, Stay>>();
  private readonly watermark = new Map<string, number>();

  constructor(
    private readonly db: Kysely<GeofenceDB>,
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly positions: LastPositions,
    private readonly groups: GroupCache,
    private readonly queue: KeyedQueue,
    private readonly options: EvaluationOptions,
  ) {}

  /** One accepted position (from the bus). */
  onPosition(p: Position): Promise<void> {
    const last = { time: p.time, lon: p.lon, lat: p.lat, accuracy: p.accuracy ?? null };
    this.positions.update(p.tenantId, p.deviceId, last);
    return this.queue.run(p.deviceId, async () => {
      await this.evaluate(p);
      this.positions.handled(p.tenantId, p.deviceId, last);
    });
  }

  private async evaluate(p: Position): Promise<void> {
    const last = await this.lastEvaluated(p.deviceId);
    if (last !== undefined && p.time <= last) {
      evaluations.inc({ outcome: 'skipped_late' });
      // older than what was evaluated (not a copy of it): a device's late fix, or positions out of order
      if (p.time < last) this.logger.info({ deviceId: p.deviceId, time: p.time, evaluatedUpTo: last }, 'position older than the last evaluated one of its device: skipped');
      if (p.time === last) await this.republish(p);
      return;
    }
    evaluations.inc({ outcome: 'evaluated' });
    const tenant = await this.tenant(p.tenantId);
    const stays = await this.presenceOf(p.tenantId, p.deviceId);
    for (const fenceId of stays.keys()) if (!tenant.fences.has(fenceId)) stays.delete(fenceId); // deleted fences
    const groups = tenant.groupFences.size > 0 ? await this.groups.get(p.tenantId, p.deviceId) : undefined;
    const active = (fenceId: string): boolean => {
      const f = tenant.fences.get(fenceId);
      return f !== undefined && f.enabled && isOpen(f.schedule, p.time) && applies(f.appliesTo, p.deviceId, groups);
    };
    const base = { tenantId: p.tenantId, deviceId: p.deviceId, lon: p.lon, lat: p.lat, accuracy: p.accuracy };
    const acc = (useAccuracy: boolean): number => (useAccuracy && p.accuracy !== undefined && p.accuracy > 0 ? p.accuracy : 0);

    // Dwell first: a stay that reached its dwell time by this fix's time, at that moment (≤ p.time).
    const events: FenceEvent[] = [];
    for (const [fenceId, stay] of stays) {
      const f = tenant.fences.get(fenceId)!;
      if (stay.dwelled || f.dwellMinutes === null || !tenant.index.has(fenceId) || !active(fenceId)) continue;
      const at = stay.since + f.dwellMinutes * 60_000;
      if (p.time < at) continue;
      const distance = round2(tenant.index.signedDistance(fenceId, p.lon, p.lat));
      events.push({
        ...base, id: eventId(p.deviceId, fenceId, stay.since, 'dwell'), fenceId, fenceName: f.name, type: 'dwell', time: at, distance,
        reason: { distance, accuracy: acc(true), previous: 'inside', since: stay.since, dwellMinutes: f.dwellMinutes, trigger: 'fix' },
      });
    }
    events.sort((a, b) => a.time - b.time);
    for (const t of tenant.index.evaluate(p.lon, p.lat, p.accuracy, stays, active)) {
      const distance = round2(t.distance);
      events.push({
        ...base, id: eventId(p.deviceId, t.fenceId, p.time, t.type), fenceId: t.fenceId, fenceName: tenant.fences.get(t.fenceId)!.name, type: t.type, time: p.time, distance,
        reason: { distance, accuracy: acc(t.hysteresis.useAccuracy), previous: t.type === 'enter' ? 'outside' : 'inside', exitMargin: t.hysteresis.exitMargin },
      });
    }
    const pairs = tenant.rules.length === 0 ? [] : await proximityChanges(p, tenant.rules, tenant.within, await this.positions.of(p.tenantId), (d) => this.groups.get(p.tenantId, d));
    for (const c of pairs) {
      const other = c.subjectId === p.deviceId ? c.otherId : c.subjectId;
      const distance = round2(c.distance);
      events.push({
        ...base, id: eventId(p.deviceId, `${c.rule.id}|${c.subjectId}|${c.otherId}`, p.time, c.type), fenceId: c.rule.id, fenceName: c.rule.name, type: c.type, time: p.time, distance, otherDeviceId: other,
        reason: { distance, accuracy: round2(c.accuracy), previous: c.type === 'within' ? 'apart' : 'within', threshold: c.rule.distance, exitMargin: c.rule.hysteresis.exitMargin },
      });
    }

    // Most positions change nothing: they cost no write at all. The others are written in group
    // commits: evaluations running meanwhile (other devices) share one transaction.
    if (events.length > 0) {
      const change: Change = { tenantId: p.tenantId, deviceId: p.deviceId, time: p.time, events, pairs };
      // Pairs involve two devices whose evaluations may run at once: those write alone, as before.
      const failed = pairs.length > 0 ? await this.db.transaction().execute((trx) => writeChanges(trx, [change])).then(() => undefined, (e: unknown) => e) : (await this.writes.submit([change]))[0];
      if (failed) {
        // The store disagrees with what this process cached (another process evaluated the device
        // while a partition changed hands): the retry starts from the store, as a new owner does.
        this.presence.delete(p.deviceId);
        this.watermark.delete(p.deviceId);
        throw failed;
      }
    }
    for (const e of events) {
      if (e.type === 'enter') stays.set(e.fenceId, { since: p.time, dwelled: false });
      else if (e.type === 'exit') stays.delete(e.fenceId);
      else if (e.type === 'dwell') stays.get(e.fenceId)!.dwelled = true;
    }
    for (const c of pairs) {
      if (c.type === 'within') tenant.within.add(pairKey(c.rule.id, c.subjectId, c.otherId));
      else tenant.within.delete(pairKey(c.rule.id, c.subjectId, c.otherId));
    }
    this.watermark.set(p.deviceId, p.time);
    await this.publish(events);
  }

  /**
   * The dwell timer: stays that reached their dwell time more than the grace ago by the server clock,
   * with no fix since to show it. Fires the dwell at that moment and moves the device's watermark there,
   * so a fix older than it that arrives later is late and changes nothing.
   */
  async dwellTick(now = Date.now()): Promise<number> {
    const cutoff = now - this.options.dwellGraceMs;
    const due = await this.db
      .selectFrom('presence as p')
      .innerJoin('fences as f', 'f.id', 'p.fence_id')
      .select(['p.tenant_id', 'p.device_id', 'p.fence_id', 'p.since', 'f.dwell_minutes'])
      .where('p.dwelled', '=', 0)
      .where('f.dwell_minutes', 'is not', null)
      .where('f.enabled', '=', 1)
      .where(sql<boolean>`p.since + f.dwell_minutes * 60000 <= ${cutoff}`)
      .execute();
    let fired = 0;
    const owns = this.options.owns;
    for (const row of due) {
      if (owns && !owns(row.device_id)) continue;
      fired += await this.queue.run(row.device_id, () => this.dwellByTimer(row.tenant_id, row.device_id, row.fence_id, now));
    }
    return fired;
  }

  private async dwellByTimer(tenantId: string, deviceId: string, fenceId: string, now: number): Promise<number> {
    const tenant = await this.tenant(tenantId);
    const f = tenant.fences.get(fenceId);
    const stay = (await this.presenceOf(tenantId, deviceId)).get(fenceId);
    if (!f || !stay || stay.dwelled || f.dwellMinutes === null) return 0;
    const at = stay.since + f.dwellMinutes * 60_000;
    const last = (await this.lastEvaluated(deviceId)) ?? -Infinity;
    if (at > now - this.options.dwellGraceMs || last >= at) return 0; // a fix at or after `at` has been judged already
    const groups = f.appliesTo?.groupIds.length ? await this.groups.get(tenantId, deviceId) : undefined;
    if (!f.enabled || !isOpen(f.schedule, at) || !applies(f.appliesTo, deviceId, groups)) return 0;
    const where = (await this.positions.of(tenantId)).get(deviceId);
    const distance = where && tenant.index.has(fenceId) ? round2(tenant.index.signedDistance(fenceId, where.lon, where.lat)) : 0;
    const event: FenceEvent = {
      id: eventId(deviceId, fenceId, stay.since, 'dwell'), tenantId, deviceId, fenceId, fenceName: f.name, type: 'dwell', time: at,
      lon: where?.lon ?? 0, lat: where?.lat ?? 0, accuracy: where?.accuracy ?? undefined, distance,
      reason: { distance, accuracy: 0, previous: 'inside', since: stay.since, dwellMinutes: f.dwellMinutes, trigger: 'timer' },
    };
    await this.db.transaction().execute(async (trx) => {
      await new TenantScope<GeofenceDB>(trx, tenantId).updateTable('presence').set({ dwelled: 1 }).where('device_id', '=', deviceId).where('fence_id', '=', fenceId).execute();
      await insertEvents(trx, [event]);
      await setWatermark(trx, tenantId, deviceId, at);
    });
    stay.dwelled = true;
    this.watermark.set(deviceId, at);
    await this.publish([event]);
    return 1;
  }

  // ---- state ----

  /** The tenant's fences and rules, loaded once (the index built in bulk) and kept up to date by refresh*. */
  tenant(tenantId: string): Promise<TenantState> {
    let loading = this.tenants.get(tenantId);
    if (!loading) {
      loading = (async () => {
        const scope = new TenantScope(this.db, tenantId);
        const rows = await scope.selectFrom('fences').selectAll().execute();
        const state: TenantState = { index: new FenceIndex(), fences: new Map(), rules: [], within: new Set(), groupFences: new Set() };
        const entries = [];
        for (const row of rows) {
          const fence = toFence(row);
          state.fences.set(row.id, runtimeOf(fence));
          if (fence.appliesTo?.groupIds.length) state.groupFences.add(row.id);
          if (fence.enabled) entries.push({ id: row.id, shape: shapeOf(row), hysteresis: fence.hysteresis });
        }
        state.index.load(entries);
        state.rules = (await scope.selectFrom('proximity_rules').selectAll().execute()).map(toProximityRule);
        for (const s of await scope.selectFrom('proximity_state').selectAll().execute()) state.within.add(pairKey(s.rule_id, s.device_id, s.other_id));
        this.logger.debug({ tenantId, fences: state.index.size, rules: state.rules.length }, 'fence index loaded');
        return state;
      })();
      this.tenants.set(tenantId, loading);
      loading.catch(() => this.tenants.delete(tenantId));
    }
    return loading;
  }

  /** Drops the presence and watermark cached for the devices that match: their next position reads them from the store (ownership moved). */
  forgetDevices(match: (deviceId: string) => boolean): void {
    for (const deviceId of this.presence.keys()) if (match(deviceId)) this.presence.delete(deviceId);
    for (const deviceId of this.watermark.keys()) if (match(deviceId)) this.watermark.delete(deviceId);
  }

  /** Drops a tenant's loaded fences and rules: the next position loads them again, in bulk (after an import). */
  forgetTenant(tenantId: string): void {
    this.tenants.delete(tenantId);
  }

  /** Brings one fence of a loaded tenant up to date with the store. */
  async refreshFence(tenantId: string, fenceId: string): Promise<void> {
    const loaded = this.tenants.get(tenantId);
    if (!loaded) return;
    const state = await loaded;
    const row = await new TenantScope(this.db, tenantId).selectFrom('fences').selectAll().where('id', '=', fenceId).executeTakeFirst();
    state.groupFences.delete(fenceId);
    if (!row) {
      state.index.remove(fenceId);
      state.fences.delete(fenceId);
      for (const stays of this.presence.values()) stays.delete(fenceId);
      return;
    }
    const fence = toFence(row);
    state.fences.set(fenceId, runtimeOf(fence));
    if (fence.appliesTo?.groupIds.length) state.groupFences.add(fenceId);
    if (fence.enabled) state.index.upsert(fenceId, shapeOf(row), fence.hysteresis);
    else state.index.remove(fenceId);
  }

  /** Reloads a loaded tenant's proximity rules and pair state. */
  async refreshRules(tenantId: string): Promise<void> {
    const loaded = this.tenants.get(tenantId);
    if (!loaded) return;
    const state = await loaded;
    const scope = new TenantScope(this.db, tenantId);
    state.rules = (await scope.selectFrom('proximity_rules').selectAll().execute()).map(toProximityRule);
    state.within = new Set((await scope.selectFrom('proximity_state').selectAll().execute()).map((s) => pairKey(s.rule_id, s.device_id, s.other_id)));
  }

  private async republish(p: Position): Promise<void> {
    const rows = await new TenantScope(this.db, p.tenantId).selectFrom('fence_events').selectAll().where('device_id', '=', p.deviceId).where('time', '=', p.time).where('type', 'not in', REPORTED).execute();
    for (const row of rows) await this.bus.publish(fenceEvent, row.device_id, toEvent(row));
  }

  private async publish(events: FenceEvent[]): Promise<void> {
    for (const e of events) {
      fenceEventsTotal.inc({ type: e.type });
      await this.bus.publish(fenceEvent, e.deviceId, e);
    }
  }

  /** One transaction for the batch; if it fails, each change alone, so that one bad change fails only its own position. */
  private async writeBatch(changes: Change[]): Promise<(Error | undefined)[]> {
    try {
      await this.db.transaction().execute((trx) => writeChanges(trx, changes));
      return changes.map(() => undefined);
    } catch (err) {
      if (changes.length === 1) return [err as Error];
      this.logger.warn({ err, changes: changes.length }, 'a group commit of fence events failed; writing its changes one by one');
      const alone: (Error | undefined)[] = [];
      for (const change of changes) alone.push(await this.db.transaction().execute((trx) => writeChanges(trx, [change])).then(() => undefined, (e: unknown) => e as Error));
      return alone;
    }
  }

  private async lastEvaluated(deviceId: string): Promise<number | undefined> {
    if (this.watermark.has(deviceId)) return this.watermark.get(deviceId);
    const row = await this.db.selectFrom('device_state').select('last_time').where('device_id', '=', deviceId).executeTakeFirst();
    if (row) this.watermark.set(deviceId, Number(row.last_time));
    return row ? Number(row.last_time) : undefined;
  }

  private async presenceOf(tenantId: string, deviceId: string): Promise<Map<string, Stay>> {
    let stays = this.presence.get(deviceId);
    if (!stays) {
      const rows = await new TenantScope(this.db, tenantId).selectFrom('presence').select(['fence_id', 'since', 'dwelled']).where('device_id', '=', deviceId).execute();
      stays = new Map(rows.map((r) => [r.fence_id, { since: Number(r.since), dwelled: r.dwelled === 1 }]));
      this.presence.set(deviceId, stays);
    }
    return stays;
  }
}

function runtimeOf(f: ReturnType<typeof toFence>): FenceRuntime {
  return { name: f.name, enabled: f.enabled, schedule: f.schedule, appliesTo: f.appliesTo, dwellMinutes: f.dwellMinutes };
}

/** Whether a fence applies to the device: no appliesTo means every device. */
function applies(a: AppliesTo | null, deviceId: string, groups: ReadonlySet<string> | undefined): boolean {
  if (!a) return true;
  if (a.deviceIds.includes(deviceId)) return true;
  if (groups) for (const g of a.groupIds) if (groups.has(g)) return true;
  return false;
}

export async function insertEvents(trx: Kysely<GeofenceDB>, events: FenceEvent[]): Promise<void> {
  await trx
    .insertInto('fence_events')
    .values(events.map((e) => ({
      id: e.id, tenant_id: e.tenantId, device_id: e.deviceId, fence_id: e.fenceId, fence_name: e.fenceName, type: e.type, time: e.time,
      lon: e.lon, lat: e.lat, accuracy: e.accuracy ?? null, distance: e.distance, reason: JSON.stringify(e.reason), other_device_id: e.otherDeviceId ?? null,
    })))
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

async function setWatermark(trx: Kysely<GeofenceDB>, tenantId: string, deviceId: string, time: number): Promise<void> {
  await trx
    .insertInto('device_state')
    .values({ tenant_id: tenantId, device_id: deviceId, last_time: time })
    .onConflict((oc) => oc.column('device_id').doUpdateSet({ last_time: time }))
    .execute();
}

/** Event types a device reported rather than Follow Me computed. */
export const REPORTED: ReportedEventType[] = ['reported_enter', 'reported_exit'];

/**
 * The writes of evaluations, as few statements as the rows allow: presence rows entered, dwelled
 * and left, pair state, events, watermarks, each a statement per 500 rows, in device order (two
 * processes writing the same rows during a hand-over lock them in the same order).
 */
async function writeChanges(trx: Kysely<GeofenceDB>, changes: Change[]): Promise<void> {
  const sorted = [...changes].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  const events = sorted.flatMap((c) => c.events);
  const ofType = (type: FenceEventType) => events.filter((e) => e.type === type);
  const samePresence = (rows: FenceEvent[]) => (eb: ExpressionBuilder<GeofenceDB, 'presence'>) =>
    eb.or(rows.map((e) => eb.and([eb('tenant_id', '=', e.tenantId), eb('device_id', '=', e.deviceId), eb('fence_id', '=', e.fenceId)])));
  for (const rows of chunks(ofType('enter'))) {
    await trx.insertInto('presence').values(rows.map((e) => ({ tenant_id: e.tenantId, device_id: e.deviceId, fence_id: e.fenceId, since: e.time, dwelled: 0 }))).execute();
  }
  for (const rows of chunks(ofType('dwell'))) await trx.updateTable('presence').set({ dwelled: 1 }).where(samePresence(rows)).execute();
  for (const rows of chunks(ofType('exit'))) await trx.deleteFrom('presence').where(samePresence(rows)).execute();
  for (const change of sorted) {
    const scope = new TenantScope<GeofenceDB>(trx, change.tenantId);
    for (const c of change.pairs) {
      if (c.type === 'within') await scope.insert('proximity_state', { rule_id: c.rule.id, device_id: c.subjectId, other_id: c.otherId, since: change.time });
      else await scope.deleteFrom('proximity_state').where('rule_id', '=', c.rule.id).where('device_id', '=', c.subjectId).where('other_id', '=', c.otherId).execute();
    }
  }
  for (const rows of chunks(events)) await insertEvents(trx, rows);
  for (const rows of chunks(sorted)) {
    await trx
      .insertInto('device_state')
      .values(rows.map((c) => ({ tenant_id: c.tenantId, device_id: c.deviceId, last_time: c.time })))
      .onConflict((oc) => oc.column('device_id').doUpdateSet((eb) => ({ last_time: eb.ref('excluded.last_time') })))
      .execute();
  }
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

export function toEvent(row: GeofenceDB['fence_events']): FenceEvent {
  const distance = row.distance;
  const event: FenceEvent = {
    id: row.id, tenantId: row.tenant_id, deviceId: row.device_id, fenceId: row.fence_id, fenceName: row.fence_name, type: row.type as FenceEvent['type'],
    time: Number(row.time), lon: row.lon, lat: row.lat, distance,
    reason: row.reason ? (JSON.parse(row.reason) as FenceEvent['reason']) : { distance, accuracy: row.accuracy ?? 0, previous: row.type === 'enter' ? 'outside' : 'inside' },
  };
  if ((REPORTED as string[]).includes(row.type)) event.source = 'device';
  if (row.accuracy !== null) event.accuracy = row.accuracy;
  if (row.other_device_id !== null) event.otherDeviceId = row.other_device_id;
  return event;
}

