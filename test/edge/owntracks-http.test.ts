/** OwnTracks HTTP mode over a real socket: Basic auth, the recorded messages, encryption, refusals, random bytes. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encryptOwntracks } from '../../src/edge/owntracks.js';
import { seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';
import { owntracksMessages } from './decoders.contract.js';

describe('OwnTracks HTTP mode', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const post = (body: string | Buffer | object, token = t.devices[0]!.token, extra: Record<string, string> = {}) =>
    fetch(`${p.url}/owntracks`, {
      method: 'POST',
      headers: { authorization: basic('jane', token), 'content-type': 'application/json', 'x-limit-u': 'jane', 'x-limit-d': 'phone', ...extra },
      body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
  const history = async (i = 0) => (await p.api('GET', `/tenants/${t.tenant.id}/devices/${t.devices[i]!.device.id}/positions`)).body as any[];

  before(async () => {
    p = await startTestPlatform({ FOLLOWME_MAX_FRAME_BYTES: '65536' });
    t = await seedTenant(p);
  });
  after(() => p.stop());

  it('stores the recorded location and answers [] (nobody followed yet)', async () => {
    const [location] = owntracksMessages();
    const tst = Math.floor(Date.now() / 1000) - 30;
    const res = await post({ ...location, tst, created_at: tst + 1 });
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), []);
    const [pos] = await history();
    assert.deepEqual([pos.time, pos.lat, pos.lon, pos.altitude, pos.battery, pos.speed], [tst * 1000, 48.856826, 2.292713, 154, 53, 0]);
  });

  it('accepts transition, waypoint and lwt with 200 and stores no position for them', async () => {
    const before = (await history()).length;
    for (const message of owntracksMessages().slice(1)) {
      const res = await post(message);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), []);
    }
    assert.equal((await history()).length, before);
  });

  it('refuses missing or wrong credentials with 401 and a Basic challenge', async () => {
    const none = await fetch(`${p.url}/owntracks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"_type":"lwt","tst":1}' });
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const wrong = await post({ _type: 'lwt', tst: 1 }, 'fmd_wrong');
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('content-type') ?? '', /problem\+json/);
  });

  it('decrypts an encrypted payload with the key set for the device, and refuses one it cannot decrypt', async () => {
    const patched = await p.api('PATCH', `/tenants/${t.tenant.id}/devices/${t.devices[1]!.device.id}`, { owntracksKey: 'correct horse battery staple' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.owntracksEncryption, true);
    assert.equal(JSON.stringify(patched.body).includes('correct horse'), false, 'the key is never shown');
    const tst = Math.floor(Date.now() / 1000) - 10;
    const location = { _type: 'location', lat: 52.5163, lon: 13.3777, tst, acc: 9, vel: 18, cog: 270, batt: 70, bs: 2, tid: 'jd' };
    const ok = await post(encryptOwntracks(location, 'correct horse battery staple'), t.devices[1]!.token);
    assert.equal(ok.status, 200, await ok.clone().text());
    const [pos] = await history(1);
    assert.deepEqual([pos.lat, pos.accuracy, pos.speed, pos.heading, pos.battery, pos.charging], [52.5163, 9, 5, 270, 70, true]);
    const wrongKey = await post(encryptOwntracks({ ...location, tst: tst + 1 }, 'another key'), t.devices[1]!.token);
    assert.equal(wrongKey.status, 401);
    const noKey = await post(encryptOwntracks({ ...location, tst: tst + 2 }, 'whatever'), t.devices[0]!.token);
    assert.equal(noKey.status, 401);
    assert.match(((await noKey.json()) as { detail: string }).detail, /no OwnTracks key/);
    assert.equal((await history(1)).length, 1);
  });

  it('refuses a location the tracker refuses with 400 naming the field', async () => {
    const res = await post({ _type: 'location', lat: 48.8, lon: 2.3, tst: Math.floor(Date.now() / 1000) + 3600 });
    assert.equal(res.status, 400);
    const problem = (await res.json()) as { code: string; errors: { field: string }[] };
    assert.equal(problem.code, 'validation_failed');
    assert.equal(problem.errors[0]!.field, 'time');
  });

  it('refuses an oversized body with 413 and random bytes with a clear 4xx, storing nothing', async () => {
    const big = await post({ _type: 'location', lat: 1, lon: 2, tst: 1, pad: 'x'.repeat(70_000) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { code: string }).code, 'payload_too_large');
    const before = (await history()).length;
    for (let i = 0; i < 50; i++) {
      const res = await post(randomBytes(1 + ((i * 53) % 3000)), t.devices[0]!.token, i % 2 ? { 'content-type': 'application/octet-stream' } : {});
      assert.ok([400, 401].includes(res.status), `status ${res.status}`);
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
      await res.arrayBuffer();
    }
    assert.equal((await history()).length, before);
  });
});
