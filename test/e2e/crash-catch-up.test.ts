/**
 * The embedded deployment after an unclean stop: the in-process bus keeps nothing across a crash,
 * so positions the tracker had committed and acknowledged may never have reached the geofence
 * service. The state a crash leaves behind is made exactly: the tracker alone (its real SQLite file,
 * a bus nobody listens on) accepts fixes that cross into a fence, as if the process died right after
 * acknowledging them. The next start must evaluate them (one enter each, at the fix's time), and the
 * start after that must not evaluate them again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { createLogger } from '../../src/core/log.js';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { TrackerService, trackerMigrations, type TrackerDB } from '../../src/services/tracker/index.js';
import { GeofenceService, geofenceMigrations, type GeofenceDB } from '../../src/services/geofence/index.js';
import { seedTenant, startTestPlatform } from '../helpers.js';

const CENTRE = [13.4, 52.52] as const;
const OUTSIDE = { lon: 13.41, lat: 52.52 };

void describe('catch-up after an unclean stop (embedded)', () => {
  void it('evaluates the positions the tracker committed but the geofence service never saw, once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'followme-crash-'));
    try {
      const p1 = await startTestPlatform({}, dataDir);
      const { tenant, devices } = await seedTenant(p1);
      const [seen, unseen] = devices.map((d) => ({ tenantId: tenant.id as string, deviceId: d.device.id }));
      const fence = (await p1.api('POST', `/tenants/${tenant.id}/fences`, { name: 'Yard', geometry: { type: 'Point', coordinates: CENTRE }, radius: 200 })).body;
      const t0 = Date.now() - 120_000;
      // `seen` reports outside and the geofence service evaluates it; then a clean stop
      assert.equal((await p1.tracker.ingest(seen!, [{ time: t0, ...OUTSIDE, accuracy: 5 }]))[0]!.status, 'accepted');
      await p1.bus.drain();
      await p1.close();

      // The moment before a crash: the tracker commits and acknowledges; the bus loses the message.
      const stores = new SqliteStoreFactory({ dataDir, synchronous: 'normal' });
      const store = await stores.open<TrackerDB>('tracker', trackerMigrations);
      const tracker = new TrackerService(store, new MemoryBus(), { groupCommitMs: 2, groupCommitMax: 100, logger: createLogger('silent') });
      await tracker.start();
      const inside = { lon: CENTRE[0], lat: CENTRE[1], accuracy: 5 };
      const acked = [
        ...(await tracker.ingest(seen!, [{ time: t0 + 10_000, ...inside }, { time: t0 + 20_000, ...inside }])),
        ...(await tracker.ingest(unseen!, [{ time: t0 + 15_000, ...inside }])),
      ];
      assert.deepEqual(acked.map((r) => r.status), ['accepted', 'accepted', 'accepted']);
      await tracker.stop();
      await store.close();

      const enters = async (p: typeof p1, deviceId: string) =>
        ((await p.api('GET', `/tenants/${tenant.id}/events?deviceId=${deviceId}&fenceId=${fence.id}`)).body as { type: string; time: number }[]).filter((e) => e.type === 'enter');

      const p2 = await startTestPlatform({}, dataDir);
      await p2.bus.drain();
      assert.deepEqual((await enters(p2, seen!.deviceId)).map((e) => e.time), [t0 + 10_000], 'the seen device entered at the first missed fix');
      assert.deepEqual((await enters(p2, unseen!.deviceId)).map((e) => e.time), [t0 + 15_000], 'the device never seen entered too');
      assert.deepEqual((await p2.api("GET", `/tenants/${tenant.id}/fences/${fence.id}/devices`)).body.deviceIds.sort(), [seen!.deviceId, unseen!.deviceId].sort());
      await p2.close();

      // a clean restart replays nothing and doubles nothing
      const p3 = await startTestPlatform({}, dataDir);
      await p3.bus.drain();
      assert.equal((await enters(p3, seen!.deviceId)).length, 1);
      assert.equal((await enters(p3, unseen!.deviceId)).length, 1);
      await p3.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  /**
   * The rules' side: the geofence service committed an enter and published it on the in-process
   * bus, and the process died before the notification rules turned it into an alert. The state is
   * made exactly: the tracker and the geofence service alone (their real SQLite files, a bus without
   * the notification service) take a fix into the fence, evaluate it and store the enter. Returns
   * the alerts the rule has sent after the next start, and after the start after that.
   */
  async function alertsAfterLostEvent(env: Record<string, string>): Promise<{ afterCrash: string[]; afterRestart: string[]; eventId: string }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'followme-crash-alert-'));
    try {
      const p1 = await startTestPlatform(env, dataDir);
      const { tenant, devices, operatorToken } = await seedTenant(p1);
      const device = { tenantId: tenant.id as string, deviceId: devices[0]!.device.id };
      const fence = (await p1.api('POST', `/tenants/${tenant.id}/fences`, { name: 'Yard', geometry: { type: 'Point', coordinates: CENTRE }, radius: 200 })).body;
      const rule = await p1.api('POST', `/tenants/${tenant.id}/rules`, { name: 'yard watch', on: 'enter', fenceId: fence.id, target: { deviceIds: [devices[1]!.device.id] }, title: '{device} {event} {fence}', cooldownSeconds: 0 });
      assert.equal(rule.status, 201, JSON.stringify(rule.body));
      const inside = { lon: CENTRE[0], lat: CENTRE[1], accuracy: 5 };
      const t0 = Date.now() - 120_000;
      // in, out: one alert, both events handled, then a clean stop
      await p1.tracker.ingest(device, [{ time: t0, ...OUTSIDE, accuracy: 5 }, { time: t0 + 10_000, ...inside }, { time: t0 + 20_000, ...OUTSIDE, accuracy: 5 }]);
      await p1.bus.drain();
      const alerts = async (p: typeof p1) =>
        ((await p.api('GET', `/tenants/${tenant.id}/messages`, undefined, operatorToken)).body as { id: string; title: string }[]).filter((m) => m.title.endsWith('entered Yard')).map((m) => m.id).sort();
      assert.equal((await alerts(p1)).length, 1);
      await p1.close();

      // The moment before a crash: the enter is evaluated and stored; its message goes nowhere.
      const stores = new SqliteStoreFactory({ dataDir, synchronous: 'normal' });
      const bus = new MemoryBus();
      const trackerStore = await stores.open<TrackerDB>('tracker', trackerMigrations);
      const geofenceStore = await stores.open<GeofenceDB>('geofence', geofenceMigrations);
      const tracker = new TrackerService(trackerStore, bus, { groupCommitMs: 2, groupCommitMax: 100, logger: createLogger('silent') });
      const geofence = new GeofenceService(geofenceStore, bus, createLogger('silent'));
      await tracker.start();
      await geofence.start();
      assert.equal((await tracker.ingest(device, [{ time: t0 + 30_000, ...inside }]))[0]!.status, 'accepted');
      await bus.drain();
      await geofence.stop();
      await tracker.stop();
      await geofenceStore.close();
      await trackerStore.close();

      const p2 = await startTestPlatform(env, dataDir);
      await p2.bus.drain();
      const enters = ((await p2.api('GET', `/tenants/${tenant.id}/events?deviceId=${device.deviceId}&fenceId=${fence.id}`)).body as { id: string; type: string; time: number }[]).filter((e) => e.type === 'enter');
      assert.deepEqual(enters.map((e) => e.time).sort(), [t0 + 10_000, t0 + 30_000], 'the second enter was stored before the crash');
      const afterCrash = await alerts(p2);
      await p2.close();
      const p3 = await startTestPlatform(env, dataDir);
      await p3.bus.drain();
      const afterRestart = await alerts(p3);
      await p3.close();
      return { afterCrash, afterRestart, eventId: enters.find((e) => e.time === t0 + 30_000)!.id };
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  void it('turns a fence event stored but not yet handled by the rules into its alert at the next start, once', async () => {
    const { afterCrash, afterRestart, eventId } = await alertsAfterLostEvent({});
    assert.equal(afterCrash.length, 2, 'the lost enter alerted at start');
    assert.ok(afterCrash.some((id) => id.startsWith(`msg_${eventId}_`)), 'as the alert of that event');
    assert.deepEqual(afterRestart, afterCrash, 'a clean restart fires nothing again');
  });

  void it('loses that alert with the catch-up switched off (FOLLOWME_CATCH_UP=off)', async () => {
    const { afterCrash } = await alertsAfterLostEvent({ FOLLOWME_CATCH_UP: 'off' });
    assert.equal(afterCrash.length, 1);
  });
});
