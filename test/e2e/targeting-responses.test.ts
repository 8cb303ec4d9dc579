/** Targeting by place, responses, reminders, escalation, live zones and SOS, through the real server and real device sockets. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

const FAST = { FOLLOWME_OUTBOX_POLL_MS: '20', FOLLOWME_NOTIFICATION_SWEEP_MS: '50' };
const SQUARE = { type: 'Polygon', coordinates: [[[13.40, 52.52], [13.41, 52.52], [13.41, 52.53], [13.40, 52.53], [13.40, 52.52]]] };

async function report(p: TestPlatform, token: string, fixes: object[]): Promise<void> {
  const res = await fetch(`${p.url}/device/v1/positions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ fixes }) });
  const body = (await res.json()) as { results: { status: string }[] };
  assert.ok(body.results.every((r) => r.status === 'accepted'), JSON.stringify(body));
}

describe('targeting, responses and escalation', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let third: { device: { id: string }; token: string };
  let as: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  before(async () => {
    p = await startTestPlatform(FAST);
    t = await seedTenant(p);
    as = (method, path, body) => p.api(method, `/tenants/${t.tenant.id}${path}`, body, t.operatorToken);
    third = (await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: 'phone-3' })).body;
  });
  after(() => p.stop());

  it('reaches everyone whose last known position is inside an area drawn for the message, and only fresh ones when asked', async () => {
    const now = Date.now();
    await report(p, t.devices[0]!.token, [fix(13.405, 52.525, now - 60_000)]);
    await report(p, t.devices[1]!.token, [fix(13.401, 52.529, now - 2 * 3600_000)]);
    await report(p, third.token, [fix(13.42, 52.525, now - 60_000)]);
    const everyone = await as('POST', '/messages/preview', { target: { area: { geometry: SQUARE } } });
    assert.equal(everyone.status, 200, JSON.stringify(everyone.body));
    assert.deepEqual(everyone.body.deviceIds, [t.devices[0]!.device.id, t.devices[1]!.device.id].sort());
    const fresh = await as('POST', '/messages/preview', { target: { area: { geometry: SQUARE }, maxAgeMinutes: 30 } });
    assert.deepEqual(fresh.body.deviceIds, [t.devices[0]!.device.id]);
    const circle = await as('POST', '/messages/preview', { target: { area: { geometry: { type: 'Point', coordinates: [13.42, 52.525] }, radius: 100 } } });
    assert.deepEqual(circle.body.deviceIds, [third.device.id]);
    const sent = await as('POST', '/messages', { target: { area: { geometry: SQUARE }, maxAgeMinutes: 30 }, title: 'Square closes' });
    assert.equal(sent.body.recipients, 1);
    const broken = await as('POST', '/messages', { target: { area: { geometry: { type: 'Polygon', coordinates: [[[13.40, 52.52], [13.41, 52.52], [13.41, 52.53]]] } } }, title: 'x' });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.code, 'invalid_geometry');
    assert.match(broken.body.errors[0].field, /^target\.area\.geometry\.coordinates/);
  });

  it('tallies answers per option and per group, lists who has not answered, and reminds them; the answer to a reminder counts for the original', async () => {
    const [d1, d2] = t.devices as [typeof t.devices[0] & object, typeof t.devices[0] & object];
    const north = (await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'North', deviceIds: [d1.device.id] })).body;
    const south = (await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'South', deviceIds: [d2.device.id] })).body;
    const { device: one } = await TestDevice.connect(p.url, d1.token);
    const sent = await as('POST', '/messages', { target: { groupIds: [north.id, south.id] }, title: 'Are you safe?', options: ['Yes', 'No'] });
    const frame = await one.next((f) => f.type === 'message' && f.messageId === sent.body.id);
    await one.request({ type: 'receipt', id: 'a1', deliveryId: frame.deliveryId, status: 'acknowledged', response: 'Yes' });
    const tallies = (await as('GET', `/messages/${sent.body.id}/responses`)).body;
    assert.deepEqual(tallies.tally, { Yes: 1, No: 0 });
    assert.equal(tallies.recipients, 2);
    assert.equal(tallies.answered, 1);
    assert.deepEqual(tallies.byGroup, [
      { groupId: north.id, recipients: 1, answered: 1, tally: { Yes: 1, No: 0 } },
      { groupId: south.id, recipients: 1, answered: 0, tally: { Yes: 0, No: 0 } },
    ]);
    assert.deepEqual(tallies.notAnswered.map((n: { deviceId: string }) => n.deviceId), [d2.device.id]);

    const reminder = await as('POST', `/messages/${sent.body.id}/remind`);
    assert.equal(reminder.status, 201);
    assert.equal(reminder.body.parentId, sent.body.id);
    assert.equal(reminder.body.title, 'Reminder: Are you safe?');
    assert.equal(reminder.body.recipients, 1, 'only those who have not answered');
    const { device: two } = await TestDevice.connect(p.url, d2.token);
    const reminded = await two.next((f) => f.type === 'message' && f.messageId === reminder.body.id);
    await two.request({ type: 'receipt', id: 'a2', deliveryId: reminded.deliveryId, status: 'acknowledged', response: 'No' });
    const after = (await as('GET', `/messages/${sent.body.id}/responses`)).body;
    assert.deepEqual(after.tally, { Yes: 1, No: 1 });
    assert.deepEqual(after.notAnswered, []);
    assert.equal((await as('POST', `/messages/${sent.body.id}/remind`)).status, 400, 'nobody left to remind');
    one.close();
    two.close();
  });

  it('reaches everyone who enters a live zone while its window is open, once each, and removes the drawn zone when it closes', async () => {
    const walker = t.devices[0]!;
    const start = Date.now();
    await report(p, walker.token, [fix(13.30, 52.40, start)]);
    const { device } = await TestDevice.connect(p.url, walker.token);
    const sent = await as('POST', '/messages', { target: { area: { geometry: { type: 'Point', coordinates: [13.30, 52.45] }, radius: 200 } }, title: 'Welcome to the fair', liveMinutes: 0.05 });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal(sent.body.recipients, 0, 'nobody is inside yet');
    assert.ok(sent.body.liveUntil > sent.body.createdAt);
    const zone = ((await as('GET', '/fences')).body as { id: string; name: string }[]).find((f) => f.name === `live zone of ${sent.body.id}`);
    assert.ok(zone, 'the drawn area is a temporary fence');
    await report(p, walker.token, [fix(13.30, 52.45, start + 1000)]);
    const frame = await device.next((f) => f.type === 'message' && f.messageId === sent.body.id);
    assert.equal(frame.title, 'Welcome to the fair');
    await report(p, walker.token, [fix(13.30, 52.40, start + 2000), fix(13.30, 52.45, start + 3000)]); // out and in again
    await p.bus.drain();
    assert.equal((await as('GET', `/messages/${sent.body.id}`)).body.recipients, 1, 'once each');
    await eventually(async () => !((await as('GET', '/fences')).body as { id: string }[]).some((f) => f.id === zone.id), 8000, 'zone removed after the window');
    device.close();
  });

  it('sends an SOS from a device to the tenant\'s responders at critical priority, once per SOS', async () => {
    const [d1, d2] = t.devices as [typeof t.devices[0] & object, typeof t.devices[0] & object];
    assert.equal((await p.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { responders: { deviceIds: [d2.device.id] } })).status, 200);
    const { device: responder } = await TestDevice.connect(p.url, d2.token);
    const { device: victim } = await TestDevice.connect(p.url, d1.token);
    const sos = { type: 'sos', id: 'sos-1', fix: fix(13.3777, 52.5163, Date.now(), { accuracy: 12 }), text: 'Fell, cannot walk' };
    assert.equal((await victim.request(sos)).status, 'accepted');
    const alert = await responder.next((f) => f.type === 'message' && f.priority === 'critical');
    assert.equal(alert.title, 'SOS from phone-1');
    assert.match(alert.body, /Fell, cannot walk/);
    assert.match(alert.body, /52\.51630, 13\.37770/);
    assert.equal(alert.ackRequired, true);
    assert.equal((await victim.request(sos)).status, 'accepted', 'a resent SOS is accepted …');
    await p.bus.drain();
    const sosMessages = ((await as('GET', '/messages')).body as { sender: { kind: string } }[]).filter((m) => m.sender.kind === 'sos');
    assert.equal(sosMessages.length, 1, '… and alerts nobody twice');
    responder.close();
    victim.close();
  });
});

describe('escalation across a restart', () => {
  it('escalates to the next target when too few confirm in time, even if the process restarted meanwhile', async () => {
    const first = await startTestPlatform(FAST);
    const t = await seedTenant(first);
    const sent = await first.api('POST', `/tenants/${t.tenant.id}/messages`, {
      target: { deviceIds: [t.devices[0]!.device.id] },
      title: 'Confirm the gate is shut',
      escalation: { minConfirmations: 1, withinMinutes: 0.02, target: { deviceIds: [t.devices[1]!.device.id] } },
    }, t.operatorToken);
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    assert.equal(sent.body.ackRequired, true);
    assert.equal(sent.body.escalation.escalatedAt, null);
    await first.close(); // stops before the deadline
    const second = await startTestPlatform(FAST, first.dataDir);
    try {
      const message = await eventually(async () => {
        const m = (await second.api('GET', `/tenants/${t.tenant.id}/messages/${sent.body.id}`)).body;
        return m.escalation.escalatedAt ? m : undefined;
      }, 5000, 'escalated');
      const escalated = (await second.api('GET', `/tenants/${t.tenant.id}/messages/${message.escalation.escalationMessageId}`)).body;
      assert.equal(escalated.title, 'Escalation: Confirm the gate is shut');
      assert.equal(escalated.priority, 'high');
      assert.deepEqual(escalated.sender, { kind: 'escalation', messageId: sent.body.id });
      assert.match(escalated.body, /Only 0 of at least 1 confirmations/);
      const { device, welcome } = await TestDevice.connect(second.url, t.devices[1]!.token);
      assert.equal(welcome.pending, 1);
      device.close();
    } finally {
      await second.stop();
    }
  });
});

describe('CAP 1.2 through the API', () => {
  it('imports an alert to everyone inside its polygon and exports it again, referencing the original', async () => {
    const { readFileSync } = await import('node:fs');
    const p = await startTestPlatform(FAST);
    try {
      const t = await seedTenant(p);
      const now = Date.now();
      await report(p, t.devices[0]!.token, [fix(-119.9, 38.5, now - 60_000)]); // inside the storm polygon
      await report(p, t.devices[1]!.token, [fix(-121.5, 38.5, now - 60_000)]); // outside
      const expires = new Date(now + 3600_000).toISOString().replace(/\.\d+Z$/, '+00:00');
      const xml = readFileSync(new URL('../../../test/fixtures/cap/cap-1.2-appendix-a2-thunderstorm.xml', import.meta.url), 'utf8').replace('2003-06-17T16:00:00-07:00', expires);
      const res = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/messages/cap?maxAgeMinutes=30`, { method: 'POST', headers: { authorization: `Bearer ${t.operatorToken}`, 'content-type': 'application/cap+xml' }, body: xml });
      const message = (await res.json()) as any;
      assert.equal(res.status, 201, JSON.stringify(message));
      assert.equal(message.title, 'SEVERE THUNDERSTORM WARNING');
      assert.equal(message.priority, 'critical');
      assert.equal(message.recipients, 1);
      assert.equal(message.target.area.geometry.type, 'Polygon');
      const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
      assert.equal((await device.next((f) => f.type === 'message')).title, 'SEVERE THUNDERSTORM WARNING');
      device.close();
      const exported = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/messages/${message.id}/cap`, { headers: { authorization: `Bearer ${t.operatorToken}` } });
      assert.equal(exported.status, 200);
      assert.match(exported.headers.get('content-type')!, /^application\/cap\+xml/);
      const text = await exported.text();
      assert.match(text, /<references>KSTO@NWS\.NOAA\.GOV,KSTO1055887203,2003-06-17T14:57:00-07:00<\/references>/);
      assert.match(text, /<polygon>38\.47,-120\.14 38\.34,-119\.95 38\.52,-119\.74 38\.62,-119\.89 38\.47,-120\.14<\/polygon>/);
      assert.match(text, /<areaDesc>EXTREME NORTH CENTRAL TUOLUMNE COUNTY/);
      // the export is an alert this platform (or another) imports again: same title, priority, area, reach
      const again = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/messages/cap?maxAgeMinutes=30`, { method: 'POST', headers: { authorization: `Bearer ${t.operatorToken}`, 'content-type': 'application/cap+xml' }, body: text });
      const reimported = (await again.json()) as any;
      assert.equal(again.status, 201, JSON.stringify(reimported));
      assert.equal(reimported.title, message.title);
      assert.equal(reimported.priority, message.priority);
      assert.deepEqual(reimported.target.area, message.target.area);
      assert.equal(reimported.recipients, 1);
      assert.ok(Math.abs(reimported.expiresAt - message.expiresAt) < 1000, 'the same expiry, to the second');
      const old = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/messages/cap`, { method: 'POST', headers: { authorization: `Bearer ${t.operatorToken}`, 'content-type': 'application/cap+xml' }, body: readFileSync(new URL('../../../test/fixtures/cap/cap-1.2-appendix-a2-thunderstorm.xml', import.meta.url), 'utf8') });
      assert.equal(old.status, 400);
      assert.match(((await old.json()) as any).detail, /the alert expired at 2003-06-17T23:00:00\.000Z/);
    } finally {
      await p.stop();
    }
  });
});
