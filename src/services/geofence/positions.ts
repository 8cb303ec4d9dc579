/**
 * The last position of every device, as the geofence service saw it on the bus: kept in memory for
 * proximity and "devices near P", written behind to its own table (`device_positions`) in batches, never
 * per position, once evaluated, and read back per tenant on first use after a start. It never reads the
 * tracker's tables.
 *
 * Per tenant the positions sit in an R-tree (rbush) beside the map by device, moved on every newer
 * fix, so "who is within R of P" reads the devices in a box around P, not every device of the tenant.
 */
import type { Kysely } from 'kysely';
import RBush from 'rbush';
import { bboxAround, distanceMetres, normalizeLon } from '../../core/geo.js';
import type { Logger } from '../../core/log.js';
import type { GeofenceDB } from './schema.js';

export interface LastPosition {
  time: number;
  lon: number;
  lat: number;
  accuracy: number | null;
}

export interface NearbyDevice extends LastPosition {
  deviceId: string;
  /** Metres from the query point. */
  distance: number;
}

interface Entry {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  deviceId: string;
  p: LastPosition;
}

/** One tenant's last positions: by device, and in an R-tree of points. */
export class TenantPositions {
  private readonly byDevice = new Map<string, Entry>();
  private readonly tree = new RBush<Entry>();
  private readonly box: number[] = [0, 0, 0, 0];

  get size(): number {
    return this.byDevice.size;
  }

  get(deviceId: string): LastPosition | undefined {
    return this.byDevice.get(deviceId)?.p;
  }

  /** Records a fix if it is newer than what is known of the device; answers whether it was. */
  set(deviceId: string, p: LastPosition): boolean {
    const known = this.byDevice.get(deviceId);
    if (known && known.p.time >= p.time) return false;
    if (known) this.tree.remove(known);
    const lon = normalizeLon(p.lon);
    const entry: Entry = { minX: lon, minY: p.lat, maxX: lon, maxY: p.lat, deviceId, p };
    this.byDevice.set(deviceId, entry);
    this.tree.insert(entry);
    return true;
  }

  /**
   * Every device whose last position may lie within `metres` of (lon, lat): the ones in a box that
   * holds the whole circle (split in two where it crosses the antimeridian; the full width of
   * longitudes near a pole). Callers measure the exact distance.
   */
  *candidates(lon: number, lat: number, metres: number): Iterable<[string, LastPosition]> {
    const [west, south, east, north] = bboxAround(normalizeLon(lon), lat, metres, this.box) as [number, number, number, number];
    const parts: [number, number][] = west < -180 ? [[west + 360, 180], [-180, east]] : east > 180 ? [[west, 180], [-180, east - 360]] : [[west, east]];
    for (const [minX, maxX] of parts) for (const e of this.tree.search({ minX, minY: south, maxX, maxY: north })) yield [e.deviceId, e.p];
  }
}

export class LastPositions {
  private readonly tenants = new Map<string, TenantPositions>();
  private readonly loading = new Map<string, Promise<TenantPositions>>();
  private readonly dirty = new Map<string, { tenantId: string; deviceId: string; p: LastPosition }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<GeofenceDB>,
    private readonly logger: Logger,
  ) {}

  /** Starts writing behind every `intervalMs`. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Records a fix in memory if it is newer than what is known of the device (before it is evaluated). */
  update(tenantId: string, deviceId: string, p: LastPosition): void {
    this.tenantOf(tenantId).set(deviceId, p);
  }

  /**
   * The fix has been evaluated: it is written behind, if it is still the device's newest. So the
   * table never holds a position that was not evaluated, and after a crash the catch-up
   * (catch-up.ts) replays from there.
   */
  handled(tenantId: string, deviceId: string, p: LastPosition): void {
    if (this.tenants.get(tenantId)?.get(deviceId) === p) this.dirty.set(deviceId, { tenantId, deviceId, p });
  }

  private tenantOf(tenantId: string): TenantPositions {
    let tenant = this.tenants.get(tenantId);
    if (!tenant) {
      tenant = new TenantPositions();
      this.tenants.set(tenantId, tenant);
    }
    return tenant;
  }

  /** Every device of the tenant with its last position (stored ones merged in on first use). */
  async of(tenantId: string): Promise<TenantPositions> {
    let loading = this.loading.get(tenantId);
    if (!loading) {
      loading = (async () => {
        const rows = await this.db.selectFrom('device_positions').selectAll().where('tenant_id', '=', tenantId).execute();
        const tenant = this.tenantOf(tenantId);
        for (const r of rows) tenant.set(r.device_id, { time: Number(r.time), lon: r.lon, lat: r.lat, accuracy: r.accuracy });
        return tenant;
      })();
      this.loading.set(tenantId, loading);
      loading.catch(() => this.loading.delete(tenantId));
    }
    return loading;
  }

  /** The devices whose last position is within `radius` metres of (lon, lat), nearest first. */
  async near(tenantId: string, lon: number, lat: number, radius: number, limit: number): Promise<NearbyDevice[]> {
    const devices = await this.of(tenantId);
    const out: NearbyDevice[] = [];
    for (const [deviceId, p] of devices.candidates(lon, lat, radius)) {
      const distance = distanceMetres(lon, lat, p.lon, p.lat);
      if (distance <= radius) out.push({ deviceId, ...p, distance: Math.round(distance * 100) / 100 });
    }
    out.sort((a, b) => a.distance - b.distance || (a.deviceId < b.deviceId ? -1 : 1));
    return out.slice(0, limit);
  }

  /** Writes every changed position in one transaction. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.dirty.size === 0) return;
      const batch = [...this.dirty.values()];
      this.dirty.clear();
      try {
        await this.db.transaction().execute(async (trx) => {
          for (let i = 0; i < batch.length; i += 500) {
            const rows = batch.slice(i, i + 500).map((d) => ({ tenant_id: d.tenantId, device_id: d.deviceId, time: d.p.time, lon: d.p.lon, lat: d.p.lat, accuracy: d.p.accuracy }));
            await trx
              .insertInto('device_positions')
              .values(rows)
              .onConflict((oc) =>
                oc.column('device_id').doUpdateSet((eb) => ({ time: eb.ref('excluded.time'), lon: eb.ref('excluded.lon'), lat: eb.ref('excluded.lat'), accuracy: eb.ref('excluded.accuracy') })),
              )
              .execute();
          }
        });
      } catch (err) {
        // Keep them for the next round unless newer ones arrived meanwhile.
        for (const d of batch) if (!this.dirty.has(d.deviceId)) this.dirty.set(d.deviceId, d);
        this.logger.warn({ err, devices: batch.length }, 'could not write last positions; retrying at the next flush');
      }
    });
    return this.flushing;
  }
}
