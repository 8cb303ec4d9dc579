/** The OsmAnd protocol over a real socket on its own port: the recorded requests, the app's JSON, refusals, random bytes. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';
import { osmandLines } from './decoders.contract.js';

/**
 * The recorded samples are years old and the tracker keeps only the last 7 days, so each line's
 * timestamp is moved to a recent time in the same format (epoch s, epoch ms, ISO 8601 or
 * `yyyy-MM-dd HH:mm:ss`); everything else is sent as recorded.
 */
function freshen(line: string, time: number): string {
  return line.replace(/([?&]timestamp=)([^&]*)/, (_all, key: string, raw: string) => {
    const value = decodeURIComponent(raw.replace(/\+/g, ' '));
    const iso = new Date(Math.floor(time / 1000) * 1000).toISOString();
    const formatted = /^\d{13}$/.test(value) ? String(time) : /^\d{10}$/.test(value) ? String(Math.floor(time / 1000)) : value.includes('T') ? iso.replace('.000', '') : iso.slice(0, 19).replace('T', ' ');
    return `${key}${encodeURIComponent(formatted).replace(/%20/g, '+')}`;
  });
}

describe('OsmAnd protocol over HTTP', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let base: string;
  const ids = new Map<string, string>();
  const history = async (uniqueId: string) => (await p.api('GET', `/tenants/${t.tenant.id}/devices/${ids.get(uniqueId)}/positions`)).body as any[];
  const total = async () => {
    let n = 0;
    for (const id of ids.keys()) n += (await history(id)).length;
    return n;
  };

  before(async () => {
    p = await startTestPlatform({ FOLLOWME_MAX_FRAME_BYTES: '65536' });
    t = await seedTenant(p);
    base = `http://127.0.0.1:${p.edge.osmandPort}`;
    for (const uniqueId of ['902064', '353861053849681', '123456', 'traccar-json', 'form-1']) {
      const created = await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: `tracker ${uniqueId}`, uniqueId });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.device.uniqueId, uniqueId);
      ids.set(uniqueId, created.body.device.id);
    }
  });
  after(() => p.stop());

  it('listens on its own port and the API lists the unique id', async () => {
    assert.ok(p.edge.osmandPort && p.edge.osmandPort !== Number(new URL(p.url).port));
    const listed = (await p.api('GET', `/tenants/${t.tenant.id}/devices`)).body as { uniqueId: string | null }[];
    assert.ok(listed.some((d) => d.uniqueId === '353861053849681'));
  });

  it('stores every recorded request as a position and refuses the last (no id), storing nothing', async () => {
    const lines = osmandLines();
    const now = Date.now();
    for (const [i, line] of lines.slice(0, -1).entries()) {
      const res = await fetch(`${base}${freshen(line, now - (10 - i) * 1000)}`);
      assert.equal(res.status, 200, `${line}: ${await res.clone().text()}`);
      assert.deepEqual(await res.json(), { status: 'accepted' });
    }
    assert.equal((await history('902064')).length, 2);
    const [tracker] = await history('353861053849681');
    assert.equal(tracker.altitude, 384.7);
    assert.equal(tracker.speed, 0);
    const [located] = await history('123456');
    assert.deepEqual([located.lat, located.lon], [60, 30]);
    const before = await total();
    const refused = await fetch(`${base}${freshen(lines.at(-1)!, now)}`);
    assert.equal(refused.status, 400);
    assert.match(refused.headers.get('content-type') ?? '', /application\/problem\+json/);
    const problem = (await refused.json()) as { code: string; errors: { field: string }[]; detail: string };
    assert.equal(problem.code, 'validation_failed');
    assert.equal(problem.errors[0]!.field, 'id');
    assert.equal(await total(), before);
  });

  it('refuses an unknown device with 404 and stores nothing', async () => {
    const before = await total();
    const res = await fetch(`${base}/?id=nobody-has-this&lat=52.5&lon=13.4&timestamp=${Math.floor(Date.now() / 1000)}`);
    assert.equal(res.status, 404);
    const problem = (await res.json()) as { code: string; detail: string };
    assert.equal(problem.code, 'not_found');
    assert.match(problem.detail, /nobody-has-this/);
    assert.equal(await total(), before);
  });

  it('takes the Traccar Client JSON body: speed in m/s, battery level as a fraction', async () => {
    const timestamp = new Date(Date.now() - 5000).toISOString();
    const res = await fetch(`${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ location: { timestamp, coords: { latitude: 52.52, longitude: 13.405, accuracy: 8, speed: 2.5, heading: 181, altitude: 35 }, is_moving: true, odometer: 100, event: 'motionchange', battery: { level: 0.42, is_charging: true }, activity: { type: 'on_foot' } }, device_id: 'traccar-json' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const [pos] = await history('traccar-json');
    assert.equal(pos.time, Date.parse(timestamp));
    assert.deepEqual([pos.lat, pos.lon, pos.accuracy, pos.speed, pos.heading, pos.altitude, pos.battery, pos.charging], [52.52, 13.405, 8, 2.5, 181, 35, 42, true]);
  });

  it('takes a form body and a POST with the query string, converting knots to m/s', async () => {
    const t1 = Math.floor(Date.now() / 1000) - 20;
    const form = await fetch(`${base}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `id=form-1&lat=52.1&lon=13.1&timestamp=${t1}&speed=10&bearing=90&batt=55&charge=false` });
    assert.equal(form.status, 200);
    const query = await fetch(`${base}/?id=form-1&lat=52.2&lon=13.2&timestamp=${t1 + 1}&speed=0`, { method: 'POST' });
    assert.equal(query.status, 200);
    const positions = await history('form-1');
    assert.equal(positions.length, 2);
    assert.ok(Math.abs(positions[0].speed - 5.144444) < 1e-5);
    assert.deepEqual([positions[0].heading, positions[0].battery, positions[0].charging], [90, 55, false]);
  });

  it('answers a fix the tracker refuses with 200 and the reason, so the app does not resend it forever', async () => {
    const res = await fetch(`${base}/?id=form-1&lat=95&lon=13&timestamp=${Math.floor(Date.now() / 1000)}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; field: string; reason: string };
    assert.equal(body.status, 'rejected');
    assert.equal(body.field, 'lat');
    assert.match(body.reason, /-90 to 90/);
  });

  it('refuses a body over FOLLOWME_MAX_FRAME_BYTES with 413 problem+json', async () => {
    const res = await fetch(`${base}/?id=form-1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `lat=1&lon=2&pad=${'x'.repeat(70_000)}` });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, 'payload_too_large');
  });

  it('survives random bytes as bodies and as raw requests: a clear 4xx, nothing stored, still serving', async () => {
    const before = await total();
    const types = ['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'application/octet-stream'];
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${base}/?${i % 3 === 0 ? 'id=form-1&' : ''}`, { method: 'POST', headers: { 'content-type': types[i % types.length]! }, body: randomBytes(1 + (i * 37) % 2000) });
      assert.ok([400, 404, 413].includes(res.status), `status ${res.status}`);
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
      await res.arrayBuffer();
    }
    // Garbage instead of HTTP: the server answers 400 or hangs up, and keeps serving.
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port: p.edge.osmandPort, method: 'POST', path: `/${randomBytes(8).toString('hex')}`, headers: { 'content-length': 'abc' } });
        req.on('error', () => resolve());
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.end(randomBytes(64));
      });
    }
    assert.equal(await total(), before);
    const ok = await fetch(`${base}/?id=form-1&lat=52.3&lon=13.3&timestamp=${Math.floor(Date.now() / 1000)}`);
    assert.equal(ok.status, 200);
  });
});
