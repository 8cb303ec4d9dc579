/** The tracker: judges, stores and publishes positions; keeps the last known one per device. */
import { sql, type Kysely } from 'kysely';
import { Counter, Histogram } from 'prom-client';
import { registry } from '../../core/metrics.js';
import { invalid, notFound } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { TenantContext } from '../../core/tenancy.js';
import type { Fix, Position } from '../../core/types.js';
import { NotOwner, partitionOf, settingsChanged, type Bus, type Ownership, type Subscription } from '../../ports/bus.js';
import { exportTenantRows, importTenantRows, purgeTenantRows, TenantScope, type Store } from '../../ports/store.js';
import { deviceConnection, deviceStatusChanged, positionAccepted, type DeviceConnection } from './events.js';
import { GroupCommit } from '../../core/group-commit.js';
import { positionLog, type AppendStatus, type PositionLog } from './position-log.js';
import { check, type IngestResult, type Previous } from './pipeline.js';
import { DEVICE_PARTITIONS, trackerTenantTables, type PositionRow, type StatusRow, type TrackerDB } from './schema.js';
import { defaultSettings, mergeSettings, type TrackingSettings } from './settings.js';
import { defaultVisibility, mergeVisibility, type VisibilityPolicy } from './visibility.js';
import { tripsAndStops, type Stop, type Trip } from './history.js';
import { applyFix, emptyStatus, lastSign, settleConnection, viewStatus, type DeviceStatus, type Motion, type StatusRecord } from './status.js';

export interface DeviceRef {
  tenantId: string;
  deviceId: string;
}

export interface TrackerOptions {
  groupCommitMs: number;
  groupCommitMax: number;
  logger: Logger;
  /**
   * Cluster: the partitions of devices whose state (previous fix, status) this process keeps. The
   * composition root routes `ingest` and `isStopped` to the owner; connection events are consumed
   * per owned partition; a partition's cached state is dropped when it is acquired or released.
   */
  ownership?: Ownership | undefined;
  /** How often devices that fell silent are looked for (the offline sweep); default 5 s. */
  offlineSweepMs?: number | undefined;
}

export interface HistoryQuery {
  from?: number | undefined;
  to?: number | undefined;
  limit?: number | undefined;
  /** Paging: the `time` of the last position of the previous page. */
  after?: number | undefined;
}

interface Pending {
  row: PositionRow;
  /** Index of the fix in the ingest call. */
  slot: number;
  late: boolean;
}

const STATUS_FLUSH_MS = 1000;
const MAX_TRACK = 200_000;
const RETENTION_EVERY_MS = 3600_000;
const OFFLINE_SWEEP_MS = 5000;
/** Devices per sweep query, and queries per sweep (the rest waits for the next tick). */
const SWEEP_BATCH = 500;
const SWEEP_ROUNDS = 40;

const positions = new Counter({ name: 'followme_tracker_positions_total', help: 'Fixes judged by the tracker, by outcome', labelNames: ['status'], registers: [registry] });
const latePositions = new Counter({ name: 'followme_tracker_late_positions_total', help: 'Accepted fixes older than the device\'s last known one (offline uploads)', registers: [registry] });
const rejections = new Counter({ name: 'followme_tracker_rejections_total', help: 'Refused fixes, by field', labelNames: ['field'], registers: [registry] });
const commitSeconds = new Histogram({ name: 'followme_tracker_commit_seconds', help: 'Duration of one group commit', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: [registry] });
const filteredCount = new Counter({ name: 'followme_tracker_filtered_total', help: 'Valid fixes dropped by a tenant filter, by filter', labelNames: ['filter'], registers: [registry] });
const retained = new Counter({ name: 'followme_tracker_retention_deleted_total', help: 'Positions deleted by retention', registers: [registry] });
const wentOffline = new Counter({ name: 'followme_tracker_offline_total', help: 'Devices that went offline, by why (silent: no report for offlineAfterSeconds; disconnected)', labelNames: ['why'], registers: [registry] });
const commitSize = new Histogram({ name: 'followme_tracker_commit_positions', help: 'Positions per group commit', buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000], registers: [registry] });

interface DeviceState {
  /** The newest stored fix, in fix-time order. */
  previous: Previous | undefined;
  status: StatusRecord;
}

