/**
 * The cluster on loopback: several processes of every role (`node dist/src/main.js --roles …`) on
 * the local NATS and PostgreSQL. Simulated devices walk in and out of a fence over the native
 * WebSocket, spread over the edges, while workers are killed with SIGKILL and restarted and then every
 * process is restarted in turn (SIGTERM: graceful). Afterwards: every acknowledged position is stored
 * exactly once, every crossing made exactly one enter and one exit, every message reached every
 * recipient exactly once, and the server's delivery records agree with the devices.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, serviceReachable, sleep } from '../helpers.js';
import { Cluster, type Proc } from '../support/cluster.js';
import { Walker, type WalkerFix } from '../support/walker.js';

const DEVICES = Number(process.env.CLUSTER_TEST_DEVICES ?? 40);
const ROUNDS = 6; // out, in, … , out: ROUNDS enters and ROUNDS exits per device
const MESSAGES = 3;
const CENTRE = { lon: 13.3777, lat: 52.5163 };
const OUT = { lon: CENTRE.lon + 0.015, lat: CENTRE.lat }; // about 1 km east: far outside the 300 m fence

const up = (await serviceReachable('NATS', 4222)) && (await serviceReachable('PostgreSQL', 5432));

// Bigger runs (CLUSTER_TEST_DEVICES) get more time: every device adds work to a few shared cores.
describe('a cluster of processes per role on NATS and PostgreSQL', { skip: !up && 'NATS or PostgreSQL is not reachable', timeout: 300_000 + DEVICES * 600 }, () => {
  // CLUSTER_LEASE_MS: the test's leases are 5 s (quick fail-over); the deployments' default is 10 s
  const cluster = new Cluster('cluster', process.env.CLUSTER_LEASE_MS ? { FOLLOWME_LEASE_MS: process.env.CLUSTER_LEASE_MS } : {});
  const byRole: Record<string, Proc[]> = {};
  let failed = false;

  before(async () => {
    const migrated = cluster.migrate();
    assert.equal(migrated.status, 0, migrated.output);
    // Run twice: migrations are idempotent.
    const again = cluster.migrate();
    assert.equal(again.status, 0, again.output);
    const layout: [string, number][] = [['client', 2], ['tracker', 2], ['geofence', 2], ['notification', 2], ['api', 1], ['edge', 3]];
    for (const [role] of layout) byRole[role] = [];
    // Three at a time: a dozen Node processes starting at once on a small machine take long to be ready.
    const starts = layout.flatMap(([role, count]) => Array.from({ length: count }, (_, i) => async () => void (byRole[role]![i] = await cluster.start(`${role}-${i}`, role))));
    await Promise.all(Array.from({ length: 3 }, async () => {
      for (let next = starts.shift(); next; next = starts.shift()) await next();
    }));
  });
  after(async () => {
    const keep = failed || process.env.CLUSTER_KEEP_LOGS === '1'; // each process's log, with its start and stop phases timed
    await cluster.destroy(keep);
  });

  it('loses nothing and doubles nothing while workers are killed and every process is restarted', async (t) => {
    const began = Date.now();
    const phase = (what: string) => t.diagnostic(`${((Date.now() - began) / 1000).toFixed(1)} s: ${what}`);
    try {
      const api = (method: string, path: string, body?: unknown) => cluster.api(method, path, body);
      const tenant = (await api('POST', '/tenants', { name: 'Cluster' })).body;
      assert.ok(tenant?.id, JSON.stringify(tenant));
      const tp = (path: string) => `/tenants/${tenant.id}${path}`;
      // the default plan allows 1,000 devices; bigger runs need a plan without that limit
      if (DEVICES > 900) assert.equal((await api('PATCH', tp('/plan'), { name: 'cluster-test', quotas: { devices: 0, messagesPerDay: 0 } })).status, 200);
      assert.equal((await api('PATCH', tp('/settings/tracking'), { maxSpeed: 0, jitterDistance: 0 })).status, 200);
      const fence = (await api('POST', tp('/fences'), { name: 'Gate', geometry: { type: 'Point', coordinates: [CENTRE.lon, CENTRE.lat] }, radius: 300 })).body;
      assert.ok(fence.id);
      // An AppError from a remote service still names its field in problem+json.
      const bad = await api('POST', tp('/fences'), { name: 'Bad', geometry: { type: 'Point', coordinates: [200, 0] }, radius: 10 });
      assert.equal(bad.status, 400);
      assert.ok(JSON.stringify(bad.body).includes('coordinates'), JSON.stringify(bad.body));

      // Provisioning spans every service, here in other processes: a customer with starter fences
      // and templates, its export naming them, and its deletion removing it everywhere.
      const made = await api('POST', '/provisioning/tenants', { name: 'Provisioned', owner: { email: 'owner@provisioned.test', name: 'Owner' }, starter: { fencesAround: [CENTRE.lon, CENTRE.lat], templates: true } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const exported = (await api('GET', `/tenants/${made.body.tenant.id}/export`)).body;
      assert.equal(exported?.services?.geofence?.fences?.length, 2, 'the starter fences, from a geofence process');
      assert.ok((exported.services.notification.templates?.length ?? 0) > 0, 'the starter templates, from a notification process');
      const removed = await api('DELETE', `/tenants/${made.body.tenant.id}`);
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      assert.equal(removed.body.services.geofence.fences.length, 2, 'deletion answers with the export');
      assert.deepEqual((await api('GET', `/tenants/${made.body.tenant.id}/fences`)).body, [], 'the fences are gone from the geofence store');

      // The first 40 one by one (the single-device route through the cluster), the rest in bulk.
      const devices: { id: string; token: string }[] = [];
      for (let i = 0; i < Math.min(DEVICES, 40); i += 20) {
        const batch = await Promise.all(Array.from({ length: Math.min(20, DEVICES - i) }, (_, k) => api('POST', tp('/devices'), { name: `walker-${i + k}` })));
        for (const r of batch) devices.push({ id: r.body.device.id, token: r.body.token });
      }
      for (let i = devices.length; i < DEVICES; i += 1000) {
        const rows = Array.from({ length: Math.min(1000, DEVICES - i) }, (_, k) => ({ name: `walker-${i + k}` }));
        const r = await cluster.api<{ device: { id: string }; token: string }[]>('POST', tp('/devices/bulk'), rows);
        assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 500));
        for (const d of r.body) devices.push({ id: d.device.id, token: d.token });
      }
      assert.equal(devices.length, DEVICES);
      const group = (await api('POST', tp('/groups'), { name: 'Everyone', deviceIds: devices.map((d) => d.id) })).body;
      const edgeUrls = () => byRole.edge!.map((p) => p.url);
      const walkers = devices.map((d, i) => new Walker(d.id, d.token, edgeUrls, i));
      await Promise.all(walkers.map((w) => w.connect()));
      phase(`${DEVICES} devices provisioned and connected`);

      const base = Date.now() - 3_600_000;
      const walk = (w: Walker, i: number): WalkerFix[] =>
        Array.from({ length: 2 * ROUNDS + 1 }, (_, k) => ({ time: base + i + k * 10_000, ...(k % 2 === 0 ? OUT : CENTRE), accuracy: 5 }));
      let disrupting = true;
      const walks = Promise.all(
        walkers.map(async (w, i) => {
          for (const fix of walk(w, i)) {
            await w.send(fix);
            // paced while the disruptions go on, so they happen under load; quick afterwards
            await sleep(disrupting ? 4000 + Math.random() * 2000 : 100);
          }
        }),
      );

      // Messages to everyone, sent between the disruptions.
      const messageIds: string[] = [];
      const sendMessage = async (n: number) => {
        const r = await api('POST', tp('/messages'), { target: { groupIds: [group.id] }, title: `notice ${n}` });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        messageIds.push(r.body.id);
      };

      // Chaos: SIGKILL a worker of each kind, restart it; then restart every process in turn, gracefully.
      const chaos = (async () => {
        await sleep(3000);
        await sendMessage(1);
        for (const role of ['tracker', 'geofence', 'notification']) {
          await cluster.restart(byRole[role]![0]!, 'SIGKILL');
          await sleep(1500);
        }
        await sendMessage(2);
        // Rolling restart in waves: the i-th process of every role at once, so every role keeps one
        // process running (the api, with one process, is away for a moment: its clients retry).
        for (let i = 0; i < 3; i++) {
          const wave = Object.values(byRole).flatMap((procs) => (procs[i] ? [procs[i]] : []));
          const codes = await Promise.all(wave.map((proc) => cluster.restart(proc, 'SIGTERM')));
          assert.deepEqual(codes, wave.map(() => 0), `${wave.map((p) => p.name).join(', ')} stopped gracefully`);
        }
        await sendMessage(3);
      })().finally(() => (disrupting = false));
      await Promise.all([walks, chaos.then(() => phase('chaos done (SIGKILLs and three waves of restarts)'))]);
      phase('walks done');
      assert.equal(messageIds.length, MESSAGES);

      // Devices that missed a dispatch get it at their next hello: everyone says hello once more.
      for (const w of walkers) w.close();
      await Promise.all(walkers.map((w) => w.connect()));

      const fixesPerDevice = 2 * ROUNDS + 1;
      const acked = walkers.reduce((n, w) => n + w.acked.length, 0);
      assert.equal(acked, DEVICES * fixesPerDevice, 'every fix acknowledged once by the device side');
      const [{ n: stored, distinct }] = await cluster.query<{ n: string; distinct: string }>('tracker', 'select count(*) as n, count(distinct (device_id, time)) as distinct from positions');
      assert.equal(Number(stored), DEVICES * fixesPerDevice, 'every acknowledged position stored');
      assert.equal(Number(distinct), Number(stored), '…exactly once');

      // Every crossing: exactly one enter and one exit (the geofence catches up with what is left in the streams).
      await eventually(async () => {
        const [row] = await cluster.query<{ n: string }>('geofence', 'select count(*) as n from fence_events');
        return Number(row!.n) >= DEVICES * 2 * ROUNDS;
      }, 180_000, 'the fence events');
      phase('every fence event stored');
      await sleep(1000);
      const events = await cluster.query<{ device_id: string; type: string; n: string }>('geofence', 'select device_id, type, count(*) as n from fence_events group by device_id, type');
      const wrong = events.filter((e) => Number(e.n) !== ROUNDS);
      assert.equal(events.length, DEVICES * 2, 'every device entered and left');
      assert.deepEqual(wrong, [], `${ROUNDS} enters and ${ROUNDS} exits per device`);

      // Every message: one delivery per recipient, seen by the device, receipted, and the records agree.
      await eventually(async () => {
        const [row] = await cluster.query<{ n: string }>('notification', "select count(*) as n from deliveries where state = 'delivered'");
        return Number(row!.n) === DEVICES * MESSAGES;
      }, 60_000, 'every delivery receipted');
      phase('every delivery receipted');
      const records = await cluster.query<{ message_id: string; device_id: string; id: string }>('notification', 'select message_id, device_id, id from deliveries');
      assert.equal(records.length, DEVICES * MESSAGES, 'one delivery per message and recipient');
      assert.equal(new Set(records.map((r) => `${r.message_id}|${r.device_id}`)).size, DEVICES * MESSAGES);
      const serverIds = new Set(records.map((r) => r.id));
      let frames = 0;
      for (const w of walkers) {
        const perMessage = new Map<string, number>();
        for (const [deliveryId, d] of w.deliveries) {
          assert.ok(serverIds.has(deliveryId), `${w.deviceId} got a delivery the server knows`);
          perMessage.set(d.messageId, (perMessage.get(d.messageId) ?? 0) + 1);
          frames += d.count;
        }
        assert.deepEqual([...perMessage.keys()].sort(), [...messageIds].sort(), `${w.deviceId} got every message`);
        assert.ok([...perMessage.values()].every((n) => n === 1), `${w.deviceId}: one deliveryId per message`);
      }
      const reconnects = walkers.reduce((n, w) => n + w.reconnects, 0);
      const resends = walkers.reduce((n, w) => n + w.resends, 0);
      const duplicates = walkers.reduce((n, w) => n + w.acked.filter((a) => a.status === 'duplicate').length, 0);
      t.diagnostic(`${DEVICES} devices, ${acked} positions, ${events.length * ROUNDS} fence events, ${records.length} deliveries (${frames} frames), ${reconnects} reconnects, ${resends} resends, ${duplicates} answered duplicate`);
      for (const w of walkers) w.close();

      // The whole cluster stops at once (SIGTERM to every process): each one stops within its
      // 20 s budget (exit 0), although the services it calls are stopping at the same moment.
      const stopping = Date.now();
      const codes = await Promise.all(cluster.procs.map(async (p) => [p.name, await cluster.stop(p)] as const));
      phase(`the whole cluster stopped at once in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
      assert.deepEqual(codes.filter(([, code]) => code !== 0), [], 'every process stopped gracefully (exit 0) within its budget');
    } catch (err) {
      failed = true;
      throw err;
    }
  });
});
