/** The tenant's time zone and a member's own quiet hours, through the real HTTP API. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';

describe("the tenant's time zone", () => {
  let p: TestPlatform;
  let a: Awaited<ReturnType<typeof seedTenant>>;
  let b: Awaited<ReturnType<typeof seedTenant>>;
  before(async () => {
    p = await startTestPlatform();
    a = await seedTenant(p, 'Tenant A');
    b = await seedTenant(p, 'Tenant B');
  });
  after(() => p.stop());

  it('is unset at first, set by an admin to an IANA zone, shown to everyone of the tenant and at login, and unset with null', async () => {
    assert.equal((await p.api('GET', `/tenants/${a.tenant.id}`)).body.timeZone, null);
    const set = await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: 'Europe/Berlin' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.timeZone, 'Europe/Berlin');
    assert.equal((await p.api('GET', `/tenants/${a.tenant.id}`, undefined, a.operatorToken)).body.timeZone, 'Europe/Berlin');
    const login = await p.api('POST', '/auth/login', { tenant: a.tenant.slug, email: a.operator.email, password: 'correct horse' });
    assert.equal(login.body.tenant.timeZone, 'Europe/Berlin');
    assert.equal((await p.api('GET', `/tenants/${b.tenant.id}`)).body.timeZone, null, 'another tenant keeps its own');
    assert.equal((await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: null })).body.timeZone, null);
    assert.equal((await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: 'America/New_York' })).body.timeZone, 'America/New_York');
  });

  it('refuses a zone that does not exist with a problem naming timeZone, and changes nothing', async () => {
    const bad = await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: 'Europe/Atlantis' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'validation_failed');
    assert.deepEqual(bad.body.errors, [{ field: 'timeZone', reason: 'must be an IANA time zone such as "Europe/Berlin" or "UTC", got "Europe/Atlantis"' }]);
    assert.equal((await p.api('GET', `/tenants/${a.tenant.id}`)).body.timeZone, 'America/New_York');
    const unknownField = await p.api('PATCH', `/tenants/${a.tenant.id}`, { zone: 'UTC' });
    assert.equal(unknownField.status, 400);
  });

  it('may be changed by an admin of the tenant only', async () => {
    const byOperator = await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: 'UTC' }, a.operatorToken);
    assert.equal(byOperator.status, 403);
    const byOtherTenant = await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: 'UTC' }, b.operatorToken);
    assert.equal(byOtherTenant.status, 404);
    const byDevice = await p.api('PATCH', `/tenants/${a.tenant.id}`, { timeZone: 'UTC' }, a.devices[0]!.token);
    assert.equal(byDevice.status, 403);
    assert.equal((await p.api('GET', `/tenants/${a.tenant.id}`)).body.timeZone, 'America/New_York');
  });

  it('lets a member set their own quiet hours but not anyone else\'s', async () => {
    const mia = (await p.api('POST', `/tenants/${a.tenant.id}/users`, { email: 'mia@a.test', name: 'Mia', role: 'member', password: 'correct horse' })).body;
    const token = (await p.api('POST', '/auth/login', { tenant: a.tenant.slug, email: 'mia@a.test', password: 'correct horse' })).body.token;
    const window = { from: '22:00', to: '06:30', days: ['mon', 'tue'], timeZone: 'America/New_York' };
    const own = await p.api('PUT', `/tenants/${a.tenant.id}/users/${mia.id}/quiet-hours`, { quietHours: window }, token);
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.deepEqual((await p.api('GET', `/tenants/${a.tenant.id}/users/${mia.id}/notification-profile`, undefined, token)).body.quietHours, window);
    const others = await p.api('PUT', `/tenants/${a.tenant.id}/users/${a.operator.id}/quiet-hours`, { quietHours: window }, token);
    assert.equal(others.status, 403);
    const badZone = await p.api('PUT', `/tenants/${a.tenant.id}/users/${mia.id}/quiet-hours`, { quietHours: { ...window, timeZone: 'Mars/Olympus' } }, token);
    assert.equal(badZone.status, 400);
    assert.equal(badZone.body.errors[0].field, 'quietHours.timeZone');
  });
});