export class TrackerService {
  private readonly devices = new Map<string, Promise<DeviceState>>();
  private readonly settings = new Map<string, Promise<TrackingSettings>>();
  private readonly dirty = new Map<string, StatusRecord>();
  /** Tenants purged in this process: late events about their devices are dropped, not written back. */
  private readonly purged = new Set<string>();
  private readonly commit: GroupCommit<Pending, AppendStatus>;
  /**
   * Loads of devices' state not cached here, together: after a hand-over every device of the
   * partition is new to this process, and one query per device would queue its ingests behind the
   * database's connections.
   */
  private readonly loads = new GroupCommit<DeviceRef, DeviceState>((devices) => this.loadStates(devices), 0, 500);
  private readonly log: PositionLog;
  private readonly timers: NodeJS.Timeout[] = [];
  private subscription: Subscription | undefined;
  private settingsSubscription: Subscription | undefined;
  private detach: (() => Promise<void>) | undefined;
  private retention: Promise<void> | undefined;
  private sweeping: Promise<unknown> | undefined;

  constructor(
    private readonly store: Store<TrackerDB>,
    private readonly bus: Bus,
    private readonly options: TrackerOptions,
  ) {
    this.log = positionLog(store);
    this.commit = new GroupCommit((items) => this.append(items), options.groupCommitMs, options.groupCommitMax);
  }

  private get db(): Kysely<TrackerDB> {
    return this.store.db;
  }

  /** Starts consuming connection events and the background jobs (status flush, retention). */
  async start(): Promise<void> {
    const owner = this.options.ownership;
    if (owner) {
      // State of a partition is loaded from the store by whichever process owns it now.
      this.detach = await owner.attach({ name: 'tracker state', acquire: (p) => this.forget(owner, p), release: (p) => this.forget(owner, p) }, 'state');
    }
    this.subscription = await this.bus.consume(deviceConnection, 'tracker-status', (m) => this.onConnection(m.data), { owner });
    this.settingsSubscription = await this.bus.subscribe(settingsChanged, (m) => {
      if (m.data.service !== 'tracker') return;
      return this.reloadSettings(m.data.tenantId).catch((err: unknown) => this.options.logger.error({ err, tenantId: m.data.tenantId }, 'reloading changed tracking settings failed'));
    });
    const flush = setInterval(() => void this.saveStatuses().catch((err: unknown) => this.options.logger.error({ err }, 'saving device statuses failed')), STATUS_FLUSH_MS);
    const retain = setInterval(() => void this.enforceRetention(), RETENTION_EVERY_MS);
    // one sweep at a time: a tick that finds the previous one running skips
    const sweep = setInterval(() => {
      this.sweeping ??= this.sweepSilent()
        .catch((err: unknown) => this.options.logger.error({ err }, 'offline sweep failed; trying again at the next tick'))
        .finally(() => {
          this.sweeping = undefined;
        });
    }, this.options.offlineSweepMs ?? OFFLINE_SWEEP_MS);
    flush.unref();
    retain.unref();
    sweep.unref();
    this.timers.push(flush, retain, sweep);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.subscription?.close();
    await this.settingsSubscription?.close();
    await this.detach?.();
    await this.retention;
    await this.sweeping;
    await this.flush();
  }

