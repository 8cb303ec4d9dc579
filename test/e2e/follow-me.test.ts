/** "Follow me": members share their live location with people, groups or a link, and revoke it. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fix, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

describe('follow me', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  const member: Record<string, { id: string; token: string; deviceToken: string; deviceId: string }> = {};
  const as = (who: string, method: string, path: string, body?: unknown) => p.api(method, `/tenants/${t.tenant.id}${path}`, body, member[who]!.token);

  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
    for (const name of ['ann', 'ben', 'cat']) {
      const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: `${name}@x.test`, name, role: 'member', password: 'password-1' })).body;
      const device = (await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: `${name}-phone`, userId: user.id })).body;
      const login = (await p.api('POST', '/auth/login', { tenant: t.tenant.slug, email: `${name}@x.test`, password: 'password-1' }, '')).body;
      member[name] = { id: user.id, token: login.token, deviceToken: device.token, deviceId: device.device.id };
    }
    const { device } = await TestDevice.connect(p.url, member.ann!.deviceToken);
    await device.request({ type: 'position', id: 'a1', fix: fix(13.4, 52.5, Date.now() - 1000, { accuracy: 7 }) });
    device.close();
  });
  after(() => p.stop());

  it('lets a member share with one person for a while; only that person sees them', async () => {
    const share = await as('ann', 'POST', '/me/shares', { userIds: [member.ben!.id], minutes: 30 });
    assert.equal(share.status, 201);
    assert.ok(share.body.expiresAt > Date.now() + 29 * 60_000);
    const ben = (await as('ben', 'GET', '/me/following')).body;
    assert.equal(ben.length, 1);
    assert.equal(ben[0].name, 'ann');
    assert.equal(ben[0].positions[0].lon, 13.4);
    assert.deepEqual((await as('cat', 'GET', '/me/following')).body, []);
    const mine = (await as('ann', 'GET', '/me/shares')).body;
    assert.deepEqual(mine.shares[0].followers.userIds, [member.ben!.id], 'ann sees who can follow her');
    assert.equal((await as('ann', 'DELETE', `/me/shares/${share.body.id}`)).status, 204);
    assert.deepEqual((await as('ben', 'GET', '/me/following')).body, [], 'revoked at once');
    assert.equal((await as('ben', 'DELETE', `/me/shares/${share.body.id}`)).status, 404, 'only the owner can revoke');
  });

  it('shows members a directory of names of their tenant: people and groups, nothing else, and nobody from another tenant', async () => {
    const team = (await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'Night shift', userIds: [member.ben!.id] })).body;
    const other = await seedTenant(p, 'Other Co');
    await p.api('POST', `/tenants/${other.tenant.id}/users`, { email: 'zed@other.test', name: 'zed', role: 'member' });
    const directory = await as('cat', 'GET', '/me/directory');
    assert.equal(directory.status, 200);
    const people = directory.body.people;
    assert.deepEqual(people.map((x: any) => x.name), ['ann', 'ben', 'cat', 'Olga Operator'].sort((a, b) => (a < b ? -1 : 1)));
    for (const x of [...people, ...directory.body.groups]) assert.deepEqual(Object.keys(x).sort(), ['id', 'name'], 'no e-mail, role, members or positions');
    assert.ok(directory.body.groups.some((g: any) => g.id === team.id && g.name === 'Night shift'));
    assert.ok(!people.some((x: any) => x.name === 'zed'), 'another tenant stays out');
    assert.equal((await p.api('GET', `/tenants/${other.tenant.id}/me/directory`, undefined, member.cat!.token)).status, 404, "another tenant's directory is not there");
    assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/me/directory`, undefined, member.ann!.deviceToken)).status, 403, 'a device token may not list people');
    await p.api('DELETE', `/tenants/${t.tenant.id}/groups/${team.id}`);
  });

  it('reaches the members of a group and its sub-groups', async () => {
    const parent = (await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'Family' })).body;
    await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'Kids', parentId: parent.id, userIds: [member.cat!.id] });
    const share = (await as('ann', 'POST', '/me/shares', { groupIds: [parent.id] })).body;
    assert.equal(share.expiresAt, null, 'until revoked');
    assert.equal((await as('cat', 'GET', '/me/following')).body[0].name, 'ann');
    assert.deepEqual((await as('ben', 'GET', '/me/following')).body, []);
    await as('ann', 'DELETE', `/me/shares/${share.id}`);
  });

  it('streams the positions of the people I follow, and nobody else', async () => {
    const share = (await as('ann', 'POST', '/me/shares', { userIds: [member.ben!.id] })).body;
    const live = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/me/following/live?access_token=${member.ben!.token}`);
    const reader = live.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const { device: cat } = await TestDevice.connect(p.url, member.cat!.deviceToken);
    await cat.request({ type: 'position', id: 'c1', fix: fix(13.1, 52.1, Date.now() - 500) });
    const { device: ann } = await TestDevice.connect(p.url, member.ann!.deviceToken);
    await ann.request({ type: 'position', id: 'a2', fix: fix(13.41, 52.51, Date.now() - 100) });
    while (!text.includes('event: position')) text += decoder.decode((await reader.read()).value);
    await reader.cancel();
    assert.match(text, new RegExp(member.ann!.deviceId));
    assert.doesNotMatch(text, new RegExp(member.cat!.deviceId));
    cat.close();
    ann.close();
    await as('ann', 'DELETE', `/me/shares/${share.id}`);
  });

  it('refuses to share with nobody or with ids of another tenant', async () => {
    assert.equal((await as('ann', 'POST', '/me/shares', {})).body.errors[0].field, 'userIds');
    const other = await seedTenant(p, 'Other');
    const res = await as('ann', 'POST', '/me/shares', { userIds: [other.operator.id] });
    assert.equal(res.status, 400);
    assert.equal(res.body.errors[0].field, 'target.userIds');
  });

  it('shows a share link to anyone until it is revoked, then nothing', async () => {
    const link = (await as('ann', 'POST', '/me/share-links', { minutes: 60 })).body;
    assert.match(link.url, /^\/s\/fms_/);
    const open = await fetch(`${p.url}/api/v1/shared/${link.token}`);
    assert.equal(open.status, 200);
    const view = (await open.json()) as { name: string; position: { lon: number } };
    assert.equal(view.name, 'ann');
    assert.equal(typeof view.position.lon, 'number');
    const page = await fetch(`${p.url}${link.url}`);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /shared location/i);
    assert.equal((await as('ann', 'GET', '/me/shares')).body.links.length, 1);
    await as('ann', 'DELETE', `/me/shares/${link.id}`);
    const gone = await fetch(`${p.url}/api/v1/shared/${link.token}`);
    assert.equal(gone.status, 404);
    assert.doesNotMatch(await gone.text(), /13\.4/, 'no position after revocation');
    assert.equal((await as('ann', 'POST', '/me/share-links', { minutes: 100_000 })).status, 400);
  });

  it('answers an OwnTracks app with the people its user follows', async () => {
    const share = (await as('ann', 'POST', '/me/shares', { userIds: [member.ben!.id] })).body;
    const post = (token: string) =>
      fetch(`${p.url}/owntracks`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`ben:${token}`).toString('base64')}`, 'content-type': 'application/json', 'x-limit-u': 'ben', 'x-limit-d': 'phone' },
        body: JSON.stringify({ _type: 'location', lat: 52.52, lon: 13.41, tst: Math.floor(Date.now() / 1000) - 5, acc: 10 }),
      });
    const friends = (await (await post(member.ben!.deviceToken)).json()) as { _type: string; tid: string; lat?: number; name?: string }[];
    assert.deepEqual(friends.map((f) => f._type), ['location', 'card']);
    assert.equal(friends[0]!.tid, 'AN');
    assert.equal(typeof friends[0]!.lat, 'number');
    assert.equal(friends[1]!.name, 'ann');
    await as('ann', 'DELETE', `/me/shares/${share.id}`);
    assert.deepEqual(await (await post(member.ben!.deviceToken)).json(), []);
  });

  it('does not let an operator create shares in a member’s name', async () => {
    const res = await p.api('POST', `/tenants/${t.tenant.id}/me/shares`, { userIds: [member.ben!.id] });
    assert.equal(res.status, 403, 'the platform admin key is not a person');
  });
});
