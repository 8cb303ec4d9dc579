/** Tenant isolation through the real HTTP API: a principal of one tenant can read or change nothing of another. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';

describe('tenant isolation', () => {
  let p: TestPlatform;
  let a: Awaited<ReturnType<typeof seedTenant>>;
  let b: Awaited<ReturnType<typeof seedTenant>>;
  let fenceOfA: string;
  let groupOfA: string;

  before(async () => {
    p = await startTestPlatform();
    a = await seedTenant(p, 'Tenant A');
    b = await seedTenant(p, 'Tenant B');
    fenceOfA = (await p.api('POST', `/tenants/${a.tenant.id}/fences`, { name: 'HQ', geometry: { type: 'Point', coordinates: [13.4, 52.5] }, radius: 100 })).body.id;
    groupOfA = (await p.api('POST', `/tenants/${a.tenant.id}/groups`, { name: 'Team', deviceIds: [a.devices[0]!.device.id] })).body.id;
  });
  after(() => p.stop());

  it("answers 404 when a user of one tenant reads another tenant's resources", async () => {
    for (const path of [`/tenants/${a.tenant.id}`, `/tenants/${a.tenant.id}/devices`, `/tenants/${a.tenant.id}/users`, `/tenants/${a.tenant.id}/fences/${fenceOfA}`, `/tenants/${a.tenant.id}/groups`, `/tenants/${a.tenant.id}/positions`, `/tenants/${a.tenant.id}/messages`]) {
      const res = await p.api('GET', path, undefined, b.operatorToken);
      assert.equal(res.status, 404, path);
      assert.equal(res.body.code, 'not_found');
    }
  });

  it("cannot reach another tenant's rows by naming their ids under its own tenant", async () => {
    const asB = (method: string, path: string, body?: unknown) => p.api(method, `/tenants/${b.tenant.id}${path}`, body, b.operatorToken);
    assert.equal((await asB('GET', `/fences/${fenceOfA}`)).status, 404);
    assert.equal((await asB('GET', `/devices/${a.devices[0]!.device.id}`)).status, 404);
    assert.equal((await asB('PATCH', `/fences/${fenceOfA}`, { name: 'mine now' })).status, 404);
    assert.equal((await asB('DELETE', `/fences/${fenceOfA}`)).status, 404);
    const send = await asB('POST', '/messages', { target: { deviceIds: [a.devices[0]!.device.id] }, title: 'hello' });
    assert.equal(send.status, 400);
    assert.equal(send.body.errors[0].field, 'target.deviceIds');
    const viaGroup = await asB('POST', '/messages', { target: { groupIds: [groupOfA] }, title: 'hello' });
    assert.equal(viaGroup.status, 400);
    // A's fence is untouched
    assert.equal((await p.api('GET', `/tenants/${a.tenant.id}/fences/${fenceOfA}`)).body.name, 'HQ');
  });

  it('refuses platform actions to tenant users and unknown tokens', async () => {
    assert.equal((await p.api('POST', '/tenants', { name: 'Evil' }, a.operatorToken)).status, 403);
    assert.equal((await p.api('GET', '/tenants', undefined, a.operatorToken)).status, 403);
    const anonymous = await p.api('GET', `/tenants/${a.tenant.id}/devices`, undefined, 'not-a-token');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.code, 'unauthenticated');
    assert.match(anonymous.headers.get('content-type') ?? '', /application\/problem\+json/);
  });

  it('refuses an operator what needs an admin', async () => {
    const res = await p.api('POST', `/tenants/${a.tenant.id}/devices`, { name: 'x' }, a.operatorToken);
    assert.equal(res.status, 403);
    assert.equal(res.body.code, 'forbidden');
  });

  it('does not let a device token act on the API', async () => {
    const res = await p.api('GET', `/tenants/${a.tenant.id}/devices`, undefined, a.devices[0]!.token);
    assert.equal(res.status, 403);
  });
});