  /**
   * The hot path: check each fix (in fix-time order, so speed and jitter compare neighbours),
   * append the good ones durably (group commit), then publish them. Resolves with one result per
   * fix, in the order given, once everything accepted is committed.
   */
  async ingest(device: DeviceRef, fixes: Fix[]): Promise<IngestResult[]> {
    this.refuseUnlessOwner(device);
    const receivedAt = Date.now();
    const [settings, state] = await Promise.all([this.settingsOf(device.tenantId), this.stateOf(device)]);
    // Nothing judged or written yet: a partition handed on meanwhile leaves these fixes to its next owner.
    this.refuseUnlessOwner(device);
    const results: IngestResult[] = new Array(fixes.length);
    const toStore: Pending[] = [];
    const timeOf = (i: number) => (Number.isFinite(fixes[i]!.time) ? fixes[i]!.time : -Infinity);
    const order = fixes.map((_, i) => i).sort((a, b) => timeOf(a) - timeOf(b) || a - b);
    // Judging is synchronous: two frames of one device in flight see each other's fixes.
    let motionChanged = false;
    let alive = false;
    for (const i of order) {
      const fix = fixes[i]!;
      const inOrder = state.previous === undefined || fix.time > state.previous.time;
      const verdict = check({ fix, receivedAt, previous: inOrder ? state.previous : undefined }, settings);
      // a valid fix the filters drop (jitter of a device standing still) still says the device is there
      if (verdict?.status !== 'rejected') alive = true;
      if (verdict) {
        results[i] = verdict;
        positions.inc({ status: verdict.status });
        if (verdict.status === 'rejected') rejections.inc({ field: verdict.field ?? 'unknown' });
        else filteredCount.inc({ filter: verdict.filter ?? 'unknown' });
        continue;
      }
      toStore.push({ row: toRow(device, fix, receivedAt), slot: i, late: !inOrder });
      if (inOrder) {
        motionChanged = applyFix(state.status, fix, receivedAt, settings) || motionChanged;
        state.previous = { time: fix.time, lon: fix.lon, lat: fix.lat, storedTime: fix.time, moving: state.status.motion === 'moving' || (fix.speed ?? 0) > 1 };
        this.dirty.set(device.deviceId, state.status);
      }
    }
    let backOnline = false;
    if (alive) {
      state.status.lastReceivedAt = receivedAt;
      backOnline = settleConnection(state.status, receivedAt, settings) === 'online';
      this.dirty.set(device.deviceId, state.status);
    }
    if (toStore.length === 0) {
      if (backOnline) await this.publishStatus(state.status, settings);
      return results;
    }
    const stored = await this.commit.submit(toStore);
    const published: Position[] = [];
    stored.forEach((status, j) => {
      const item = toStore[j]!;
      results[item.slot] = { status };
      positions.inc({ status });
      // A duplicate is published again: the process that stored it may have died before publishing
      // it (the device got no ack and resent). Consumers are idempotent; a duplicate is rare.
      if (status === 'accepted' || status === 'duplicate') published.push(toPosition(item.row, item.late));
      if (status === 'accepted' && item.late) latePositions.inc();
    });
    published.sort((a, b) => a.time - b.time);
    for (const position of published) {
      await this.bus.publish(positionAccepted, device.deviceId, position);
    }
    if (motionChanged || backOnline) await this.publishStatus(state.status, settings);
    return results;
  }

  /**
   * In a cluster only the owner of the device's partition judges its fixes: a process that does not
   * own it refuses (NotOwner), and so does the owner once the partition is being handed on (a stop, a
   * rebalance). The caller asks again and reaches the (next) owner: a hand-over waits only for the
   * ingests already judged, not for every one queued behind the database.
   */
  private refuseUnlessOwner(device: DeviceRef): void {
    const owner = this.options.ownership;
    if (!owner) return;
    const p = owner.partitionOf(device.deviceId);
    if (!owner.owns(p) || owner.leaving(p)) throw new NotOwner(p);
  }

  /** Writes back and drops the cached state of the devices in a partition (ownership moves). */
  private async forget(owner: Ownership, partition: number): Promise<void> {
    await this.commit.flush();
    await this.saveStatuses();
    for (const deviceId of this.devices.keys()) if (owner.partitionOf(deviceId) === partition) this.devices.delete(deviceId);
  }

  /** Whether stop detection says the device stands still (for the reporting interval). */
  async isStopped(device: DeviceRef): Promise<boolean> {
    return (await this.stateOf(device)).status.motion === 'stopped';
  }

  // ---- settings ----

  async getSettings(ctx: TenantContext): Promise<TrackingSettings> {
    const { visibility: _visibility, ...settings } = (await this.settingsOf(ctx.tenantId)) as TrackingSettings & { visibility?: unknown };
    return settings;
  }

  /** Changes some of a tenant's tracking settings; unknown keys and out-of-range values are refused, nothing half-changed. */
  async updateSettings(ctx: TenantContext, change: unknown): Promise<TrackingSettings> {
    const previous = await this.settingsOf(ctx.tenantId);
    const next = mergeSettings(previous, change);
    await this.saveSettings(ctx.tenantId, next);
    if (next.offlineAfterSeconds !== previous.offlineAfterSeconds) await this.rescheduleOffline(ctx.tenantId, next);
    return { ...next };
  }

