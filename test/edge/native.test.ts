/** The native device protocol over real WebSockets (docs/device-protocol.md). */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { dispatch, type Dispatch } from '../../src/services/notification/index.js';

describe('native device protocol', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
  });
  after(() => p.stop());

  it('welcomes a device with a valid token and names it', async () => {
    const { device, welcome } = await TestDevice.connect(p.url, t.devices[0]!.token);
    assert.equal(welcome.deviceId, t.devices[0]!.device.id);
    assert.equal(welcome.tenantId, t.tenant.id);
    assert.equal(welcome.protocol, 1);
    device.close();
  });

  it('refuses a bad token with an error frame and close code 4401', async () => {
    const device = await TestDevice.open(p.url);
    device.send({ type: 'hello', token: 'fmd_nope' });
    const error = await device.next();
    assert.equal(error.type, 'error');
    assert.equal(error.code, 'unauthenticated');
    assert.equal((await device.waitClose()).code, 4401);
  });

  it('refuses positions before hello', async () => {
    const device = await TestDevice.open(p.url);
    device.send({ type: 'position', id: 'p1', fix: fix(13.4, 52.5) });
    assert.equal((await device.next()).code, 'unauthenticated');
    assert.equal((await device.waitClose()).code, 4401);
  });

  it('acknowledges a position only once it is stored, and answers a resend as duplicate', async () => {
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const f = fix(13.401, 52.501, Date.now() - 1000, { accuracy: 5, battery: 80 });
    const ack = await device.request({ type: 'position', id: 'p-1', fix: f });
    assert.deepEqual(ack, { type: 'ack', id: 'p-1', status: 'accepted', interval: 60 }, 'no fence near: the default moving interval');
    const history = (await p.api('GET', `/tenants/${t.tenant.id}/devices/${t.devices[0]!.device.id}/positions`)).body;
    assert.equal(history.length, 1);
    assert.equal(history[0].lon, 13.401);
    assert.equal(history[0].battery, 80);
    const again = await device.request({ type: 'position', id: 'p-2', fix: f });
    assert.equal(again.status, 'duplicate');
    assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/devices/${t.devices[0]!.device.id}/positions`)).body.length, 1);
    device.close();
  });

  it('answers a batch fix by fix, naming the bad field, and stores only the good ones', async () => {
    const { device } = await TestDevice.connect(p.url, t.devices[1]!.token);
    const now = Date.now();
    const ack = await device.request({
      type: 'positions',
      id: 'b-1',
      fixes: [fix(13.41, 52.51, now - 3000), fix(13.41, 95, now - 2000), { time: new Date(now - 1000).toISOString(), lon: 13.42, lat: 52.52 }, fix(13.42, 52.52, now + 3600_000), fix(Number.NaN as number, 52.5, now - 500)],
    });
    assert.equal(ack.results.length, 5);
    assert.deepEqual(ack.results.map((r: { status: string }) => r.status), ['accepted', 'rejected', 'accepted', 'rejected', 'rejected']);
    assert.equal(ack.results[1].field, 'fixes[1].lat');
    assert.match(ack.results[1].reason, /-90 to 90, got 95/);
    assert.equal(ack.results[3].field, 'fixes[3].time');
    assert.match(ack.results[3].reason, /future/);
    assert.equal(ack.results[4].field, 'fixes[4].lon');
    const history = (await p.api('GET', `/tenants/${t.tenant.id}/devices/${t.devices[1]!.device.id}/positions`)).body;
    assert.equal(history.length, 2);
    device.close();
  });

  it('answers a bad frame with an error frame and keeps the connection usable', async () => {
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    device.send('{not json');
    assert.deepEqual(await device.next(), { type: 'error', code: 'frame_invalid', detail: 'not valid JSON' });
    device.send({ type: 'teleport', id: 'x1' });
    const unknown = await device.next();
    assert.equal(unknown.code, 'frame_invalid');
    assert.equal(unknown.field, 'type');
    assert.equal(unknown.id, 'x1');
    device.send({ type: 'position', id: 'x2' });
    assert.equal((await device.next()).field, 'fix');
    const ok = await device.request({ type: 'position', id: 'x3', fix: fix(13.43, 52.53, Date.now() - 100) });
    assert.equal(ok.status, 'accepted');
    device.send({ type: 'ping' });
    assert.equal((await device.next()).type, 'pong');
    device.close();
  });

  it('replaces an older connection of the same device with close code 4409', async () => {
    const first = await TestDevice.connect(p.url, t.devices[0]!.token);
    const second = await TestDevice.connect(p.url, t.devices[0]!.token);
    assert.equal((await first.device.waitClose()).code, 4409);
    second.device.close();
  });

  it('refuses devices of a suspended tenant with 4403', async () => {
    const other = await seedTenant(p, 'Suspended Co');
    await p.api('POST', `/tenants/${other.tenant.id}/suspend`);
    const device = await TestDevice.open(p.url);
    device.send({ type: 'hello', token: other.devices[0]!.token });
    assert.equal((await device.next()).code, 'tenant_suspended');
    assert.equal((await device.waitClose()).code, 4403);
    await p.api('POST', `/tenants/${other.tenant.id}/resume`);
    const { device: back } = await TestDevice.connect(p.url, other.devices[0]!.token);
    back.close();
  });

  it('welcomes forty devices saying hello at once as themselves, each with its own queued messages, and refuses a rotated token among them', async () => {
    const crowd = await seedTenant(p, 'Crowd Co');
    const enrolled = (await p.api('POST', `/tenants/${crowd.tenant.id}/devices/bulk`, Array.from({ length: 40 }, (_, i) => ({ name: `crowd-${i}` })))).body as { device: { id: string }; token: string }[];
    assert.equal(enrolled.length, 40);
    // every third device has one message waiting, device 0 has two
    const waiting = new Map<string, string[]>();
    for (const [i, d] of enrolled.entries()) {
      if (i % 3 !== 0) continue;
      const titles = i === 0 ? ['first', 'second'] : [`for ${i}`];
      for (const title of titles) {
        const sent = await p.api('POST', `/tenants/${crowd.tenant.id}/messages`, { target: { deviceIds: [d.device.id] }, title });
        assert.equal(sent.status, 201);
      }
      waiting.set(d.device.id, titles);
    }
    const rotated = (await p.api('POST', `/tenants/${crowd.tenant.id}/devices/${enrolled[7]!.device.id}/token`)).body as { token: string };
    // all at once: the hellos reach the services together and are looked up together
    const sockets = await Promise.all(enrolled.map(() => TestDevice.open(p.url)));
    sockets.forEach((s, i) => s.send({ type: 'hello', token: enrolled[i]!.token }));
    const answers = await Promise.all(sockets.map((s) => s.next((f) => f.type === 'welcome' || f.type === 'error')));
    for (const [i, answer] of answers.entries()) {
      if (i === 7) {
        assert.equal(answer.code, 'unauthenticated', 'the replaced token is refused at once');
        assert.equal((await sockets[i]!.waitClose()).code, 4401);
        continue;
      }
      assert.equal(answer.type, 'welcome', `device ${i}: ${JSON.stringify(answer)}`);
      assert.equal(answer.deviceId, enrolled[i]!.device.id);
      const titles = waiting.get(answer.deviceId) ?? [];
      assert.equal(answer.pending, titles.length, `device ${i}'s pending count`);
      const frames = await Promise.all(titles.map(() => sockets[i]!.next((f) => f.type === 'message')));
      assert.deepEqual(frames.map((f) => f.title), titles, `device ${i} gets its own messages, oldest first`);
    }
    const { device: again, welcome } = await TestDevice.connect(p.url, rotated.token);
    assert.equal(welcome.deviceId, enrolled[7]!.device.id);
    for (const s of [...sockets, again]) s.close();
  });

  it('takes a batch of positions over HTTP with the device token', async () => {
    const res = await fetch(`${p.url}/device/v1/positions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.devices[1]!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fixes: [fix(13.45, 52.5, Date.now() - 200), fix(13.45, -91, Date.now() - 100)] }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: { status: string; field?: string }[] };
    assert.deepEqual(body.results.map((r) => r.status), ['accepted', 'rejected']);
    assert.equal(body.results[1]!.field, 'fixes[1].lat');
    const bad = await fetch(`${p.url}/device/v1/positions`, { method: 'POST', headers: { authorization: 'Bearer fmd_wrong', 'content-type': 'application/json' }, body: JSON.stringify({ fixes: [fix(1, 1)] }) });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('content-type') ?? '', /problem\+json/);
  });

  it('keeps the last known position at the newest fix when an older one arrives late', async () => {
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const now = Date.now();
    await device.request({ type: 'position', id: 'n1', fix: fix(13.5, 52.6, now - 10) });
    const late = await device.request({ type: 'position', id: 'n2', fix: fix(13.1, 52.1, now - 60_000) });
    assert.equal(late.status, 'accepted');
    const last = await eventually(async () => {
      const all = (await p.api('GET', `/tenants/${t.tenant.id}/positions`)).body as { deviceId: string; lon: number }[];
      return all.find((x) => x.deviceId === t.devices[0]!.device.id);
    });
    assert.equal(last.lon, 13.5);
    device.close();
  });

  it('hands over a dispatch in the one-device shape a notification process not yet upgraded publishes (rolling upgrade)', async () => {
    const { device } = await TestDevice.connect(p.url, t.devices[1]!.token);
    const deviceId = t.devices[1]!.device.id;
    const legacy = { tenantId: t.tenant.id, deviceId, frame: { type: 'message', deliveryId: 'dlv_legacy_1', messageId: 'msg_legacy', title: 'From an older process', body: '', priority: 'normal', ackRequired: false, sentAt: Date.now() } };
    await p.bus.publish(dispatch, deviceId, legacy as unknown as Dispatch);
    const frame = await device.next((f) => f.type === 'message');
    assert.deepEqual([frame.deliveryId, frame.title], ['dlv_legacy_1', 'From an older process']);
    device.close();
  });
});
