/**
 * The tracker's offline sweep: devices whose reports stop go offline once, found through the
 * due_at index; with partition owners (a cluster) each device is swept by the one process that
 * owns it. Two TrackerService instances share one SQLite file (and, when it is reachable, one
 * PostgreSQL schema through two pools) here, as two processes share a store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { createLogger } from '../../src/core/log.js';
import { systemContext } from '../../src/core/tenancy.js';
import { partitionOf, type Ownership, type PartitionUser } from '../../src/ports/bus.js';
import type { Store } from '../../src/ports/store.js';
import { PostgresStoreFactory } from '../../src/adapters/store-postgres.js';
import pg from 'pg';
import { serviceReachable } from '../helpers.js';
import { deviceStatusChanged, TrackerService, trackerMigrations, type DeviceStatus, type TrackerDB } from '../../src/services/tracker/index.js';

const PARTITIONS = 16;
const FIRST_HALF = new Set([0, 1, 2, 3, 4, 5, 6, 7]);
const SECOND_HALF = new Set([8, 9, 10, 11, 12, 13, 14, 15]);
const logger = createLogger(process.env.FOLLOWME_LOG_LEVEL ?? 'silent');

/** Partition ownership fixed for the test: what the leases would hand this process. */
class FixedOwnership implements Ownership {
  readonly name = 'tracker';
  readonly partitions = PARTITIONS;
  constructor(private readonly owned: Set<number>) {}
  partitionOf(key: string): number {
    return partitionOf(key, PARTITIONS);
  }
  owns(partition: number): boolean {
    return this.owned.has(partition);
  }
  leaving(): boolean {
    return false;
  }
  async attach(user: PartitionUser): Promise<() => Promise<void>> {
    for (const p of this.owned) await user.acquire(p);
    return async () => undefined;
  }
}

async function sweepOncePerOwner(stores: Store<TrackerDB>[], bus: MemoryBus, published: (DeviceStatus & { tenantId: string })[], tenantId: string): Promise<void> {
  const ownerA = new FixedOwnership(FIRST_HALF);
  const a = new TrackerService(stores[0]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger, ownership: ownerA });
  const b = new TrackerService(stores[1]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger, ownership: new FixedOwnership(SECOND_HALF) });
  const now = Date.now();
  const devices = Array.from({ length: 200 }, (_, i) => `dev_sweep_${i}`);
  const owner = (id: string) => (ownerA.owns(partitionOf(id, PARTITIONS)) ? a : b);
  for (const id of devices) {
    const [result] = await owner(id).ingest({ tenantId, deviceId: id }, [{ time: now - 1000, lon: 13.4, lat: 52.5 }]);
    assert.equal(result!.status, 'accepted');
  }
  await a.flush();
  await b.flush();
  const ofA = devices.filter((id) => owner(id) === a).length;
  assert.ok(ofA > 50 && ofA < 150, `both processes own devices (${ofA} of 200 in A)`);

  assert.equal(await a.sweepSilent(now + 599_000), 0, 'nobody is due before the threshold');
  assert.equal(await b.sweepSilent(now + 599_000), 0);
  const later = Date.now() + 601_000; // past every deadline: the last report arrived just now
  const [swept, sweptB] = await Promise.all([a.sweepSilent(later), b.sweepSilent(later)]);
  assert.equal(swept, ofA, 'A swept exactly the devices of its partitions');
  assert.equal(sweptB, 200 - ofA, 'B the others');
  await bus.drain();
  const offline = published.filter((s) => s.connection === 'offline' && s.tenantId === tenantId);
  assert.equal(offline.length, 200);
  assert.equal(new Set(offline.map((s) => s.deviceId)).size, 200, 'one offline per device');
  // offline since its deadline (its report's arrival + 600 s), not since the sweep: the alert id comes from it
  assert.ok(offline.every((s) => s.offlineSince! >= now + 600_000 && s.offlineSince! < later), JSON.stringify(offline[0]));

  assert.equal(await a.sweepSilent(later + 60_000), 0, 'a second sweep finds nothing');
  assert.equal(await b.sweepSilent(later + 60_000), 0);
  const reloaded = new TrackerService(stores[1]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger, ownership: new FixedOwnership(SECOND_HALF) });
  assert.equal(await reloaded.sweepSilent(later + 120_000), 0, 'nor does a restarted process: offline is stored');
}

