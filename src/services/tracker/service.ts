/** The tracker: judges, stores and publishes positions; keeps the last known one per device. */
import type { Kysely } from 'kysely';
import { Counter, Histogram } from 'prom-client';
import { registry } from '../../core/metrics.js';
import { invalid, notFound } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { TenantContext } from '../../core/tenancy.js';
import type { Fix, Position } from '../../core/types.js';
import type { Bus } from '../../ports/bus.js';
import { TenantScope, type Store } from '../../ports/store.js';
import { positionAccepted } from './events.js';
import { GroupCommit } from './group-commit.js';
import { positionLog, type AppendStatus, type PositionLog } from './position-log.js';
import { check, defaultLimits, type IngestResult } from './pipeline.js';
import type { PositionRow, TrackerDB } from './schema.js';

export interface DeviceRef {
  tenantId: string;
  deviceId: string;
}

export interface TrackerOptions {
  groupCommitMs: number;
  groupCommitMax: number;
  logger: Logger;
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
}

const positions = new Counter({ name: 'followme_tracker_positions_total', help: 'Fixes judged by the tracker, by outcome', labelNames: ['status'], registers: [registry] });
const latePositions = new Counter({ name: 'followme_tracker_late_positions_total', help: 'Accepted fixes older than the device\'s last known one (offline uploads)', registers: [registry] });
const rejections = new Counter({ name: 'followme_tracker_rejections_total', help: 'Refused fixes, by field', labelNames: ['field'], registers: [registry] });
const commitSeconds = new Histogram({ name: 'followme_tracker_commit_seconds', help: 'Duration of one group commit', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5], registers: [registry] });
const commitSize = new Histogram({ name: 'followme_tracker_commit_positions', help: 'Positions per group commit', buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000], registers: [registry] });

export class TrackerService {
  private readonly lastKnown = new Map<string, number>();
  private readonly commit: GroupCommit<Pending, AppendStatus>;
  private readonly log: PositionLog;

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

  /**
   * The hot path: check each fix, append the good ones durably (group commit), then publish them.
   * Resolves with one result per fix once everything accepted is committed.
   */
  async ingest(device: DeviceRef, fixes: Fix[]): Promise<IngestResult[]> {
    const receivedAt = Date.now();
    const lastKnownTime = await this.lastKnownTime(device.deviceId);
    const results: IngestResult[] = new Array(fixes.length);
    const toStore: Pending[] = [];
    const slots: number[] = [];
    fixes.forEach((fix, i) => {
      const refused = check({ fix, receivedAt, lastKnownTime }, defaultLimits);
      if (refused) {
        results[i] = refused;
        positions.inc({ status: 'rejected' });
        rejections.inc({ field: refused.field ?? 'unknown' });
        return;
      }
      toStore.push({ row: toRow(device, fix, receivedAt) });
      slots.push(i);
    });
    if (toStore.length > 0) {
      const stored = await this.commit.submit(toStore);
      const published: Position[] = [];
      stored.forEach((status, j) => {
        results[slots[j]!] = { status };
        if (status === 'duplicate') {
          positions.inc({ status: 'duplicate' });
          return;
        }
        positions.inc({ status: 'accepted' });
        published.push(toPosition(toStore[j]!.row, false));
      });
      // Time order within the batch; anything older than what was the newest before is late.
      published.sort((a, b) => a.time - b.time);
      let newest = lastKnownTime ?? -Infinity;
      for (const position of published) {
        position.late = position.time < newest;
        if (position.late) latePositions.inc();
        newest = Math.max(newest, position.time);
        this.lastKnown.set(device.deviceId, Math.max(this.lastKnown.get(device.deviceId) ?? -Infinity, position.time));
        await this.bus.publish(positionAccepted, device.deviceId, position);
      }
    }
    return results;
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

  async lastKnownOf(ctx: TenantContext, deviceId: string): Promise<Position> {
    const [position] = await this.lastKnownPositions(ctx, [deviceId]);
    if (!position) throw notFound('last known position of device', deviceId);
    return position;
  }

  /** Commits whatever waits; call at shutdown before closing the store. */
  async flush(): Promise<void> {
    await this.commit.flush();
  }

  private async lastKnownTime(deviceId: string): Promise<number | undefined> {
    if (this.lastKnown.has(deviceId)) return this.lastKnown.get(deviceId);
    const row = await this.db.selectFrom('last_known').select('time').where('device_id', '=', deviceId).executeTakeFirst();
    if (row) this.lastKnown.set(deviceId, row.time);
    return row?.time;
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
