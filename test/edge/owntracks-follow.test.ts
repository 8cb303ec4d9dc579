/**
 * Follow me for OwnTracks apps in MQTT mode, with real `mqtt` clients subscribing as the app does:
 * the embedded broker filters per app (authorizeForward), the external broker (the running
 * Mosquitto) gets per-follower topic trees. Ann shares with Ben; Cat follows nobody.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, seedTenant, serviceReachable, sleep, startTestPlatform, type TestPlatform } from '../helpers.js';

interface Member {
  id: string;
  token: string;
  deviceToken: string;
  deviceId: string;
}

/** What arrived, per topic, in order; empty payloads (removals) as null. */
function inbox(client: MqttClient) {
  const got: { topic: string; message: any }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, message: payload.length === 0 ? null : JSON.parse(payload.toString()) }));
  return {
    got,
    next: (topic: string, timeoutMs = 5000) =>
      eventually(() => {
        const i = got.findIndex((m) => m.topic === topic);
        return i < 0 ? undefined : { message: got.splice(i, 1)[0]!.message };
      }, timeoutMs, `a message on ${topic}`).then((m) => m.message),
  };
}

async function members(p: TestPlatform, tenantId: string, slug: string, names: string[], uniqueIds: Record<string, string> = {}): Promise<Record<string, Member>> {
  const out: Record<string, Member> = {};
  for (const name of names) {
    const user = (await p.api('POST', `/tenants/${tenantId}/users`, { email: `${name}@${slug}.test`, name: `${name[0]!.toUpperCase()}${name.slice(1)} Doe`, role: 'member', password: 'password-1' })).body;
    const device = (await p.api('POST', `/tenants/${tenantId}/devices`, { name: `${name}-phone`, userId: user.id, ...(uniqueIds[name] ? { uniqueId: uniqueIds[name] } : {}) })).body;
    const login = (await p.api('POST', '/auth/login', { tenant: slug, email: `${name}@${slug}.test`, password: 'password-1' }, '')).body;
    out[name] = { id: user.id, token: login.token, deviceToken: device.token, deviceId: device.device.id };
  }
  return out;
}

let clock = Math.floor(Date.now() / 1000) - 600;

/** Ann's phone reports through OwnTracks HTTP (any protocol would do), each fix newer than the last. */
async function report(p: TestPlatform, who: Member, lat: number, lon: number): Promise<void> {
  const res = await fetch(`${p.url}/owntracks`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`ann:${who.deviceToken}`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ _type: 'location', lat, lon, tst: (clock += 5), acc: 8 }),
  });
  assert.equal(res.status, 200, await res.text());
}

