/**
 * The operator visibility policy: always, working-hours, while-sharing, as an operator of the tenant
 * reads positions through the map, history, trips, exports, fence queries and the live stream; and
 * what a member is told.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** The latest 10:00 or 22:00 UTC, within the last six days, on a day the predicate likes. */
function utcAt(hour: number, dayOk: (isoDay: number) => boolean): number {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  for (let back = 1; back <= 6; back++) {
    const t = today - back * DAY + hour * HOUR;
    const isoDay = ((new Date(t).getUTCDay() + 6) % 7) + 1;
    if (dayOk(isoDay)) return t;
  }
  throw new Error('no such day in the last six days');
}

describe('operator visibility policy', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let ann: { id: string; token: string; deviceId: string; deviceToken: string };
  const workday = utcAt(10, (d) => d <= 5);
  const weekend = utcAt(10, (d) => d >= 6);
  const night = utcAt(22, (d) => d <= 5);
  const asOperator = (path: string) => p.api('GET', `/tenants/${t.tenant.id}${path}`, undefined, t.operatorToken);
  const report = async (deviceToken: string, times: number[], lon = 9.99) => {
    const res = await fetch(`${p.url}/device/v1/positions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fixes: times.map((time) => ({ time, lon, lat: 53.55, accuracy: 5 })) }),
    });
    assert.equal(res.status, 200, await res.text());
  };
  const history = async (deviceId: string) => ((await asOperator(`/devices/${deviceId}/positions`)).body as { time: number }[]).map((x) => x.time);
  const policy = (change: object) => p.api('PATCH', `/tenants/${t.tenant.id}/settings/visibility`, change);

  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
    const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: 'ann@x.test', name: 'Ann', role: 'member', password: 'password-1' })).body;
    const device = (await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: 'ann-phone', userId: user.id })).body;
    const login = (await p.api('POST', '/auth/login', { tenant: t.tenant.slug, email: 'ann@x.test', password: 'password-1' }, '')).body;
    ann = { id: user.id, token: login.token, deviceId: device.device.id, deviceToken: device.token };
    await report(ann.deviceToken, [workday, weekend, night].sort((a, b) => a - b));
    await report(t.devices[0]!.token, [weekend], 10.01); // a van: nobody's device
  });
  after(() => p.stop());

  it('shows operators every position by default, and tells members so', async () => {
    assert.deepEqual((await p.api('GET', `/tenants/${t.tenant.id}/settings/visibility`, undefined, t.operatorToken)).body.operatorVisibility, 'always');
    assert.deepEqual(await history(ann.deviceId), [workday, weekend, night].sort((a, b) => a - b));
    const mine = (await p.api('GET', `/tenants/${t.tenant.id}/me/visibility`, undefined, ann.token)).body;
    assert.equal(mine.operatorVisibility, 'always');
    assert.match(mine.description, /at any time/);
  });

  it('working-hours: operators see only fixes taken within the working hours, everywhere they read positions', async () => {
    const set = await policy({ operatorVisibility: 'working-hours', workingHours: { days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', timeZone: 'UTC' } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(await history(ann.deviceId), [workday]);
    const csv = (await (await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/devices/${ann.deviceId}/export?format=csv`, { headers: { authorization: `Bearer ${t.operatorToken}` } })).text()).trim().split('\n');
    assert.equal(csv.length, 2, 'the header and the working-day fix');
    assert.equal((await asOperator(`/devices/${ann.deviceId}/trips`)).body.trips.length, 0);
    const nearby = (await asOperator('/devices/nearby?lon=10&lat=53.55&radius=5000')).body as { deviceId: string }[];
    assert.deepEqual(nearby.map((n) => n.deviceId), [], 'both last fixes were taken off hours');
    const mine = (await p.api('GET', `/tenants/${t.tenant.id}/me/visibility`, undefined, ann.token)).body;
    assert.match(mine.description, /Mon, Tue, Wed, Thu, Fri from 08:00 to 18:00 \(UTC\)/);
    // A night shift: 20:00 to 06:00 takes the 22:00 fix and not the 10:00 ones.
    await policy({ workingHours: { from: '20:00', to: '06:00' } });
    assert.deepEqual(await history(ann.deviceId), [night]);
  });

  it('refuses a bad policy naming the field, and lets only tenant admins change it', async () => {
    const bad = await policy({ operatorVisibility: 'never' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].field, 'operatorVisibility');
    const zone = await policy({ workingHours: { timeZone: 'Mars/Olympus_Mons' } });
    assert.equal(zone.body.errors[0].field, 'workingHours.timeZone');
    const time = await policy({ workingHours: { from: '25:00' } });
    assert.equal(time.body.errors[0].field, 'workingHours.from');
    const byOperator = await p.api('PATCH', `/tenants/${t.tenant.id}/settings/visibility`, { operatorVisibility: 'always' }, t.operatorToken);
    assert.equal(byOperator.status, 403);
    assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/settings/visibility`)).body.workingHours.from, '20:00', 'nothing changed');
  });

  it('while-sharing: operators see a person only through their share, from its start, until it ends; nobody\'s devices as before; area alerts still reach them', async () => {
    await policy({ operatorVisibility: 'while-sharing' });
    assert.deepEqual(await history(ann.deviceId), []);
    assert.deepEqual(await history(t.devices[0]!.device.id), [weekend], 'the van is nobody\'s');
    assert.deepEqual(((await asOperator('/positions')).body as { deviceId: string }[]).map((x) => x.deviceId), [t.devices[0]!.device.id]);

    const live = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`);
    const reader = live.body!.getReader();
    let text = '';
    const share = (await p.api('POST', `/tenants/${t.tenant.id}/me/shares`, { userIds: [t.operator.id], minutes: 60 }, ann.token)).body;
    assert.deepEqual(await history(ann.deviceId), [], 'what she did before the share stays hers');
    const now = Date.now();
    await report(ann.deviceToken, [now]);
    assert.deepEqual(await history(ann.deviceId), [now]);
    assert.deepEqual(((await asOperator('/positions')).body as { deviceId: string }[]).map((x) => x.deviceId).sort(), [ann.deviceId, t.devices[0]!.device.id].sort());
    await eventually(async () => {
      text += new TextDecoder().decode((await reader.read()).value);
      return text.includes(ann.deviceId) || undefined;
    }, 20_000, 'her position on the operator\'s live stream once the stream saw the share');
    await reader.cancel();

    // Safety first: an alert to an area reaches her even though the operator cannot see where she is.
    const fence = (await p.api('POST', `/tenants/${t.tenant.id}/fences`, { name: 'Yard', geometry: { type: 'Point', coordinates: [9.99, 53.55] }, radius: 500 })).body;
    await p.api('DELETE', `/tenants/${t.tenant.id}/me/shares/${share.id}`, undefined, ann.token);
    assert.deepEqual(await history(ann.deviceId), [], 'hidden again once revoked');
    await report(ann.deviceToken, [Math.max(Date.now(), now + 1)]);
    await eventually(async () => (await p.geofence.insideNow({ tenantId: t.tenant.id, principal: { kind: 'admin' } }, fence.id)).includes(ann.deviceId) || undefined, 5000, 'the geofence service knows she is in the yard');
    assert.deepEqual((await asOperator(`/fences/${fence.id}/devices`)).body.deviceIds, [], 'the operator does not');
    const sent = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { fenceIds: [fence.id] }, title: 'Gas leak in the yard' }, t.operatorToken);
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await eventually(async () => ((await p.api('GET', `/tenants/${t.tenant.id}/messages/${sent.body.id}/deliveries`, undefined, t.operatorToken)).body as { deviceId: string }[]).some((d) => d.deviceId === ann.deviceId) || undefined, 5000, 'the alert reaching her');
  });
});
