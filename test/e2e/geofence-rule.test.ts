/**
 * The whole loop: devices walk into a fence over the native protocol → enter event → rule →
 * alert delivered to the group's devices; the live stream shows positions, events and deliveries.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

const HQ = { lon: 13.3777, lat: 52.5163 }; // Brandenburg Gate

describe('geofence events and rules', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
  });
  after(() => p.stop());

  it('fires enter and exit, alerts the rule target once, and streams it all live', async () => {
    const api = (method: string, path: string, body?: unknown) => p.api(method, `/tenants/${t.tenant.id}${path}`, body);
    const walker = t.devices[0]!;
    const responder = t.devices[1]!;
    const fence = (await api('POST', '/fences', { name: 'Gate', geometry: { type: 'Point', coordinates: [HQ.lon, HQ.lat] }, radius: 100 })).body;
    const group = (await api('POST', '/groups', { name: 'Responders', deviceIds: [responder.device.id] })).body;
    const rule = await api('POST', '/rules', { name: 'gate watch', on: 'enter', fenceId: fence.id, target: { groupIds: [group.id] }, title: '{device} entered {fence}', priority: 'high' });
    assert.equal(rule.status, 201);

    // the Control Center's live stream
    const live = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`);
    assert.equal(live.headers.get('content-type'), 'text/event-stream');
    const seen: string[] = [];
    const reader = live.body!.getReader();
    const decoder = new TextDecoder();
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const line of decoder.decode(value).split('\n')) if (line.startsWith('event: ')) seen.push(line.slice(7));
      }
    })().catch(() => undefined);

    const { device: responderWs } = await TestDevice.connect(p.url, responder.token);
    const { device } = await TestDevice.connect(p.url, walker.token);
    const start = Date.now() - 60_000;
    // walk from 500 m west of the gate to its centre, then 500 m east: one enter, one exit
    const path = [-0.0075, -0.005, -0.003, -0.001, 0, 0.001, 0.003, 0.005, 0.0075];
    for (const [i, dLon] of path.entries()) {
      const ack = await device.request({ type: 'position', id: `w${i}`, fix: fix(HQ.lon + dLon, HQ.lat, start + i * 5000, { accuracy: 5 }) });
      assert.equal(ack.status, 'accepted');
      if (dLon === 0) {
        await eventually(async () => (await api('GET', `/fences/${fence.id}/devices`)).body.deviceIds.includes(walker.device.id), 5000, 'inside now');
      }
    }
    const events = await eventually(async () => {
      const list = (await api('GET', `/events?fenceId=${fence.id}`)).body as { type: string; deviceId: string; distance: number }[];
      return list.length === 2 ? list : undefined;
    }, 5000, 'two events');
    assert.deepEqual(events.map((e) => e.type), ['exit', 'enter']);
    assert.ok(events[1]!.distance < 0, 'enter happened inside');
    assert.deepEqual((await api('GET', `/fences/${fence.id}/devices`)).body.deviceIds, []);

    const alert = await responderWs.next((f) => f.type === 'message', 5000);
    assert.equal(alert.title, 'phone-1 entered Gate');
    assert.equal(alert.priority, 'high');
    const messages = (await api('GET', '/messages')).body as { title: string; sender: { kind: string } }[];
    assert.equal(messages.filter((m) => m.sender.kind === 'rule').length, 1, 'one alert for one crossing');

    await eventually(() => seen.includes('position') && seen.includes('fence') && seen.includes('deliveries'), 5000, 'live events');
    await reader.cancel();
    device.close();
    responderWs.close();
  });

  it('does not fire for a late fix that lies in the past', async () => {
    const api = (method: string, path: string, body?: unknown) => p.api(method, `/tenants/${t.tenant.id}${path}`, body);
    const fence = (await api('POST', '/fences', { name: 'Square', geometry: { type: 'Polygon', coordinates: [[[13.40, 52.52], [13.41, 52.52], [13.41, 52.53], [13.40, 52.53], [13.40, 52.52]]] } })).body;
    const { device } = await TestDevice.connect(p.url, t.devices[1]!.token);
    const now = Date.now();
    await device.request({ type: 'position', id: 'a', fix: fix(13.30, 52.40, now - 1000, { accuracy: 5 }) });
    // an hour-old fix inside the square arrives after the newer one outside: stored, but no live event
    const late = await device.request({ type: 'position', id: 'b', fix: fix(13.405, 52.525, now - 3600_000, { accuracy: 5 }) });
    assert.equal(late.status, 'accepted');
    await p.bus.drain();
    assert.deepEqual((await api('GET', `/events?fenceId=${fence.id}`)).body, []);
    device.close();
  });
});

describe('server-driven reporting interval', () => {
  it('asks a device approaching a fence to report more often than one far away', async () => {
    const p = await startTestPlatform();
    const t = await seedTenant(p);
    await p.api('POST', `/tenants/${t.tenant.id}/fences`, { name: 'Gate', geometry: { type: 'Point', coordinates: [HQ.lon, HQ.lat] }, radius: 100 });
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const far = await device.request({ type: 'position', id: 'far', fix: fix(HQ.lon + 0.2, HQ.lat, Date.now() - 20_000, { speed: 10 }) });
    const near = await device.request({ type: 'position', id: 'near', fix: fix(HQ.lon + 0.003, HQ.lat, Date.now() - 1000, { speed: 10 }) });
    assert.equal(far.interval, 60);
    assert.ok(near.interval < 15, `near: ${near.interval}`);
    device.close();
    await p.stop();
  });
});
