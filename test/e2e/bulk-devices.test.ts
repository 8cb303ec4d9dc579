/** Bulk device enrolment through the HTTP API, on SQLite and on PostgreSQL: all or none, the bad row named, the quota for the batch. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ADMIN_KEY, serviceReachable, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

const url = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `bulk${process.pid}_`;

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`bulk device enrolment (${store})`, () => {
    let p: TestPlatform | undefined;
    let tenantId = '';
    before(async () => {
      if (store === 'postgres' && !(await serviceReachable('PostgreSQL', 5432))) return;
      p = await startTestPlatform(store === 'postgres' ? { FOLLOWME_STORE: 'postgres', FOLLOWME_DATABASE_URL: url, FOLLOWME_DATABASE_SCHEMA_PREFIX: prefix } : {});
      tenantId = (await p.api('POST', '/tenants', { name: `Bulk ${store}` })).body.id;
      await p.api('PATCH', `/tenants/${tenantId}/plan`, { quotas: { devices: 0 } }); // the default plan allows fewer than 5,000
    });
    after(async () => {
      await p?.stop();
      if (store !== 'postgres' || !p) return;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      for (const service of ['client', 'tracker', 'geofence', 'notification']) await client.query(`DROP SCHEMA IF EXISTS "${prefix}${service}" CASCADE`);
      await client.end();
    });
    const skip = (t: { skip(message: string): void }) => (p ? false : (t.skip('PostgreSQL not reachable'), true));
    const count = async () => (await p!.api('GET', `/tenants/${tenantId}/devices`)).body.length as number;
    const csv = (body: string) => fetch(`${p!.url}/api/v1/tenants/${tenantId}/devices/bulk`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

    it('creates 5,000 devices in one request, each with a token that connects', async (t) => {
      if (skip(t)) return;
      const rows = Array.from({ length: 5000 }, (_, i) => ({ name: `tag-${i}`, ...(i === 7 ? { uniqueId: `imei-${store}-7` } : {}) }));
      const r = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, rows);
      assert.equal(r.status, 201, JSON.stringify(r.body).slice(0, 300));
      assert.equal(r.body.length, 5000);
      assert.equal(r.body[4999].device.name, 'tag-4999');
      assert.equal(r.body[7].device.uniqueId, `imei-${store}-7`);
      assert.equal(new Set(r.body.map((d: { token: string }) => d.token)).size, 5000, 'every token differs');
      assert.equal(await count(), 5000);
      const { welcome, device } = await TestDevice.connect(p!.url, r.body[4321].token);
      assert.equal(welcome.deviceId, r.body[4321].device.id);
      device.close();
    });

    it('takes a CSV file with a header row, quoted names and empty optional fields', async (t) => {
      if (skip(t)) return;
      const r = await csv(['name,uniqueId,owntracksKey', '"Van 1, blue",,', `Van 2,imei-${store}-csv,secret passphrase`, ''].join('\n'));
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepEqual(r.body.map((d: { device: { name: string } }) => d.device.name), ['Van 1, blue', 'Van 2']);
      assert.equal(r.body[0].device.uniqueId, null);
      assert.equal(r.body[1].device.owntracksEncryption, true);
    });

    it('refuses the whole batch naming the bad row and field, and creates nothing', async (t) => {
      if (skip(t)) return;
      const before = await count();
      const empty = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'ok' }, { name: 'ok too' }, { name: '   ' }]);
      assert.equal(empty.status, 400);
      assert.deepEqual(empty.body.errors, [{ field: '[2].name', reason: 'must not be empty' }]);
      const missing = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'a' }, { uniqueId: 'x' }]);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.errors[0].field, '[1].name');
      const user = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'a' }, { name: 'b', userId: 'usr_nobody' }]);
      assert.equal(user.status, 400);
      assert.deepEqual(user.body.errors, [{ field: '[1].userId', reason: 'no user usr_nobody in this tenant' }]);
      const taken = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'a', uniqueId: 'fresh-1' }, { name: 'b', uniqueId: `imei-${store}-7` }]);
      assert.equal(taken.status, 409);
      assert.deepEqual(taken.body.errors, [{ field: '[1].uniqueId', reason: 'already taken' }]);
      const twice = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'a', uniqueId: 'same' }, { name: 'b' }, { name: 'c', uniqueId: 'same' }]);
      assert.equal(twice.status, 409);
      assert.deepEqual(twice.body.errors, [{ field: '[2].uniqueId', reason: 'same as [0]' }]);
      const badCsv = await csv('name,colour\nVan,red\n');
      assert.equal(badCsv.status, 400);
      assert.equal(badCsv.body.errors[0].field, '[0].colour');
      const tooMany = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, Array.from({ length: 5001 }, (_, i) => ({ name: `x${i}` })));
      assert.equal(tooMany.status, 400);
      assert.match(tooMany.body.detail, /5000/);
      assert.equal(await count(), before, 'no refused batch left a device behind');
      assert.equal((await p!.api('GET', `/tenants/${tenantId}/devices`)).body.some((d: { uniqueId: string | null }) => d.uniqueId === 'fresh-1'), false);
    });

    it("checks the plan's device quota for the whole batch", async (t) => {
      if (skip(t)) return;
      const now = await count();
      await p!.api('PATCH', `/tenants/${tenantId}/plan`, { quotas: { devices: now + 2 } });
      const over = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      assert.equal(over.status, 403, JSON.stringify(over.body));
      assert.equal(over.body.code, 'quota_exceeded');
      assert.match(over.body.detail, /asked for 3 more/);
      assert.equal(await count(), now);
      const fits = await p!.api('POST', `/tenants/${tenantId}/devices/bulk`, [{ name: 'a' }, { name: 'b' }]);
      assert.equal(fits.status, 201);
      await p!.api('PATCH', `/tenants/${tenantId}/plan`, { quotas: { devices: 0 } });
    });
  });
}
