/** The same platform on PostgreSQL: one schema per service, the whole loop from device to alert. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { eventually, fix, seedTenant, serviceReachable, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

const url = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `e2e${process.pid}_`;

describe('Follow Me on PostgreSQL', () => {
  let p: TestPlatform | undefined;
  let reachable = false;
  before(async () => {
    reachable = await serviceReachable('PostgreSQL', 5432);
    if (reachable) p = await startTestPlatform({ FOLLOWME_STORE: 'postgres', FOLLOWME_DATABASE_URL: url, FOLLOWME_DATABASE_SCHEMA_PREFIX: prefix });
  });
  after(async () => {
    await p?.stop();
    if (!reachable) return;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    for (const service of ['client', 'tracker', 'geofence', 'notification']) await client.query(`DROP SCHEMA IF EXISTS "${prefix}${service}" CASCADE`);
    await client.end();
  });

  it('keeps each service in its own schema', async (t) => {
    if (!p) return t.skip('PostgreSQL not reachable');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ table_schema: string; table_name: string }>(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE $1 ORDER BY 1, 2`, [`${prefix}%`]);
    await client.end();
    const bySchema = (s: string) => rows.filter((r) => r.table_schema === `${prefix}${s}`).map((r) => r.table_name);
    assert.ok(bySchema('client').includes('devices'));
    assert.ok(bySchema('tracker').includes('positions'));
    assert.ok(!bySchema('tracker').includes('devices'), 'the tracker cannot see the client tables');
    assert.ok(bySchema('geofence').includes('fence_events'));
    assert.ok(bySchema('notification').includes('deliveries'));
  });

  it('stores positions with duplicates skipped, fires a fence event and delivers the rule alert', async (t) => {
    if (!p) return t.skip('PostgreSQL not reachable');
    const w = await seedTenant(p);
    const api = (method: string, path: string, body?: unknown) => p!.api(method, `/tenants/${w.tenant.id}${path}`, body);
    const fence = (await api('POST', '/fences', { name: 'Gate', geometry: { type: 'Point', coordinates: [13.3777, 52.5163] }, radius: 100 })).body;
    await api('POST', '/rules', { name: 'r', on: 'enter', fenceId: fence.id, target: { deviceIds: [w.devices[1]!.device.id] }, title: '{device} at {fence}' });
    const { device: responder } = await TestDevice.connect(p.url, w.devices[1]!.token);
    const { device } = await TestDevice.connect(p.url, w.devices[0]!.token);
    const t0 = Date.now() - 10_000;
    const ack = await device.request({ type: 'positions', id: 'b', fixes: [fix(13.36, 52.5163, t0, { accuracy: 5 }), fix(13.3777, 52.5163, t0 + 5000, { accuracy: 5 }), fix(13.3777, 52.5163, t0 + 5000, { accuracy: 5 })] });
    assert.deepEqual(ack.results.map((r: { status: string }) => r.status), ['accepted', 'accepted', 'duplicate']);
    const history = (await api('GET', `/devices/${w.devices[0]!.device.id}/positions`)).body;
    assert.equal(history.length, 2);
    assert.equal(typeof history[0].time, 'number');
    await eventually(async () => (await api('GET', `/events?fenceId=${fence.id}`)).body.length === 1, 5000, 'enter event');
    const alert = await responder.next((f) => f.type === 'message');
    assert.equal(alert.title, 'phone-1 at Gate');
    device.close();
    responder.close();
  });
});