describe('the offline sweep', () => {
  const dir = mkdtempSync(join(tmpdir(), 'followme-offline-'));
  const bus = new MemoryBus();
  const stores: Store<TrackerDB>[] = [];
  const published: (DeviceStatus & { tenantId: string })[] = [];
  let a: TrackerService;
  let b: TrackerService;
  let ownerA: FixedOwnership;

  before(async () => {
    const factory = new SqliteStoreFactory({ dataDir: dir, synchronous: 'normal' });
    stores.push(await factory.open<TrackerDB>('tracker', trackerMigrations), await factory.open<TrackerDB>('tracker', trackerMigrations));
    ownerA = new FixedOwnership(FIRST_HALF);
    a = new TrackerService(stores[0]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger, ownership: ownerA });
    b = new TrackerService(stores[1]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger, ownership: new FixedOwnership(SECOND_HALF) });
    await bus.subscribe(deviceStatusChanged, (m) => {
      published.push(m.data);
    });
  });
  after(async () => {
    await a.flush();
    await b.flush();
    for (const s of stores) await s.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes each silent device offline once, in the process that owns its partition', () => sweepOncePerOwner(stores, bus, published, 'ten_sweep'));

  it("moves the deadlines of a tenant's online devices when its offline threshold changes", async () => {
    const tracker = new TrackerService(stores[0]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger });
    const ctx = systemContext('ten_threshold');
    const now = Date.now();
    await tracker.ingest({ tenantId: ctx.tenantId, deviceId: 'dev_threshold' }, [{ time: now - 1000, lon: 13.4, lat: 52.5 }]);
    await tracker.flush();
    assert.equal(await tracker.sweepSilent(now + 120_000), 0, 'online for 600 s');
    await tracker.updateSettings(ctx, { offlineAfterSeconds: 60 });
    // a process that never cached the device: only the stored deadline can bring it to the sweep
    const other = new TrackerService(stores[1]!, bus, { groupCommitMs: 0, groupCommitMax: 1000, logger });
    assert.equal(await other.sweepSilent(now + 120_000), 1, 'offline after 60 s now');
    assert.equal(await other.sweepSilent(now + 180_000), 0, 'and once');
  });

  it('finds the due devices among 100,000 through the due_at index, not by reading them all', async (t) => {
    const store = stores[0]!;
    const sync = store.sync!;
    const now = Date.now();
    const insert = sync.prepare('INSERT INTO device_status (tenant_id, device_id, connected, motion, last_received_at, due_at, part) VALUES (?, ?, 0, ?, ?, ?, ?)');
    sync.transaction(() => {
      for (let i = 0; i < 100_000; i++) {
        const id = `dev_bulk_${i}`;
        // 100 devices fell silent; the rest reported within the last ten minutes
        const last = i % 1000 === 0 ? now - 700_000 : now - (i % 500) * 1000;
        insert.run('ten_bulk', id, 'unknown', last, last + 600_000, partitionOf(id, PARTITIONS));
      }
    })();
    const plan = (sync.prepare('EXPLAIN QUERY PLAN SELECT tenant_id, device_id FROM device_status WHERE due_at <= ? AND part IN (0, 1, 2, 3, 4, 5, 6, 7) ORDER BY due_at LIMIT 500') as unknown as { all(...args: unknown[]): { detail: string }[] }).all(now);
    assert.match(plan.map((r) => r.detail).join('; '), /USING INDEX device_status_due/);
    // baseline, same run: what a tick would cost without the index, reading every device's last report
    const scan = sync.prepare('SELECT tenant_id, device_id FROM device_status WHERE last_received_at + 600000 <= ?') as unknown as { all(...args: unknown[]): unknown[] };
    // the best of five runs each, so a GC pause or a busy machine does not decide
    let scanMs = Infinity;
    let idleMs = Infinity;
    for (let i = 0; i < 5; i++) {
      let started = performance.now();
      assert.equal(scan.all(now - 700_000 + 599_000).length, 0);
      scanMs = Math.min(scanMs, performance.now() - started);
      started = performance.now();
      assert.equal(await a.sweepSilent(now - 700_000 + 599_000), 0);
      idleMs = Math.min(idleMs, performance.now() - started);
    }
    const started = performance.now();
    const [x, y] = await Promise.all([a.sweepSilent(now), b.sweepSilent(now)]);
    const dueMs = performance.now() - started;
    assert.equal(x + y, 100, 'the 100 silent devices, each once');
    t.diagnostic(`100,000 devices: a sweep with nothing due took ${idleMs.toFixed(1)} ms (a full scan of the table: ${scanMs.toFixed(1)} ms, ${(scanMs / idleMs).toFixed(0)}×), one with 100 due ${dueMs.toFixed(1)} ms`);
    assert.ok(idleMs < scanMs, `an idle tick reads the index only: ${idleMs.toFixed(1)} ms, a scan ${scanMs.toFixed(1)} ms`);
  });
});

describe('the offline sweep on PostgreSQL', () => {
  const prefix = `toff${process.pid}_`;
  const url = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const bus = new MemoryBus();
  const stores: Store<TrackerDB>[] = [];
  const published: (DeviceStatus & { tenantId: string })[] = [];
  let reachable = false;

  before(async () => {
    reachable = await serviceReachable('PostgreSQL', 5432);
    if (!reachable) return;
    // two pools on one schema: two processes sharing the tracker's store
    for (let i = 0; i < 2; i++) stores.push(await new PostgresStoreFactory({ connectionString: url, schemaPrefix: prefix, poolSize: 2 }).open<TrackerDB>('tracker', trackerMigrations));
    await bus.subscribe(deviceStatusChanged, (m) => {
      published.push(m.data);
    });
  });
  after(async () => {
    for (const s of stores) await s.close();
    await bus.close();
    if (!reachable) return;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${prefix}tracker" CASCADE`);
    await client.end();
  });

  it('takes each silent device offline once, in the process that owns its partition', async (t) => {
    if (!reachable) return t.skip('PostgreSQL is not reachable on 127.0.0.1:5432');
    await sweepOncePerOwner(stores, bus, published, 'ten_sweep_pg');
  });
});
