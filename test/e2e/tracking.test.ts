/** Tracking through the real server: filters per tenant, offline uploads, status, retention. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

describe('tracking', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let api: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
    api = (method, path, body) => p.api(method, `/tenants/${t.tenant.id}${path}`, body);
  });
  after(() => p.stop());

  it('applies the tenant filters and explains each filtered fix', async () => {
    assert.equal((await api('PATCH', '/settings/tracking', { maxSpeed: 50, jitterDistance: 5 })).status, 200);
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const t0 = Date.now() - 120_000;
    const ack = await device.request({
      type: 'positions',
      id: 'f',
      fixes: [fix(13.4, 52.5, t0, { accuracy: 5 }), fix(13.4, 52.6, t0 + 10_000, { accuracy: 5 }), fix(13.40002, 52.50002, t0 + 20_000, { accuracy: 5 }), fix(13.4, 52.5, t0 + 30_000, { accuracy: 2000 })],
    });
    assert.deepEqual(ack.results.map((r: { status: string; filter?: string }) => r.filter ?? r.status), ['accepted', 'speed', 'jitter', 'accuracy']);
    assert.match(ack.results[1].reason, /m\/s from the previous fix/);
    assert.equal((await api('GET', `/devices/${t.devices[0]!.device.id}/positions`)).body.length, 1);
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    assert.match(metrics, /followme_tracker_filtered_total\{filter="speed"\} 1/);
    await api('PATCH', '/settings/tracking', { maxSpeed: 0, jitterDistance: 0 });
    device.close();
  });

  it('refuses a bad setting with the field named', async () => {
    const res = await api('PATCH', '/settings/tracking', { retentionDays: -3 });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].field, 'retentionDays');
  });

  it('stores an hour of offline fixes in time order and fires no stale live events', async () => {
    const deviceId = t.devices[1]!.device.id;
    const { device } = await TestDevice.connect(p.url, t.devices[1]!.token);
    const now = Date.now();
    // live: the device is at home now
    await device.request({ type: 'position', id: 'live', fix: fix(13.3, 52.4, now - 1000, { accuracy: 5 }) });
    // a fence it crossed an hour ago, while offline
    await api('POST', '/fences', { name: 'Office', geometry: { type: 'Point', coordinates: [13.45, 52.45] }, radius: 200 });
    // the offline hour: 3,600 fixes, uploaded newest batch first, out of order
    const fixes = Array.from({ length: 3600 }, (_, i) => fix(13.44 + i * 0.0000056, 52.45, now - 3_700_000 + i * 1000, { accuracy: 5 }));
    for (let b = 3; b >= 0; b--) {
      const ack = await device.request({ type: 'positions', id: `off${b}`, fixes: fixes.slice(b * 900, b * 900 + 900).reverse() });
      assert.ok(ack.results.every((r: { status: string }) => r.status === 'accepted'));
    }
    const first = (await api('GET', `/devices/${deviceId}/positions?limit=10000&from=${now - 3_800_000}&to=${now - 50_000}`)).body as { time: number; late: boolean }[];
    assert.equal(first.length, 3600);
    assert.ok(first.every((x, i) => i === 0 || x.time > first[i - 1]!.time), 'history is in time order');
    const last = (await api('GET', '/positions')).body.find((x: { deviceId: string }) => x.deviceId === deviceId);
    assert.equal(last.lon, 13.3, 'the last known position is still the live one');
    await p.bus.drain();
    assert.deepEqual((await api('GET', '/events')).body, [], 'no enter/exit for the past hour');
    device.close();
  });

  it('shows devices online while connected and offline after they leave', async () => {
    const deviceId = t.devices[0]!.device.id;
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    await eventually(async () => (await api('GET', '/status')).body.find((s: { deviceId: string; connection: string }) => s.deviceId === deviceId && s.connection === 'online'), 5000, 'online');
    await api('PATCH', '/settings/tracking', { offlineAfterSeconds: 10 });
    device.close();
    await device.waitClose();
    // the last report is older than 10 s? not yet, but the device is gone: it stays online until the threshold
    const status = (await api('GET', '/status')).body.find((s: { deviceId: string }) => s.deviceId === deviceId);
    assert.ok(status);
    assert.equal(typeof status.connectionAt, 'number');
  });

  it('deletes positions older than the retention period and keeps the rest', async () => {
    const deviceId = t.devices[1]!.device.id;
    const before = (await api('GET', `/devices/${deviceId}/positions?limit=10000`)).body.length;
    await api('PATCH', '/settings/tracking', { retentionDays: 1 });
    // a clock one day ahead, less 30 minutes: everything older than 30 minutes ago is past retention
    const deleted = await p.local.tracker!.enforceRetention(Date.now() + 86_400_000 - 30 * 60_000);
    assert.ok(deleted > 1000 && deleted < 3601, `deleted ${deleted}`);
    const afterCount = (await api('GET', `/devices/${deviceId}/positions?limit=10000`)).body.length;
    assert.equal(afterCount, before - deleted);
    await api('PATCH', '/settings/tracking', { retentionDays: 90 });
  });
});

describe('track exports and trips through the API', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
  });
  after(() => p.stop());

  it('exports a track as GPX and CSV, simplifies it, and finds its trips', async () => {
    const deviceId = t.devices[0]!.device.id;
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const t0 = Date.now() - 3_600_000;
    const fixes = [];
    for (let i = 0; i < 10; i++) fixes.push(fix(13.4, 52.5 + (i % 2) * 0.00002, t0 + i * 60_000, { accuracy: 5 }));
    for (let i = 1; i <= 20; i++) fixes.push(fix(13.4 + i * 0.001, 52.5, t0 + 600_000 + i * 30_000, { accuracy: 5 }));
    for (let i = 0; i < 6; i++) fixes.push(fix(13.42, 52.5, t0 + 1_260_000 + i * 60_000, { accuracy: 5 }));
    await device.request({ type: 'positions', id: 'trk', fixes });
    const base = `${p.url}/api/v1/tenants/${t.tenant.id}/devices/${deviceId}`;
    const headers = { authorization: `Bearer ${t.operatorToken}` };
    const gpx = await fetch(`${base}/export?format=gpx`, { headers });
    assert.equal(gpx.headers.get('content-type'), 'application/gpx+xml');
    assert.match(gpx.headers.get('content-disposition') ?? '', /attachment; filename="dev_.*\.gpx"/);
    assert.equal((await gpx.text()).match(/<trkpt /g)?.length, 36);
    const csv = await (await fetch(`${base}/export?format=csv&from=${t0 + 600_000}`, { headers })).text();
    assert.equal(csv.trim().split('\n').length, 1 + 26);
    const bad = await fetch(`${base}/export?format=shp`, { headers });
    assert.equal(bad.status, 400);
    const simple = (await p.api('GET', `/tenants/${t.tenant.id}/devices/${deviceId}/positions?simplify=10`)).body;
    assert.ok(simple.length < 12, `simplified to ${simple.length}`);
    const { trips, stops } = (await p.api('GET', `/tenants/${t.tenant.id}/devices/${deviceId}/trips`)).body;
    assert.equal(stops.length, 2);
    assert.equal(trips.length, 1);
    device.close();
  });
});