describe('follow me over OwnTracks MQTT, embedded broker', () => {
  let p: TestPlatform;
  let tenantId: string;
  let m: Record<string, Member>;
  const clients: MqttClient[] = [];
  const as = (who: string, method: string, path: string, body?: unknown) => p.api(method, `/tenants/${tenantId}${path}`, body, m[who]!.token);
  const app = async (user: string, token: string) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${p.edge!.mqttPort}`, { username: user, password: token, clientId: `test-${randomBytes(4).toString('hex')}`, reconnectPeriod: 0 });
    clients.push(client);
    const box = inbox(client);
    // What the OwnTracks app subscribes to by default.
    await client.subscribeAsync(['owntracks/+/+', 'owntracks/+/+/info', 'owntracks/+/+/event'], { qos: 1 });
    return box;
  };

  before(async () => {
    p = await startTestPlatform();
    const t = await seedTenant(p);
    tenantId = t.tenant.id;
    m = await members(p, tenantId, t.tenant.slug, ['ann', 'ben', 'cat']);
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await p.stop();
  });

  it('shows Ann to Ben when she shares, live, and nothing to Cat; after the revocation Ben gets her removed and nothing more', async () => {
    await report(p, m.ann!, 52.52, 13.405);
    const ben = await app('ben', m.ben!.deviceToken);
    const cat = await app('cat', m.cat!.deviceToken);
    await sleep(200);
    assert.deepEqual(ben.got, [], 'nobody shares with Ben yet');
    const base = `owntracks/${m.ann!.id}/${m.ann!.deviceId}`;

    const share = (await as('ann', 'POST', '/me/shares', { userIds: [m.ben!.id] })).body;
    const card = await ben.next(`${base}/info`, 2000);
    assert.deepEqual(card, { _type: 'card', tid: 'AD', name: 'Ann Doe' });
    const first = await ben.next(base, 2000);
    assert.deepEqual([first._type, first.tid, first.lat, first.lon, first.acc], ['location', 'AD', 52.52, 13.405, 8], 'her last position at once');

    await report(p, m.ann!, 52.53, 13.41);
    assert.equal((await ben.next(base)).lat, 52.53, 'live');

    assert.equal((await as('ann', 'DELETE', `/me/shares/${share.id}`)).status, 204);
    assert.equal(await ben.next(`${base}/info`), null, 'the card is cleared');
    assert.equal(await ben.next(base), null, 'the friend is removed from the map');
    await report(p, m.ann!, 52.54, 13.42);
    await sleep(300);
    assert.deepEqual(ben.got, [], 'nothing after the revocation');
    assert.deepEqual(cat.got, [], 'Cat never saw Ann');
  });

  it('reaches the members of a group the share names, and a follower who connects later', async () => {
    const group = (await p.api('POST', `/tenants/${tenantId}/groups`, { name: 'Night shift', userIds: [m.cat!.id] })).body;
    const share = (await as('ann', 'POST', '/me/shares', { groupIds: [group.id] })).body;
    const cat = await app('cat', m.cat!.deviceToken);
    const location = await cat.next(`owntracks/${m.ann!.id}/${m.ann!.deviceId}`);
    assert.equal(location.lat, 52.54);
    await as('ann', 'DELETE', `/me/shares/${share.id}`);
  });

  it('removes a friend whose share has ended, and sends nothing more', async () => {
    const share = (await as('ann', 'POST', '/me/shares', { userIds: [m.ben!.id], minutes: 1 })).body;
    const ben = await app('ben', m.ben!.deviceToken);
    const base = `owntracks/${m.ann!.id}/${m.ann!.deviceId}`;
    assert.equal((await ben.next(base)).lat, 52.54);
    // Let the minute pass in the store; any change in the tenant makes the edge look again.
    const sharing = p.local.sharing as unknown as { store: { db: any } };
    await sharing.store.db.updateTable('shares').set({ expires_at: Date.now() }).where('id', '=', share.id).execute();
    await p.api('POST', `/tenants/${tenantId}/groups`, { name: 'Unrelated' });
    assert.equal(await ben.next(base), null, 'removed from the map');
    await report(p, m.ann!, 52.55, 13.43);
    await sleep(300);
    assert.deepEqual(ben.got.filter((g) => g.message !== null && g.topic === base), [], 'no position after the end');
  });

  it('never shows one tenant the people of another', async () => {
    const other = await seedTenant(p, 'Other');
    const o = await members(p, other.tenant.id, other.tenant.slug, ['dan']);
    const dan = await app('dan', o.dan!.deviceToken);
    const share = (await as('ann', 'POST', '/me/shares', { userIds: [m.ben!.id] })).body;
    await report(p, m.ann!, 52.56, 13.44);
    await sleep(300);
    assert.deepEqual(dan.got, []);
    await as('ann', 'DELETE', `/me/shares/${share.id}`);
  });
});

describe('follow me over OwnTracks MQTT, external broker (Mosquitto)', async () => {
  const up = await serviceReachable('Mosquitto', 1883);
  let p: TestPlatform;
  let tenantId: string;
  let m: Record<string, Member>;
  // Logins of their own, so that runs never see each other's retained messages.
  const run = randomBytes(4).toString('hex');
  const login = (name: string) => `${name}-${run}`;
  const clients: MqttClient[] = [];
  const as = (who: string, method: string, path: string, body?: unknown) => p.api(method, `/tenants/${tenantId}${path}`, body, m[who]!.token);
  /** An app whose subTopic is its own tree, as docs/device-protocols.md tells the operator to configure it. */
  const app = async (name: string) => {
    const client = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${login(name)}-${randomBytes(3).toString('hex')}`, reconnectPeriod: 0 });
    clients.push(client);
    const box = inbox(client);
    await client.subscribeAsync([`followme/${login(name)}/+/+`, `followme/${login(name)}/+/+/info`], { qos: 1 });
    return box;
  };

  before(async () => {
    if (!up) return;
    p = await startTestPlatform({ FOLLOWME_MQTT_PORT: 'off', FOLLOWME_MQTT_URL: 'mqtt://127.0.0.1:1883' });
    const t = await seedTenant(p);
    tenantId = t.tenant.id;
    m = await members(p, tenantId, t.tenant.slug, ['ann', 'ben', 'cat'], { ann: `${login('ann')}/phone`, ben: `${login('ben')}/phone`, cat: `${login('cat')}/phone` });
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await p?.stop();
  });

  it('publishes Ann to Ben\'s tree only, retained, and clears it when she revokes', { skip: !up }, async () => {
    const ann = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${login('ann')}-app`, reconnectPeriod: 0 });
    clients.push(ann);
    const tst = Math.floor(Date.now() / 1000) - 10;
    await ann.publishAsync(`owntracks/${login('ann')}/phone`, JSON.stringify({ _type: 'location', lat: 48.85, lon: 2.29, tst, acc: 5 }), { qos: 1 });
    await eventually(async () => ((await p.api('GET', `/tenants/${tenantId}/devices/${m.ann!.deviceId}/positions`)).body as unknown[]).length > 0 || undefined, 5000, 'Ann stored');
    const ben = await app('ben');
    const cat = await app('cat');
    const base = `followme/${login('ben')}/${m.ann!.id}/${m.ann!.deviceId}`;

    const share = (await as('ann', 'POST', '/me/shares', { userIds: [m.ben!.id], minutes: 30 })).body;
    assert.equal((await ben.next(`${base}/info`)).name, 'Ann Doe');
    assert.equal((await ben.next(base)).lat, 48.85, 'her last position when the share starts');

    await ann.publishAsync(`owntracks/${login('ann')}/phone`, JSON.stringify({ _type: 'location', lat: 48.86, lon: 2.3, tst: tst + 5, acc: 5 }), { qos: 1 });
    assert.equal((await ben.next(base)).lat, 48.86, 'live');

    // An app that subscribes later gets the retained newest position at once.
    const later = await app('ben');
    assert.equal((await later.next(base)).lat, 48.86);

    await as('ann', 'DELETE', `/me/shares/${share.id}`);
    assert.equal(await ben.next(base), null, 'removed from Ben\'s map');
    await ann.publishAsync(`owntracks/${login('ann')}/phone`, JSON.stringify({ _type: 'location', lat: 48.87, lon: 2.31, tst: tst + 8, acc: 5 }), { qos: 1 });
    await sleep(500);
    assert.deepEqual(ben.got.filter((g) => g.message !== null), [], 'nothing after the revocation');
    assert.deepEqual(cat.got, [], 'Cat\'s tree never had Ann');
    const fresh = await app('ben');
    await sleep(300);
    assert.deepEqual(fresh.got, [], 'nothing retained for Ben once revoked');
  });

  it('clears Ben\'s tree when he leaves the group Ann shares with, though her share goes on', { skip: !up }, async () => {
    const group = (await p.api('POST', `/tenants/${tenantId}/groups`, { name: `walkers-${run}` })).body;
    assert.equal((await p.api('POST', `/tenants/${tenantId}/groups/${group.id}/members`, { userIds: [m.ben!.id, m.cat!.id] })).status, 200);
    const ben = await app('ben');
    const cat = await app('cat');
    const base = (name: string) => `followme/${login(name)}/${m.ann!.id}/${m.ann!.deviceId}`;
    const share = (await as('ann', 'POST', '/me/shares', { groupIds: [group.id], minutes: 30 })).body;
    assert.equal((await ben.next(`${base('ben')}/info`)).name, 'Ann Doe');
    assert.equal((await ben.next(base('ben'))).lat, 48.87, 'Ben sees Ann through the group');
    assert.equal((await cat.next(base('cat'))).lat, 48.87, 'and so does Cat');

    assert.equal((await p.api('DELETE', `/tenants/${tenantId}/groups/${group.id}/members/${m.ben!.id}`)).status, 200);
    assert.equal(await ben.next(base('ben')), null, 'Ben\'s tree is cleared at once');
    assert.equal(await ben.next(`${base('ben')}/info`), null, 'his card of Ann too');
    const fresh = await app('ben');
    await sleep(300);
    assert.deepEqual(fresh.got, [], 'nothing retained for Ben');
    const ann = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${login('ann')}-app2`, reconnectPeriod: 0 });
    clients.push(ann);
    await ann.publishAsync(`owntracks/${login('ann')}/phone`, JSON.stringify({ _type: 'location', lat: 48.88, lon: 2.32, tst: Math.floor(Date.now() / 1000), acc: 5 }), { qos: 1 });
    assert.equal((await cat.next(base('cat'))).lat, 48.88, 'Cat, still in the group, goes on seeing Ann');
    await sleep(300);
    assert.deepEqual(ben.got.filter((g) => g.message !== null), [], 'Ben gets nothing more');
    await as('ann', 'DELETE', `/me/shares/${share.id}`);
  });
});

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('follow me over an external broker with the documented ACL (a private Mosquitto)', async () => {
  const binary = spawnSync('mosquitto', ['-h']).error === undefined;
  let dir: string;
  let broker: ChildProcess | undefined;
  let port: number;
  let p: TestPlatform;
  let tenantId: string;
  let m: Record<string, Member>;
  const clients: MqttClient[] = [];
  const login = (user: string) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: user, password: `${user}-pw`, clientId: `${user}-${randomBytes(3).toString('hex')}`, reconnectPeriod: 0 }).then((c) => (clients.push(c), c));

  before(async () => {
    if (!binary) return;
    dir = mkdtempSync(join(tmpdir(), 'followme-mosquitto-'));
    port = await freePort();
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, '');
    for (const user of ['followme', 'ann', 'ben', 'cat']) spawnSync('mosquitto_passwd', ['-b', passwd, user, `${user}-pw`]);
    // The ACL of docs/device-protocols.md, word for word.
    writeFileSync(join(dir, 'acl'), 'pattern write owntracks/%u/#\npattern read owntracks/%u/+/cmd\npattern read followme/%u/#\nuser followme\ntopic readwrite owntracks/#\ntopic write followme/#\n');
    writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwd}\nacl_file ${join(dir, 'acl')}\npersistence false\nuser root\n`);
    for (const f of ['passwd', 'acl', 'mosquitto.conf']) chmodSync(join(dir, f), 0o600);
    broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await eventually(() => serviceReachable('private Mosquitto', port).then((up) => up || undefined), 5000, 'the private Mosquitto');
    p = await startTestPlatform({ FOLLOWME_MQTT_PORT: 'off', FOLLOWME_MQTT_URL: `mqtt://followme:followme-pw@127.0.0.1:${port}` });
    const t = await seedTenant(p);
    tenantId = t.tenant.id;
    m = await members(p, tenantId, t.tenant.slug, ['ann', 'ben', 'cat'], { ann: 'ann/phone', ben: 'ben/phone', cat: 'cat/phone' });
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await p?.stop();
    broker?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lets Ben read Ann in his own tree while Cat, subscribing to everything she may, reads nothing of Ann', { skip: !binary }, async () => {
    const cat = await login('cat');
    const catBox = inbox(cat);
    await cat.subscribeAsync(['followme/#', 'owntracks/#', '#'], { qos: 1 });
    const ann = await login('ann');
    await ann.publishAsync('owntracks/ann/phone', JSON.stringify({ _type: 'location', lat: 48.85, lon: 2.29, tst: Math.floor(Date.now() / 1000) - 5, acc: 5 }), { qos: 1 });
    await eventually(async () => ((await p.api('GET', `/tenants/${tenantId}/devices/${m.ann!.deviceId}/positions`)).body as unknown[]).length > 0 || undefined, 5000, 'Ann stored through the ACL');
    await p.api('POST', `/tenants/${tenantId}/me/shares`, { userIds: [m.ben!.id] }, m.ann!.token);
    const ben = await login('ben');
    const benBox = inbox(ben);
    await ben.subscribeAsync(['followme/ben/+/+', 'followme/ben/+/+/info'], { qos: 1 });
    assert.equal((await benBox.next(`followme/ben/${m.ann!.id}/${m.ann!.deviceId}`)).lat, 48.85, 'retained for Ben');
    await sleep(300);
    assert.deepEqual(catBox.got, [], 'the broker delivered Cat nothing: not Ann\'s raw location, not Ben\'s tree');
  });
});

describe('follow me: the forwarding check', () => {
  it('lets a friend message through only while the share lasts, and removals always', async () => {
    const { EmbeddedFollow } = await import('../../src/edge/owntracks-follow.js');
    const follow = new EmbeddedFollow({} as never, async () => {});
    const app = { device: { tenantId: 't', deviceId: 'b' }, refreshedAt: 0, follows: new Map([['a', { base: 'owntracks/u/a', name: 'Ann', expiresAt: Date.now() + 60_000 }], ['x', { base: 'owntracks/u/x', name: 'Ann', expiresAt: Date.now() - 1 }], ['y', { base: 'owntracks/u/y', name: 'Ann', expiresAt: null }]]) };
    assert.equal(follow.mayForward(app, { kind: 'friend', deviceId: 'a' }), true);
    assert.equal(follow.mayForward(app, { kind: 'friend', deviceId: 'y' }), true, 'until revoked');
    assert.equal(follow.mayForward(app, { kind: 'friend', deviceId: 'x' }), false, 'expired a moment ago');
    assert.equal(follow.mayForward(app, { kind: 'friend', deviceId: 'z' }), false, 'never shared');
    assert.equal(follow.mayForward(app, { kind: 'clear' }), true);
  });
});
