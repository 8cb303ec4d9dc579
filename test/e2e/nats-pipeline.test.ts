/**
 * The whole platform on NATS JetStream (FOLLOWME_BUS=nats): a device's position over the native
 * WebSocket goes tracker → JetStream → geofence → JetStream → notification, and the enter event and
 * the rule's alert show in the API and on the target device.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NatsBus } from '../../src/adapters/bus-nats.js';
import { eventually, fix, seedTenant, serviceReachable, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { deleteUnderPrefix, NATS_URL, uniquePrefix } from '../support/nats.js';

const HQ = { lon: 13.3777, lat: 52.5163 }; // Brandenburg Gate
const prefix = uniquePrefix('e2e');
const up = await serviceReachable('NATS', 4222);

describe('the platform on NATS JetStream', { skip: !up && 'NATS is not reachable on 127.0.0.1:4222' }, () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  before(async () => {
    p = await startTestPlatform({ FOLLOWME_BUS: 'nats', FOLLOWME_NATS_URL: NATS_URL, FOLLOWME_NATS_PREFIX: prefix });
    t = await seedTenant(p);
  });
  after(async () => {
    await p.stop();
    await deleteUnderPrefix(prefix);
  });

  it('runs on the NATS bus', () => {
    assert.ok(p.bus instanceof NatsBus);
  });

  it('turns a position from a device into an enter event and an alert, through JetStream', async () => {
    const api = (method: string, path: string, body?: unknown) => p.api(method, `/tenants/${t.tenant.id}${path}`, body);
    const walker = t.devices[0]!;
    const responder = t.devices[1]!;
    const fence = (await api('POST', '/fences', { name: 'Gate', geometry: { type: 'Point', coordinates: [HQ.lon, HQ.lat] }, radius: 100 })).body;
    const group = (await api('POST', '/groups', { name: 'Responders', deviceIds: [responder.device.id] })).body;
    assert.equal((await api('POST', '/rules', { name: 'gate watch', on: 'enter', fenceId: fence.id, target: { groupIds: [group.id] }, title: '{device} entered {fence}', priority: 'high' })).status, 201);

    const { device: responderWs } = await TestDevice.connect(p.url, responder.token);
    const { device } = await TestDevice.connect(p.url, walker.token);
    const start = Date.now() - 60_000;
    for (const [i, dLon] of [-0.005, -0.002, 0].entries()) {
      const ack = await device.request({ type: 'position', id: `w${i}`, fix: fix(HQ.lon + dLon, HQ.lat, start + i * 5000, { accuracy: 5 }) });
      assert.equal(ack.status, 'accepted');
    }
    const events = await eventually(async () => {
      const list = (await api('GET', `/events?fenceId=${fence.id}`)).body as { type: string; deviceId: string }[];
      return list.length === 1 ? list : undefined;
    }, 10_000, 'the enter event');
    assert.equal(events[0]!.type, 'enter');
    assert.equal(events[0]!.deviceId, walker.device.id);
    assert.deepEqual((await api('GET', `/fences/${fence.id}/devices`)).body.deviceIds, [walker.device.id]);

    const alert = await responderWs.next((f) => f.type === 'message', 10_000);
    assert.equal(alert.title, 'phone-1 entered Gate');
    await p.bus.drain();
    device.close();
    responderWs.close();
  });
});
