/** OwnTracks waypoints become the device's own fences, transitions become events marked as the device's report. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';
import { owntracksMessages } from './decoders.contract.js';

describe('OwnTracks waypoints and transitions', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  const post = (body: object, i = 0) =>
    fetch(`${p.url}/owntracks`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`jane:${t.devices[i]!.token}`).toString('base64')}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const regions = async () => (await p.api('GET', `/tenants/${t.tenant.id}/fences?tag=owntracks`)).body as any[];
  const events = async () => (await p.api('GET', `/tenants/${t.tenant.id}/events?deviceId=${t.devices[0]!.device.id}`)).body as any[];

  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
  });
  after(() => p.stop());

  it('keeps a recorded waypoint as a circle fence of that device only, and updates it when the app sends it again', async () => {
    const [, , waypoint] = owntracksMessages();
    assert.equal((await post(waypoint!)).status, 200);
    const [fence] = await regions();
    assert.deepEqual(fence.geometry, { type: 'Point', coordinates: [2.34916, 48.87069] });
    assert.equal(fence.radius, 50);
    assert.equal(fence.name, 'My favorite coffee shop (Delaville)');
    assert.deepEqual(fence.appliesTo, { deviceIds: [t.devices[0]!.device.id], groupIds: [] });
    assert.deepEqual(fence.metadata, { source: 'device', deviceId: t.devices[0]!.device.id, key: 'f7676c' });
    assert.equal((await post({ ...waypoint, rad: 80, desc: 'Coffee' })).status, 200);
    const again = await regions();
    assert.equal(again.length, 1, 'updated, not duplicated');
    assert.deepEqual([again[0].id, again[0].radius, again[0].name], [fence.id, 80, 'Coffee']);
  });

  it('takes the waypoints list, keyed per device, so two devices with the same rid keep two regions', async () => {
    const res = await post({ _type: 'waypoints', waypoints: [{ _type: 'waypoint', desc: 'Home', lat: 48.85, lon: 2.35, rad: 100, tst: 1700000000 }, { _type: 'waypoint', desc: 'Coffee', lat: 48.87069, lon: 2.34916, rad: 60, rid: 'f7676c' }] });
    assert.equal(res.status, 200);
    assert.deepEqual((await regions()).map((f) => [f.name, f.radius]).sort(), [['Coffee', 60], ['Home', 100]]);
    await post({ _type: 'waypoint', desc: 'Coffee', lat: 48.87069, lon: 2.34916, rad: 60, rid: 'f7676c' }, 1);
    assert.equal((await regions()).length, 3);
  });

  it('records a transition as an event the device reported, once, linked to its region', async () => {
    const [, transition] = owntracksMessages();
    assert.equal((await post(transition!)).status, 200);
    assert.equal((await post(transition!)).status, 200, 'the app may send it again');
    const reported = (await events()).filter((e) => e.source === 'device');
    assert.equal(reported.length, 1);
    const [event] = reported;
    const coffee = (await regions()).find((f) => f.metadata.key === 'f7676c' && f.appliesTo.deviceIds[0] === t.devices[0]!.device.id);
    assert.deepEqual([event.type, event.fenceId, event.fenceName, event.time, event.lon, event.lat], ['reported_enter', coffee.id, 'My favorite coffee shop (Delaville)', 1707057574000, 2.34916, 48.87069]);
    const leave = await post({ ...transition, event: 'leave', tst: 1707058000 });
    assert.equal(leave.status, 200);
    const types = (await p.api('GET', `/tenants/${t.tenant.id}/events?type=reported_exit`)).body as any[];
    assert.equal(types.length, 1);
    assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/events?type=enter`)).body.length, 0, 'nothing computed was made up');
  });

  it('refuses a waypoint without a radius or a transition without enter/leave, naming the field, and keeps nothing', async () => {
    const before = (await regions()).length;
    const noRadius = await post({ _type: 'waypoint', desc: 'Beacon', lat: 48.8, lon: 2.3, rid: 'b1', tst: 1 });
    assert.equal(noRadius.status, 400);
    assert.equal(((await noRadius.json()) as { errors: { field: string }[] }).errors[0]!.field, 'rad');
    const badList = await post({ _type: 'waypoints', waypoints: [{ desc: 'x', lat: 95, lon: 2, rad: 5, rid: 'r' }] });
    assert.equal(((await badList.json()) as { errors: { field: string }[] }).errors[0]!.field, 'waypoints[0].lat');
    const badEvent = await post({ _type: 'transition', event: 'dwell', lat: 48.8, lon: 2.3, tst: 1707057574, rid: 'f7676c' });
    assert.equal(((await badEvent.json()) as { errors: { field: string }[] }).errors[0]!.field, 'event');
    assert.equal((await regions()).length, before);
  });
});
