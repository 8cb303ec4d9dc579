/**
 * Settings cached per process, changed through another: a tenant's tracking settings are cached by
 * every tracker process (the filters run on the hot path), and a change goes to one of them through
 * the api process. Every tracker must judge the next fix by the new settings, not only the one that
 * took the change: `settings.changed` on the bus makes each drop its copy. The same for the
 * rules every notification process caches (low-battery rules on positions, fence rules on fence
 * events). Real processes on the local NATS and
 * PostgreSQL: one with client, tracker, geofence, edge and api, two more trackers sharing the
 * devices' partitions with it, two notification processes sharing the positions. The front process's
 * edge sends each device's fixes to the owner of its partition, not to the tracker beside it, which
 * refuses the devices it does not own. The tracking setting is flipped
 * several times, so that changes land on every tracker while each owns some of the devices.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, serviceReachable, TestDevice } from '../helpers.js';
import { Cluster, type Proc } from '../support/cluster.js';
import { consumersIdle } from '../support/nats.js';
import { startReceiver } from '../support/receivers.js';

const up = (await serviceReachable('NATS', 4222)) && (await serviceReachable('PostgreSQL', 5432));
const DEVICES = 8;
const AT = { lon: 13.3777, lat: 52.5163 };
/** 1 km east of AT: outside the 300 m fence around it. */
const AWAY = { lon: AT.lon + 0.015, lat: AT.lat };
/**
 * How long a fix's ack and a change's effect may take. Both come within a second on a quiet
 * machine; CI runs this beside the chaos test and chromium, where NATS and PostgreSQL answer in
 * seconds. Still well inside the 60 s after which a stale cache would be read again anyway.
 */
const WITHIN_MS = 15_000;