  private async saveSettings(tenantId: string, next: TrackingSettings): Promise<void> {
    const settings = JSON.stringify(next);
    await this.db.insertInto('tenant_settings').values({ tenant_id: tenantId, settings }).onConflict((oc) => oc.column('tenant_id').doUpdateSet({ settings })).execute();
    this.settings.set(tenantId, Promise.resolve(next));
    await this.bus.publish(settingsChanged, tenantId, { tenantId, service: 'tracker', what: 'settings' });
  }

  /**
   * Another process (or this one) changed a tenant's settings: the cached copy is read again from
   * the store, and a new offline threshold moves the deadlines of the devices this process holds.
   */
  private async reloadSettings(tenantId: string): Promise<void> {
    const cached = this.settings.get(tenantId);
    if (!cached) return; // nothing cached: the next use reads the store
    const previous = await cached.catch(() => undefined);
    this.settings.delete(tenantId);
    const next = await this.settingsOf(tenantId);
    if (previous && next.offlineAfterSeconds !== previous.offlineAfterSeconds) await this.rescheduleOffline(tenantId, next);
  }

  /** What the tenant's operators may see of positions (src/services/tracker/visibility.ts). */
  async getVisibility(ctx: TenantContext): Promise<VisibilityPolicy> {
    return this.visibilityOf(ctx.tenantId);
  }

  /** Changes the visibility policy; bad values are refused with the field named, nothing half-changed. */
  async updateVisibility(ctx: TenantContext, change: unknown): Promise<VisibilityPolicy> {
    const visibility = mergeVisibility(await this.visibilityOf(ctx.tenantId), change);
    await this.saveSettings(ctx.tenantId, { ...(await this.settingsOf(ctx.tenantId)), visibility } as TrackingSettings);
    return visibility;
  }

  private async visibilityOf(tenantId: string): Promise<VisibilityPolicy> {
    const stored = (await this.settingsOf(tenantId)) as TrackingSettings & { visibility?: VisibilityPolicy };
    return stored.visibility ?? { ...defaultVisibility, workingHours: { ...defaultVisibility.workingHours } };
  }

  /** A new offline threshold moves the sweep's deadline of every online device of the tenant. */
  private async rescheduleOffline(tenantId: string, settings: TrackingSettings): Promise<void> {
    await this.saveStatuses();
    const threshold = settings.offlineAfterSeconds * 1000;
    // one statement for the whole tenant: the last sign of life (lastSign in SQL) + the new threshold;
    // a deadline already past is the next sweep's to publish
    await new TenantScope(this.db, tenantId)
      .updateTable('device_status')
      .set({ due_at: sql<number>`(case when connected = 1 and connection_at is not null and (last_received_at is null or connection_at > last_received_at) then connection_at else last_received_at end) + ${threshold}` })
      .where('due_at', 'is not', null)
      .execute();
    for (const [deviceId, loading] of this.devices) {
      const { status } = await loading;
      if (status.tenantId === tenantId && status.offlineSince === null) {
        const sign = lastSign(status);
        status.dueAt = sign === null ? null : sign + threshold;
        this.dirty.set(deviceId, status);
      }
    }
  }

  private settingsOf(tenantId: string): Promise<TrackingSettings> {
    let loading = this.settings.get(tenantId);
    if (!loading) {
      loading = this.db
        .selectFrom('tenant_settings')
        .select('settings')
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst()
        .then((row) => ({ ...defaultSettings, ...(row ? (JSON.parse(row.settings) as Partial<TrackingSettings>) : {}) }));
      this.settings.set(tenantId, loading);
      loading.catch(() => this.settings.delete(tenantId));
    }
    return loading;
  }

  // ---- status ----

  /** Every device's status in a tenant (devices never seen are absent). */
  async statuses(ctx: TenantContext): Promise<DeviceStatus[]> {
    await this.saveStatuses();
    const settings = await this.settingsOf(ctx.tenantId);
    const rows = await new TenantScope(this.db, ctx.tenantId).selectFrom('device_status').selectAll().orderBy('device_id').execute();
    const now = Date.now();
    return rows.map((r) => viewStatus(fromStatusRow(r), now, settings));
  }

