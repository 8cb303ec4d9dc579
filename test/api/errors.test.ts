/** Bad requests get problem+json naming the field and the reason, and change nothing. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';

describe('API errors', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
  });
  after(() => p.stop());

  it('names a missing field', async () => {
    const res = await p.api('POST', `/tenants/${t.tenant.id}/devices`, {});
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'validation_failed');
    assert.deepEqual(res.body.errors[0], { field: 'name', reason: 'is required' });
    assert.equal(res.body.status, 400);
    assert.match(res.body.type, /validation_failed$/);
  });

  it('says when the body is not JSON', async () => {
    const res = await fetch(`${p.url}/api/v1/tenants`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name": ' });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal(((await res.json()) as { code: string }).code, "malformed_json");
  });

  it('refuses an unclosed polygon with the position that is wrong, and stores nothing', async () => {
    const res = await p.api('POST', `/tenants/${t.tenant.id}/fences`, { name: 'bad', geometry: { type: 'Polygon', coordinates: [[[13.4, 52.5], [13.5, 52.5], [13.5, 52.6], [13.41, 52.6]]] } });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'invalid_geometry');
    assert.match(res.body.errors[0].field, /^geometry\.coordinates/);
    assert.match(res.body.errors[0].reason, /closed|first/i);
    assert.deepEqual((await p.api('GET', `/tenants/${t.tenant.id}/fences`)).body, []);
  });

  it('refuses a circle without a positive radius', async () => {
    const res = await p.api('POST', `/tenants/${t.tenant.id}/fences`, { name: 'c', geometry: { type: 'Point', coordinates: [13.4, 52.5] }, radius: -5 });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].field, 'radius');
  });

  it('refuses an out-of-range coordinate', async () => {
    const res = await p.api('POST', `/tenants/${t.tenant.id}/fences`, { name: 'c', geometry: { type: 'Point', coordinates: [200, 52.5] }, radius: 5 });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'invalid_geometry');
    assert.match(res.body.errors[0].reason, /longitude/i);
  });

  it('refuses a message that names nobody', async () => {
    const res = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: {}, title: 'x' });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].field, 'target');
  });

  it('refuses a duplicate user e-mail with 409 and keeps one user', async () => {
    const body = { email: 'same@x.test', name: 'A', role: 'member' };
    assert.equal((await p.api('POST', `/tenants/${t.tenant.id}/users`, body)).status, 201);
    const again = await p.api('POST', `/tenants/${t.tenant.id}/users`, body);
    assert.equal(again.status, 409);
    assert.equal(again.body.errors[0].field, 'email');
    const users = (await p.api('GET', `/tenants/${t.tenant.id}/users`)).body as { email: string }[];
    assert.equal(users.filter((u) => u.email === 'same@x.test').length, 1);
  });

  it('answers unknown routes with problem+json 404', async () => {
    const res = await p.api('GET', '/nothing-here');
    assert.equal(res.status, 404);
    assert.equal(res.body.code, 'not_found');
  });

  it('refuses a wrong password without saying which part was wrong', async () => {
    const res = await p.api('POST', '/auth/login', { tenant: t.tenant.slug, email: t.operator.email, password: 'wrong password' }, '');
    assert.equal(res.status, 401);
    assert.equal(res.body.detail, 'the tenant, e-mail or password is wrong');
  });
});