describe('tracking settings changed through the api process, in a cluster', { skip: !up && 'NATS or PostgreSQL is not reachable', timeout: 240_000 }, () => {
  const cluster = new Cluster('settings');
  let front: Proc;
  let failed = false;

  before(async () => {
    const migrated = cluster.migrate();
    assert.equal(migrated.status, 0, migrated.output);
    front = await cluster.start('front', 'client,tracker,geofence,edge,api');
    await cluster.start('tracker-0', 'tracker');
    await cluster.start('tracker-1', 'tracker');
    await cluster.start('notification-0', 'notification');
    await cluster.start('notification-1', 'notification');
    // each process's share handed over from the one that started before it
    await cluster.balanced();
  });
  after(async () => {
    await cluster.destroy(failed);
    if (failed) console.log(`# cluster logs kept in ${cluster.logDir}`);
  });

  it('take effect in every tracker process at once, not at its next restart', async () => {
    const tenant = (await cluster.api('POST', '/tenants', { name: 'Settings' })).body;
    const tp = (path: string) => `/tenants/${tenant.id}${path}`;
    assert.equal((await cluster.api('PATCH', tp('/settings/tracking'), { maxSpeed: 0, jitterDistance: 0 })).status, 200);
    const devices: TestDevice[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const made = (await cluster.api('POST', tp('/devices'), { name: `phone-${i}` })).body;
      devices.push((await TestDevice.connect(front.url, made.token)).device);
    }
    let time = Date.now() - 600_000;
    let n = 0;
    // one fix per device, 500 m accurate; resolves with the statuses the trackers answered
    const round = async () => {
      time += 1000;
      return Promise.all(devices.map(async (d) => (await d.request({ type: 'position', id: `f${n++}`, fix: { time, ...AT, accuracy: 500 } }, WITHIN_MS)).status as string));
    };
    assert.deepEqual(new Set(await round()), new Set(['accepted']), 'within the default maxAccuracy of 1000 m; every tracker has cached the settings now');
    try {
      for (const [i, maxAccuracy] of [100, 1000, 100, 1000, 100, 1000].entries()) {
        const changed = await cluster.api('PATCH', tp('/settings/tracking'), { maxAccuracy });
        assert.equal(changed.status, 200, JSON.stringify(changed.body));
        const expected = maxAccuracy < 500 ? 'filtered' : 'accepted';
        // the change travels as a bus message: allow it a moment, never a restart
        await eventually(async () => {
          const statuses = await round();
          return statuses.every((s) => s === expected) ? true : undefined;
        }, WITHIN_MS, `change ${i + 1} (maxAccuracy ${maxAccuracy}): every device's fix ${expected}`);
      }
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      for (const d of devices) d.close();
    }
  });

  it('a low-battery rule created through the api process fires in every notification process at once', async () => {
    const tenant = (await cluster.api('POST', '/tenants', { name: 'Battery' })).body;
    const tp = (path: string) => `/tenants/${tenant.id}${path}`;
    assert.equal((await cluster.api('PATCH', tp('/settings/tracking'), { maxSpeed: 0, jitterDistance: 0 })).status, 200);
    const devices: { id: string; ws: TestDevice }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const made = (await cluster.api('POST', tp('/devices'), { name: `tag-${i}` })).body;
      devices.push({ id: made.device.id, ws: (await TestDevice.connect(front.url, made.token)).device });
    }
    let time = Date.now() - 600_000;
    let n = 0;
    const report = async (battery: number) => {
      time += 1000;
      for (const d of devices) assert.equal((await d.ws.request({ type: 'position', id: `b${n++}`, fix: { time, ...AT, accuracy: 5, battery } }, WITHIN_MS)).status, 'accepted');
    };
    try {
      // both notification processes take some of these and cache "no low-battery rules" for the tenant
      await report(80);
      await report(80);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const rule = await cluster.api('POST', tp('/rules'), { name: 'battery', on: 'low_battery', batteryBelow: 15, target: { deviceIds: devices.map((d) => d.id) }, title: '{device} {event}' });
      assert.equal(rule.status, 201, JSON.stringify(rule.body));
      // One low reading per device, wherever it is handled, must alert: well within the 60 s after
      // which a stale cache would be read again anyway. (Reporting again would let the process that
      // took the rule handle a later reading and hide a stale one.)
      await new Promise((resolve) => setTimeout(resolve, 500));
      await report(10);
      const alerts = async () => ((await cluster.api('GET', tp('/messages'))).body as { title: string }[]).filter((m) => m.title.endsWith('is low on battery')).length;
      await eventually(async () => ((await alerts()) === DEVICES ? true : undefined), WITHIN_MS, `one low-battery alert per device (${DEVICES})`);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      for (const d of devices) d.ws.close();
    }
  });
  it('fence rules created and deleted through the api process take effect in every notification process at once', async () => {
    const tenant = (await cluster.api('POST', '/tenants', { name: 'Rules' })).body;
    const tp = (path: string) => `/tenants/${tenant.id}${path}`;
    assert.equal((await cluster.api('PATCH', tp('/settings/tracking'), { maxSpeed: 0, jitterDistance: 0 })).status, 200);
    const fence = await cluster.api('POST', tp('/fences'), { name: 'Gate', geometry: { type: 'Point', coordinates: [AT.lon, AT.lat] }, radius: 300 });
    assert.equal(fence.status, 201, JSON.stringify(fence.body));
    const devices: { id: string; ws: TestDevice }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const made = (await cluster.api('POST', tp('/devices'), { name: `van-${i}` })).body;
      devices.push({ id: made.device.id, ws: (await TestDevice.connect(front.url, made.token)).device });
    }
    let time = Date.now() - 600_000;
    let n = 0;
    // every device leaves the fence and comes back: one enter event per device
    const enter = async () => {
      for (const at of [AWAY, AT]) {
        time += 1000;
        await Promise.all(devices.map(async (d) => assert.equal((await d.ws.request({ type: 'position', id: `r${n++}`, fix: { time, ...at, accuracy: 5 } }, WITHIN_MS)).status, 'accepted')));
      }
    };
    const rule = async (name: string) => {
      const made = await cluster.api('POST', tp('/rules'), { name, on: 'enter', fenceId: fence.body.id, target: { deviceIds: [devices[0]!.id] }, title: `${name}: {device} {event} {fence}`, cooldownSeconds: 0 });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      return made.body.id as string;
    };
    // positions through the geofence, then its fence events through the notification rules: nothing left anywhere
    const handled = async () => {
      await eventually(() => consumersIdle(cluster.prefix, 'geofence'), WITHIN_MS, 'the geofence to handle every position');
      await eventually(() => consumersIdle(cluster.prefix, 'notification-rules'), WITHIN_MS, 'the notification rules to handle every fence event');
    };
    const alerts = async (name: string) => ((await cluster.api('GET', tp('/messages'))).body as { title: string }[]).filter((m) => m.title.startsWith(`${name}: `)).length;
    try {
      // both notification processes handle enter events of the tenant and cache "no rules on this fence"
      await enter();
      await enter();
      // every one of those enters handled before the rules exist (a late one would alert for them)
      await handled();
      const first = await rule('first');
      await rule('second');
      // Created in one notification process: each device's next enter, wherever it is handled, alerts
      // for both, well within the 60 s after which a stale cache would be read again anyway.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await enter();
      await eventually(async () => ((await alerts('first')) === DEVICES && (await alerts('second')) === DEVICES ? true : undefined), WITHIN_MS, `one alert per device (${DEVICES}) for each new rule`);
      await handled();
      // Deleted in one notification process: the next enters alert for the second rule only. The
      // second rule's alerts say every enter was handled; both rules run in the same handler.
      assert.equal((await cluster.api('DELETE', tp(`/rules/${first}`))).status, 204);
      await new Promise((resolve) => setTimeout(resolve, 500));
      await enter();
      await eventually(async () => ((await alerts('second')) === 2 * DEVICES ? true : undefined), WITHIN_MS, `a second alert per device (${2 * DEVICES}) for the rule kept`);
      await handled();
      assert.equal(await alerts('first'), DEVICES, 'the deleted rule alerted again in a process that still had it cached');

      // Webhook subscriptions are cached the same way (each fence event a lookup, not a query):
      // one created now gets every device's next enter, whichever process handles it; disabled, none.
      const receiver = await startReceiver((_req, res) => res.writeHead(204).end());
      try {
        const hook = await cluster.api('POST', tp('/webhooks'), { url: receiver.url, events: ['enter'], fenceIds: [fence.body.id] });
        assert.equal(hook.status, 201, JSON.stringify(hook.body));
        await new Promise((resolve) => setTimeout(resolve, 500));
        await enter();
        await eventually(() => (receiver.requests.length === DEVICES ? true : undefined), WITHIN_MS, `one webhook request per device (${DEVICES}) for the new subscription`);
        assert.equal((await cluster.api('PATCH', tp(`/webhooks/${hook.body.id}`), { enabled: false })).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 500));
        await enter();
        await handled();
        await eventually(() => consumersIdle(cluster.prefix, 'notification-webhooks'), WITHIN_MS, 'the webhook consumer to handle every fence event');
        const [held] = await cluster.query<{ n: string }>('notification', `select count(*) as n from webhook_deliveries where webhook_id = '${hook.body.id}'`);
        assert.equal(Number(held!.n), DEVICES, 'a disabled subscription took no more events in a process that still had it cached');
      } finally {
        await receiver.close();
      }
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      for (const d of devices) d.ws.close();
    }
  });
});