  private async onConnection(event: DeviceConnection): Promise<void> {
    if (this.purged.has(event.tenantId)) return;
    const state = await this.stateOf(event);
    if (state.status.connectionAt !== null && event.at < state.status.connectionAt) return; // an older event, redelivered
    state.status.connected = event.connected;
    state.status.connectionAt = event.at;
    const settings = await this.settingsOf(event.tenantId);
    if (settleConnection(state.status, Date.now(), settings, event.at) === 'offline') wentOffline.inc({ why: 'disconnected' });
    this.dirty.set(event.deviceId, state.status);
    await this.publishStatus(state.status, settings);
  }

  /**
   * The offline sweep: devices whose last sign of life is older than their tenant's
   * offlineAfterSeconds go offline, once (published on `tracker.status`, where the offline rules
   * hear it). The queue is the `due_at` index, so a tick reads only the devices due now, not every
   * device; in a cluster each process takes the partitions it owns, so each device is swept by one
   * process, from the state that process keeps for it.
   */
  async sweepSilent(now = Date.now()): Promise<number> {
    const owner = this.options.ownership;
    const held = owner ? [...Array(owner.partitions).keys()].filter((p) => owner.owns(p)) : undefined;
    if (held?.length === 0) return 0;
    await this.saveStatuses();
    let offline = 0;
    for (let round = 0; round < SWEEP_ROUNDS; round++) {
      let query = this.db.selectFrom('device_status').select(['tenant_id', 'device_id']).where('due_at', '<=', now);
      if (held) query = query.where('part', 'in', held);
      const rows = await query.orderBy('due_at').limit(SWEEP_BATCH).execute();
      for (const row of rows) {
        if (this.purged.has(row.tenant_id) || (owner && !owner.owns(owner.partitionOf(row.device_id)))) continue;
        const [state, settings] = await Promise.all([this.stateOf({ tenantId: row.tenant_id, deviceId: row.device_id }), this.settingsOf(row.tenant_id)]);
        // the cached state may be newer than the row (a report in the last second): it decides
        const due = state.status.dueAt ?? now;
        if (settleConnection(state.status, now, settings, Math.min(due, now)) === 'offline') {
          offline++;
          wentOffline.inc({ why: 'silent' });
          await this.publishStatus(state.status, settings, now);
        }
        this.dirty.set(row.device_id, state.status); // settled: offline (not due) or due later
      }
      await this.saveStatuses();
      if (rows.length < SWEEP_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (offline > 0) this.options.logger.info({ offline }, 'offline sweep: devices fell silent');
    return offline;
  }

  private async publishStatus(status: StatusRecord, settings: TrackingSettings, now = Date.now()): Promise<void> {
    await this.bus.publish(deviceStatusChanged, status.deviceId, { tenantId: status.tenantId, ...viewStatus(status, now, settings) });
  }

  private async saveStatuses(): Promise<void> {
    if (this.dirty.size === 0) return;
    const partitions = this.options.ownership?.partitions ?? DEVICE_PARTITIONS;
    const rows = [...this.dirty.values()].map((s) => toStatusRow(s, partitions));
    this.dirty.clear();
    await this.log.saveStatuses(rows);
  }

  private stateOf(device: DeviceRef): Promise<DeviceState> {
    let loading = this.devices.get(device.deviceId);
    if (!loading) {
      loading = this.loads.submit([device]).then(([state]) => state!);
      this.devices.set(device.deviceId, loading);
      loading.catch(() => this.devices.delete(device.deviceId));
    }
    return loading;
  }

  /** The stored state of devices not cached here, two statements for all of them. */
  private async loadStates(devices: DeviceRef[]): Promise<DeviceState[]> {
    const ids = [...new Set(devices.map((d) => d.deviceId))];
    const [lasts, statuses] = await Promise.all([
      this.db.selectFrom('last_known').select(['device_id', 'time', 'lon', 'lat']).where('device_id', 'in', ids).execute(),
      this.db.selectFrom('device_status').selectAll().where('device_id', 'in', ids).execute(),
    ]);
    const lastOf = new Map(lasts.map((r) => [r.device_id, r]));
    const statusOf = new Map(statuses.map((r) => [r.device_id, r]));
    return devices.map((device) => {
      const last = lastOf.get(device.deviceId);
      const status = statusOf.get(device.deviceId);
      const record = status ? fromStatusRow(status) : emptyStatus(device.tenantId, device.deviceId);
      const previous = last && { time: last.time, lon: last.lon, lat: last.lat, storedTime: last.time, moving: record.motion === 'moving' };
      return { previous, status: record };
    });
  }

  // ---- retention ----

  /** Deletes positions older than each tenant's retention, device by device, yielding between them so ingest goes on. */
  async enforceRetention(now = Date.now()): Promise<number> {
    if (this.retention) {
      await this.retention;
      return 0;
    }
    let deleted = 0;
    this.retention = (async () => {
      const devices = await this.db.selectFrom('last_known').select(['tenant_id', 'device_id']).execute();
      for (const { tenant_id: tenantId, device_id: deviceId } of devices) {
        const { retentionDays } = await this.settingsOf(tenantId);
        if (retentionDays === 0) continue;
        const result = await this.db.deleteFrom('positions').where('device_id', '=', deviceId).where('time', '<', now - retentionDays * 86_400_000).executeTakeFirst();
        deleted += Number(result.numDeletedRows);
        await new Promise((resolve) => setImmediate(resolve));
      }
      retained.inc(deleted);
      if (deleted > 0) this.options.logger.info({ deleted }, 'retention: old positions deleted');
    })()
      .catch((err: unknown) => this.options.logger.error({ err }, 'retention failed'))
      .finally(() => {
        this.retention = undefined;
      });
    await this.retention;
    return deleted;
  }

  /** Last known positions of a tenant's devices (all, or the ones named). */
  async lastKnownPositions(ctx: TenantContext, deviceIds?: string[]): Promise<Position[]> {
    let query = new TenantScope(this.db, ctx.tenantId).selectFrom('last_known').selectAll();
    if (deviceIds) {
      if (deviceIds.length === 0) return [];
      query = query.where('device_id', 'in', deviceIds);
    }
    const rows = await query.orderBy('device_id').execute();
    return rows.map((r) => toPosition(r, false));
  }

  /** A device's positions in a time range, oldest first, in pages. */
  async history(ctx: TenantContext, deviceId: string, q: HistoryQuery): Promise<Position[]> {
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw invalid('limit', `must be a whole number from 1 to 10000, got ${q.limit}`);
    if (q.from !== undefined && q.to !== undefined && q.from > q.to) throw invalid('from', 'must not be after to');
    let query = new TenantScope(this.db, ctx.tenantId).selectFrom('positions').selectAll().where('device_id', '=', deviceId);
    if (q.from !== undefined) query = query.where('time', '>=', q.from);
    if (q.to !== undefined) query = query.where('time', '<=', q.to);
    if (q.after !== undefined) query = query.where('time', '>', q.after);
    const rows = await query.orderBy('time').limit(limit).execute();
    return rows.map((r) => toPosition(r, false));
  }

  /** A whole track in a time range (up to MAX_TRACK positions), for trips and exports. */
  async track(ctx: TenantContext, deviceId: string, from: number | undefined, to: number | undefined): Promise<Position[]> {
    const track: Position[] = [];
    for (;;) {
      const page = await this.history(ctx, deviceId, { from, to, limit: 10_000, after: track.at(-1)?.time });
      track.push(...page);
      if (page.length < 10_000) return track;
      if (track.length >= MAX_TRACK) throw invalid('from', `the range holds more than ${MAX_TRACK} positions; ask for a shorter one`);
    }
  }

  /** Trips and stops of a device in a time range, by the tenant's stop detection settings. */
  async trips(ctx: TenantContext, deviceId: string, from: number | undefined, to: number | undefined): Promise<{ trips: Trip[]; stops: Stop[] }> {
    const settings = await this.settingsOf(ctx.tenantId);
    return tripsAndStops(await this.track(ctx, deviceId, from, to), settings.stopRadius, settings.stopMinutes);
  }

  async lastKnownOf(ctx: TenantContext, deviceId: string): Promise<Position> {
    const [position] = await this.lastKnownPositions(ctx, [deviceId]);
    if (!position) throw notFound('last known position of device', deviceId);
    return position;
  }

  /** Commits whatever waits and saves statuses; call at shutdown before closing the store. */
  async flush(): Promise<void> {
    await this.commit.flush();
    await this.saveStatuses();
  }

  // ---- a tenant's data as a whole ----

  async exportTenant(tenantId: string): Promise<Record<string, unknown[]>> {
    await this.flush();
    return exportTenantRows(this.db, trackerTenantTables, tenantId);
  }

  /** Deletes every row of the tenant, table by table (no long transaction: the position log may commit in between; a purge cut short can run again). */
  async purgeTenant(tenantId: string): Promise<number> {
    this.purged.add(tenantId);
    await this.flush();
    for (const [deviceId, state] of this.devices) if ((await state).status.tenantId === tenantId) this.devices.delete(deviceId);
    for (const [deviceId, status] of this.dirty) if (status.tenantId === tenantId) this.dirty.delete(deviceId);
    this.settings.delete(tenantId);
    const purged = await purgeTenantRows(this.db, trackerTenantTables, tenantId);
    await this.bus.publish(settingsChanged, tenantId, { tenantId, service: 'tracker', what: 'tenant' });
    return purged;
  }

  async importTenant(tenantId: string, rows: Record<string, unknown[]>): Promise<number> {
    this.purged.delete(tenantId);
    this.settings.delete(tenantId);
    const imported = await importTenantRows(this.db, trackerTenantTables, tenantId, rows);
    await this.bus.publish(settingsChanged, tenantId, { tenantId, service: 'tracker', what: 'tenant' });
    return imported;
  }

  private async append(items: Pending[]): Promise<AppendStatus[]> {
    const stopTimer = commitSeconds.startTimer();
    const statuses = await this.log.append(items.map((p) => p.row));
    stopTimer();
    commitSize.observe(items.length);
    return statuses;
  }
}

function toRow(device: DeviceRef, fix: Fix, receivedAt: number): PositionRow {
  return {
    tenant_id: device.tenantId,
    device_id: device.deviceId,
    time: fix.time,
    lon: fix.lon,
    lat: fix.lat,
    accuracy: fix.accuracy ?? null,
    altitude: fix.altitude ?? null,
    speed: fix.speed ?? null,
    heading: fix.heading ?? null,
    battery: fix.battery ?? null,
    charging: fix.charging === undefined ? null : fix.charging ? 1 : 0,
    received_at: receivedAt,
  };
}

function toPosition(row: PositionRow, late: boolean): Position {
  const position: Position = { tenantId: row.tenant_id, deviceId: row.device_id, time: row.time, lon: row.lon, lat: row.lat, receivedAt: row.received_at, late };
  if (row.accuracy !== null) position.accuracy = row.accuracy;
  if (row.altitude !== null) position.altitude = row.altitude;
  if (row.speed !== null) position.speed = row.speed;
  if (row.heading !== null) position.heading = row.heading;
  if (row.battery !== null) position.battery = row.battery;
  if (row.charging !== null) position.charging = row.charging === 1;
  return position;
}

function toStatusRow(s: StatusRecord, partitions: number): StatusRow {
  return {
    tenant_id: s.tenantId,
    device_id: s.deviceId,
    connected: s.connected ? 1 : 0,
    connection_at: s.connectionAt,
    motion: s.motion,
    motion_since: s.motionSince,
    anchor_lon: s.anchorLon,
    anchor_lat: s.anchorLat,
    anchor_time: s.anchorTime,
    last_fix_at: s.lastFixAt,
    last_received_at: s.lastReceivedAt,
    battery: s.battery,
    charging: s.charging === null ? null : s.charging ? 1 : 0,
    offline_since: s.offlineSince,
    due_at: s.dueAt,
    part: partitionOf(s.deviceId, partitions),
  };
}

function fromStatusRow(r: StatusRow): StatusRecord {
  return {
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    connected: r.connected === 1,
    connectionAt: r.connection_at,
    motion: r.motion as Motion,
    motionSince: r.motion_since,
    anchorLon: r.anchor_lon,
    anchorLat: r.anchor_lat,
    anchorTime: r.anchor_time,
    lastFixAt: r.last_fix_at,
    lastReceivedAt: r.last_received_at,
    battery: r.battery,
    charging: r.charging === null ? null : r.charging === 1,
    offlineSince: r.offline_since,
    dueAt: r.due_at,
  };
}
