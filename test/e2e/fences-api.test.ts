/**
 * Fences through the HTTP API: corridors, GeoJSON import (all or nothing) and export, the queries
 * (containing, devices nearby, who is inside now, who was inside between t1 and t2), and a batch
 * of positions over the native protocol evaluated in fix-time order.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

const square = (lon: number, lat: number, d: number) => ({ type: 'Polygon', coordinates: [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]] });

void describe('fences API', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  const api = (method: string, path: string, body?: unknown) => p.api(method, `/tenants/${t.tenant.id}${path}`, body);
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
  });
  after(() => p.stop());

  void it('creates a corridor from a LineString with a width and refuses one without', async () => {
    const created = await api('POST', '/fences', { name: 'Unter den Linden', geometry: { type: 'LineString', coordinates: [[13.3777, 52.5163], [13.3969, 52.5176]] }, width: 60, tags: ['route'] });
    assert.equal(created.status, 201);
    assert.equal(created.body.width, 60);
    assert.deepEqual(created.body.hysteresis, { exitMargin: 10, useAccuracy: true }, 'documented defaults');
    const refused = await api('POST', '/fences', { name: 'no width', geometry: { type: 'LineString', coordinates: [[13.37, 52.51], [13.39, 52.51]] } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.code, 'invalid_geometry');
    assert.equal(refused.body.errors[0].field, 'width');
    const containing = await api('GET', '/fences/containing?lon=13.387&lat=52.5171');
    assert.deepEqual(containing.body.map((f: { name: string }) => f.name), ['Unter den Linden']);
    assert.deepEqual((await api('GET', '/fences/containing?lon=13.387&lat=52.52')).body, [], '330 m north of the line');
    assert.equal((await api('GET', '/fences/containing?lon=13.387&lat=95')).status, 400);
    await api('DELETE', `/fences/${created.body.id}`);
  });

  void it('refuses an import with one invalid feature, naming it, and stores nothing', async () => {
    const before = (await api('GET', '/fences')).body.length;
    const bad = await api('POST', '/fences/import', {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: square(13.40, 52.52, 0.01), properties: { name: 'ok' } },
        { type: 'Feature', geometry: { type: 'Point', coordinates: [13.4, 52.5] }, properties: { name: 'circle', radius: 50 } },
        { type: 'Feature', geometry: { type: 'Polygon', coordinates: [[[13.4, 52.5], [13.41, 52.51], [13.41, 52.5], [13.4, 52.51], [13.4, 52.5]]] }, properties: { name: 'bowtie' } },
      ],
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].field, 'features[2].geometry.coordinates[0]');
    assert.match(bad.body.errors[0].reason, /crosses itself/);
    const noName = await api('POST', '/fences/import', { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: square(0, 0, 1), properties: { radius: 5 } }] });
    assert.equal(noName.body.errors[0].field, 'features[0].properties.name');
    const badRadius = await api('POST', '/fences/import', { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [0, 0] }, properties: { name: 'c', radius: -1 } }] });
    assert.equal(badRadius.body.errors[0].field, 'features[0].properties.radius');
    assert.equal((await api('GET', '/fences')).body.length, before, 'nothing stored');
  });

  void it('imports a FeatureCollection and exports the same fences with every attribute', async () => {
    const properties = {
      name: 'Depot', tags: ['depot', 'night'], metadata: { costCentre: 42 }, appliesTo: { groupIds: ['grp_x'], deviceIds: [] },
      schedule: { timeZone: 'Europe/Berlin', windows: [{ days: ['mon', 'fri'], from: '22:00', to: '06:00' }] }, enabled: true, hysteresis: { exitMargin: 30, useAccuracy: false }, dwellMinutes: 15,
    };
    const imported = await api('POST', '/fences/import', {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', geometry: square(13.45, 52.50, 0.005), properties },
        { type: 'Feature', geometry: { type: 'Point', coordinates: [13.46, 52.49] }, properties: { name: 'Gate', radius: 80 } },
        { type: 'Feature', geometry: { type: 'LineString', coordinates: [[13.44, 52.48], [13.47, 52.48]] }, properties: { name: 'Road', width: 40 } },
      ],
    });
    assert.equal(imported.status, 201);
    assert.equal(imported.body.imported, 3);
    const exported = await api('GET', '/fences/export');
    assert.equal(exported.status, 200);
    assert.match(exported.headers.get('content-type')!, /application\/geo\+json/);
    const byName = new Map(exported.body.features.map((f: { properties: { name: string } }) => [f.properties.name, f]));
    const depot = byName.get('Depot') as { id: string; geometry: unknown; properties: Record<string, unknown> };
    assert.deepEqual(depot.properties, properties);
    assert.deepEqual((byName.get('Gate') as { properties: { radius: number } }).properties.radius, 80);
    assert.deepEqual((byName.get('Road') as { properties: { width: number } }).properties.width, 40);
    // An export imports again as it is.
    const again = await api('POST', '/fences/import', exported.body);
    assert.equal(again.status, 201);
    assert.equal((await api('GET', '/fences?tag=depot')).body.length, 2);
  });

  void it('clears a dwell time with null and refuses 0 naming the field (null is not read as 0)', async () => {
    const fence = (await api('POST', '/fences', { name: 'Yard', geometry: square(13.30, 52.40, 0.002), dwellMinutes: 10 })).body;
    assert.equal(fence.dwellMinutes, 10);
    const cleared = await api('PATCH', `/fences/${fence.id}`, { dwellMinutes: null });
    assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
    assert.equal(cleared.body.dwellMinutes, null);
    assert.equal((await api('GET', `/fences/${fence.id}`)).body.dwellMinutes, null);
    const zero = await api('PATCH', `/fences/${fence.id}`, { dwellMinutes: 0 });
    assert.equal(zero.status, 400);
    assert.equal(zero.body.errors[0].field, 'dwellMinutes');
    const text = await api('PATCH', `/fences/${fence.id}`, { dwellMinutes: 'soon' });
    assert.equal(text.status, 400);
    assert.match(JSON.stringify(text.body.errors), /dwellMinutes/);
  });

  void it('evaluates a shuffled batch in fix-time order, then answers inside-now, nearby and stays', async () => {
    const fence = (await api('POST', '/fences', { name: 'Square', geometry: square(13.40, 52.52, 0.01) })).body;
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const t0 = Date.now() - 10 * 60_000;
    const path = [[13.39, 52.525], [13.405, 52.525], [13.42, 52.525], [13.405, 52.525]] as const;
    const fixes = path.map(([lon, lat], i) => fix(lon, lat, t0 + i * 60_000, { accuracy: 5 }));
    const ack = await device.request({ type: 'positions', id: 'b1', fixes: [fixes[2], fixes[0], fixes[3], fixes[1]] });
    assert.deepEqual(ack.results.map((r: { status: string }) => r.status), ['accepted', 'accepted', 'accepted', 'accepted']);
    const events = await eventually(async () => {
      const list = (await api('GET', `/events?fenceId=${fence.id}`)).body as Array<{ type: string; time: number; reason: { previous: string } }>;
      return list.length === 3 ? list.reverse() : undefined;
    }, 5000, 'three events');
    assert.deepEqual(events.map((e) => [e.type, e.time]), [['enter', t0 + 60_000], ['exit', t0 + 120_000], ['enter', t0 + 180_000]]);
    assert.equal(events[1]!.reason.previous, 'inside');
    // An older batch arriving afterwards is late and changes nothing.
    await device.request({ type: 'positions', id: 'b2', fixes: [fix(13.42, 52.525, t0 + 150_000, { accuracy: 5 })] });
    await p.bus.drain();
    assert.equal((await api('GET', `/events?fenceId=${fence.id}`)).body.length, 3);

    const inside = (await api('GET', `/fences/${fence.id}/devices`)).body;
    assert.deepEqual(inside.deviceIds, [t.devices[0]!.device.id]);
    assert.equal(inside.presence[0].since, t0 + 180_000);

    await p.local.geofence!.flushPositions();
    const near = (await api('GET', '/devices/nearby?lon=13.405&lat=52.525&radius=100')).body;
    assert.deepEqual(near.map((n: { deviceId: string; distance: number }) => [n.deviceId, n.distance]), [[t.devices[0]!.device.id, 0]]);
    assert.deepEqual((await api('GET', '/devices/nearby?lon=13.5&lat=52.525&radius=100')).body, []);

    const stays = async (from: number, to: number) => (await api('GET', `/fences/${fence.id}/stays?from=${from}&to=${to}`)).body;
    assert.deepEqual(await stays(t0, t0 + 30_000), []);
    assert.deepEqual(await stays(t0, t0 + 90_000), [{ deviceId: t.devices[0]!.device.id, enteredAt: t0 + 60_000, exitedAt: t0 + 120_000 }]);
    assert.deepEqual((await stays(t0 + 130_000, t0 + 140_000)), [], 'between the stays');
    assert.deepEqual((await stays(t0 + 130_000, Date.now())).map((s: { exitedAt: number | null }) => s.exitedAt), [null], 'still inside');
    device.close();
  });
});
