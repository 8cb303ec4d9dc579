/** SOS alarms through the real server and real device sockets: kept across a restart, acknowledged by a responder, resolved by an operator, readable only where they should be. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { eventually, fix, seedTenant, serviceReachable, sleep, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { startPlatformProcess, type PlatformProcess } from '../support/process.js';

const PG_URL = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_PREFIX = `sos${process.pid}_`;
const stores: [string, Record<string, string>][] = [
  ['SQLite', {}],
  ['PostgreSQL', { FOLLOWME_STORE: 'postgres', FOLLOWME_DATABASE_URL: PG_URL, FOLLOWME_DATABASE_SCHEMA_PREFIX: PG_PREFIX }],
];

for (const [storeName, storeEnv] of stores) {
  const FAST = { FOLLOWME_OUTBOX_POLL_MS: '20', FOLLOWME_NOTIFICATION_SWEEP_MS: '50', ...storeEnv };

  describe(`SOS alarms on ${storeName}`, { skip: storeName === 'PostgreSQL' && !(await serviceReachable('PostgreSQL', 5432)) }, () => {
    let p: TestPlatform;
    let t: Awaited<ReturnType<typeof seedTenant>>;
    let other: Awaited<ReturnType<typeof seedTenant>>;
    let member: { id: string; token: string };
    let carried: { device: { id: string }; token: string };
    let as: (method: string, path: string, body?: unknown, token?: string) => Promise<{ status: number; body: any }>;

    before(async () => {
      p = await startTestPlatform(FAST);
      t = await seedTenant(p);
      other = await seedTenant(p, 'Other');
      as = (method, path, body, token = t.operatorToken) => p.api(method, `/tenants/${t.tenant.id}${path}`, body, token);
      const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: 'mia@acme.test', name: 'Mia Member', role: 'member', password: 'correct horse' })).body;
      member = { id: user.id, token: (await p.api('POST', '/auth/login', { tenant: t.tenant.slug, email: 'mia@acme.test', password: 'correct horse' })).body.token };
      carried = (await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: 'mia-phone', userId: user.id })).body;
      assert.equal((await p.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { responders: { deviceIds: [t.devices[1]!.device.id] } })).status, 200);
    });
    after(async () => {
      await p.stop();
      if (storeName !== 'PostgreSQL') return;
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const service of ['client', 'tracker', 'geofence', 'notification']) await client.query(`DROP SCHEMA IF EXISTS "${PG_PREFIX}${service}" CASCADE`);
      await client.end();
    });

    it('keeps an SOS with who raised it, where, its alert and its responders, and moves it to acknowledged when a responder acknowledges', async () => {
      const { device: victim } = await TestDevice.connect(p.url, carried.token);
      const { device: responder } = await TestDevice.connect(p.url, t.devices[1]!.token);
      assert.equal((await victim.request({ type: 'sos', id: 'sos-a', fix: fix(13.3777, 52.5163, Date.now(), { accuracy: 12 }), text: 'Fell, cannot walk' })).status, 'accepted');
      const alert = await responder.next((f) => f.type === 'message' && f.priority === 'critical');
      assert.equal(alert.title, 'SOS from Mia Member (mia-phone)');
      const [alarm] = (await as('GET', '/sos-alarms')).body;
      assert.equal(alarm.state, 'open');
      assert.equal(alarm.sosId, 'sos-a');
      assert.equal(alarm.deviceId, carried.device.id);
      assert.equal(alarm.deviceName, 'mia-phone');
      assert.equal(alarm.userId, member.id);
      assert.equal(alarm.personName, 'Mia Member');
      assert.deepEqual(alarm.position, { lon: 13.3777, lat: 52.5163, accuracy: 12 });
      assert.equal(alarm.text, 'Fell, cannot walk');
      assert.equal(alarm.message.id, alert.messageId);
      assert.equal(alarm.message.title, alert.title);
      assert.deepEqual(alarm.responders.map((r: { deviceId: string; name: string }) => [r.deviceId, r.name]), [[t.devices[1]!.device.id, 'phone-2']]);
      assert.equal(alarm.acknowledgedBy, null);

      await responder.request({ type: 'receipt', id: 'ack-1', deliveryId: alert.deliveryId, status: 'acknowledged' });
      const acknowledged = (await as('GET', `/sos-alarms/${alarm.id}`)).body;
      assert.equal(acknowledged.state, 'acknowledged');
      assert.deepEqual(acknowledged.acknowledgedBy, { deviceId: t.devices[1]!.device.id, name: 'phone-2' });
      assert.ok(acknowledged.acknowledgedAt >= alarm.raisedAt);
      assert.equal(acknowledged.responders[0].state, 'acknowledged');
      assert.equal(acknowledged.responders[0].acknowledgedAt, acknowledged.acknowledgedAt);

      // a resent SOS (same id, after a reconnect) is the same alarm
      assert.equal((await victim.request({ type: 'sos', id: 'sos-a', text: 'Fell, cannot walk' })).status, 'accepted');
      await p.bus.drain();
      assert.equal((await as('GET', '/sos-alarms?state=all')).body.length, 1);
      victim.close();
      responder.close();
    });

    it('keeps an SOS when the tenant has no responders, and tells the live stream of every change', async () => {
      const stream = await fetch(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`);
      const reader = stream.body!.getReader();
      let seen = '';
      const read = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          seen += new TextDecoder().decode(value);
        }
      })();
      await p.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { responders: null });
      try {
        const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
        assert.equal((await device.request({ type: 'sos', id: 'sos-b' })).status, 'accepted');
        const alarm = await eventually(async () => ((await as('GET', '/sos-alarms')).body as any[]).find((a) => a.sosId === 'sos-b'), 5000, 'alarm kept');
        assert.equal(alarm.message, null);
        assert.deepEqual(alarm.responders, []);
        assert.equal(alarm.position, null);
        assert.equal(alarm.personName, null);
        const resolved = await as('POST', `/sos-alarms/${alarm.id}/resolve`, { resolution: 'False alarm, called back' });
        assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
        assert.equal(resolved.body.state, 'resolved');
        assert.equal(resolved.body.resolvedBy.name, 'Olga Operator');
        assert.equal(resolved.body.resolvedBy.userId, t.operator.id);
        assert.equal(resolved.body.resolution, 'False alarm, called back');
        const again = await as('POST', `/sos-alarms/${alarm.id}/resolve`, {});
        assert.equal(again.status, 409);
        assert.equal(again.body.errors[0].field, 'id');
        await eventually(() => /event: sos-alarm\ndata: .*"sosId":"sos-b".*"state":"open"/.test(seen) && /event: sos-alarm\ndata: .*"sosId":"sos-b".*"state":"resolved"/.test(seen), 5000, 'sos-alarm events on the live stream');
        device.close();
      } finally {
        await reader.cancel();
        await read.catch(() => undefined);
        await p.api('PUT', `/tenants/${t.tenant.id}/notification-settings`, { responders: { deviceIds: [t.devices[1]!.device.id] } });
      }
    });

    it('lists unresolved alarms by default, filters by state and pages with before', async () => {
      const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
      for (const id of ['sos-c1', 'sos-c2', 'sos-c3']) {
        assert.equal((await device.request({ type: 'sos', id })).status, 'accepted');
        await sleep(3); // one millisecond apart at least: the order is by time
      }
      await p.bus.drain();
      device.close();
      const all = (await as('GET', '/sos-alarms?state=all')).body as { id: string; sosId: string; state: string; raisedAt: number }[];
      assert.deepEqual(all.map((a) => a.sosId), ['sos-c3', 'sos-c2', 'sos-c1', 'sos-b', 'sos-a'], 'newest first');
      assert.deepEqual(((await as('GET', '/sos-alarms')).body as { sosId: string }[]).map((a) => a.sosId), ['sos-c3', 'sos-c2', 'sos-c1', 'sos-a'], 'unresolved: open and acknowledged');
      assert.deepEqual(((await as('GET', '/sos-alarms?state=acknowledged')).body as { sosId: string }[]).map((a) => a.sosId), ['sos-a']);
      assert.deepEqual(((await as('GET', '/sos-alarms?state=resolved')).body as { sosId: string }[]).map((a) => a.sosId), ['sos-b']);
      const first = (await as('GET', '/sos-alarms?state=all&limit=2')).body as { id: string; sosId: string }[];
      const second = (await as('GET', `/sos-alarms?state=all&limit=2&before=${first[1]!.id}`)).body as { id: string; sosId: string }[];
      const third = (await as('GET', `/sos-alarms?state=all&limit=2&before=${second[1]!.id}`)).body as { id: string; sosId: string }[];
      assert.deepEqual([...first, ...second, ...third].map((a) => a.sosId), all.map((a) => a.sosId));

      const badState = await as('GET', '/sos-alarms?state=closed');
      assert.equal(badState.status, 400);
      assert.match(badState.body.errors[0].field, /state/);
      const badCursor = await as('GET', '/sos-alarms?before=sos_nope');
      assert.equal(badCursor.status, 400);
      assert.equal(badCursor.body.errors[0].field, 'before');
    });

    it('lets a device read only its own alarms, and a member only those of the devices they carry', async () => {
      const own = (await as('GET', '/sos-alarms?state=all', undefined, t.devices[0]!.token)).body as { id: string; deviceId: string; sosId: string }[];
      assert.deepEqual(own.map((a) => a.sosId), ['sos-c3', 'sos-c2', 'sos-c1', 'sos-b']);
      assert.ok(own.every((a) => a.deviceId === t.devices[0]!.device.id));
      assert.deepEqual((await as('GET', '/sos-alarms?state=all', undefined, t.devices[1]!.token)).body, [], 'the responder raised none');
      const mine = (await as('GET', '/sos-alarms?state=all', undefined, member.token)).body as { sosId: string; id: string }[];
      assert.deepEqual(mine.map((a) => a.sosId), ['sos-a']);
      assert.equal((await as('GET', `/sos-alarms/${mine[0]!.id}`, undefined, member.token)).status, 200);
      assert.equal((await as('GET', `/sos-alarms/${own[0]!.id}`, undefined, member.token)).status, 404, "another device's alarm does not exist for a member");
      assert.equal((await as('GET', `/sos-alarms/${mine[0]!.id}`, undefined, t.devices[0]!.token)).status, 404, "nor for another device");
      const byDevice = await as('POST', `/sos-alarms/${own[0]!.id}/resolve`, {}, t.devices[0]!.token);
      assert.equal(byDevice.status, 403, 'a device cannot resolve');
      assert.equal((await as('POST', `/sos-alarms/${mine[0]!.id}/resolve`, {}, member.token)).status, 403, 'nor can a member');
    });

    it("answers 404 for another tenant's alarms, by list or by id", async () => {
      const alarmOfA = ((await as('GET', '/sos-alarms?state=all')).body as { id: string }[])[0]!.id;
      assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/sos-alarms`, undefined, other.operatorToken)).status, 404);
      assert.equal((await p.api('GET', `/tenants/${t.tenant.id}/sos-alarms`, undefined, other.devices[0]!.token)).status, 404);
      assert.equal((await p.api('GET', `/tenants/${other.tenant.id}/sos-alarms/${alarmOfA}`, undefined, other.operatorToken)).status, 404);
      assert.equal((await p.api('POST', `/tenants/${other.tenant.id}/sos-alarms/${alarmOfA}/resolve`, {}, other.operatorToken)).status, 404);
      assert.deepEqual((await p.api('GET', `/tenants/${other.tenant.id}/sos-alarms?state=all`, undefined, other.operatorToken)).body, []);
    });

    it('keeps the alarms across a restart', async () => {
      const before = (await as('GET', '/sos-alarms?state=all')).body;
      await p.close();
      const again = await startTestPlatform(FAST, p.dataDir);
      try {
        const after = (await again.api('GET', `/tenants/${t.tenant.id}/sos-alarms?state=all`, undefined, t.operatorToken)).body;
        assert.deepEqual(after, before);
      } finally {
        p = again;
      }
    });
  });
}

describe('an acknowledged SOS across a crash (embedded deployment)', () => {
  const FAST = { FOLLOWME_OUTBOX_POLL_MS: '20', FOLLOWME_NOTIFICATION_SWEEP_MS: '50' };

  // The test holds the notification store's write lock while the SOS comes in: an SOS acknowledged
  // then exists only in the in-process bus, which the SIGKILL right after the ack takes with it.
  it('is kept before the device hears its ack: a process killed at the ack has the alarm, its alert and its rule alert at the next start, each once', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'followme-sos-crash-'));
    const setup = await startTestPlatform(FAST, dataDir);
    const t = await seedTenant(setup);
    const as = (method: string, path: string, body?: unknown) => setup.api(method, `/tenants/${t.tenant.id}${path}`, body);
    const responder = t.devices[1]!;
    assert.equal((await as('PUT', '/notification-settings', { responders: { deviceIds: [responder.device.id] } })).status, 200);
    assert.equal((await as('POST', '/rules', { name: 'sos to the desk', on: 'sos', target: { deviceIds: [responder.device.id] }, title: '{device} {event}' })).status, 201);
    await setup.close();

    let first: PlatformProcess | undefined;
    let second: TestPlatform | undefined;
    const lock = new Database(join(dataDir, 'notification.db'));
    try {
      first = await startPlatformProcess(FAST, dataDir);
      const { device } = await TestDevice.connect(first.url, t.devices[0]!.token);
      lock.exec('BEGIN IMMEDIATE');
      device.send({ type: 'sos', id: 'sos-crash', text: 'Trapped in lift B' });
      const ack = device.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === 'sos-crash', 15_000);
      // an ack while the store is locked would come at once; otherwise the store may write after a second
      const early = await Promise.race([ack.then(() => true), sleep(1000).then(() => false)]);
      if (!early) lock.exec('ROLLBACK');
      const answer = await ack;
      first.kill(); // nothing of the process runs after the ack
      assert.equal(await first.exited, 'SIGKILL');
      if (lock.inTransaction) lock.exec('ROLLBACK');
      lock.close();
      assert.equal(answer.type, 'ack', JSON.stringify(answer));
      assert.equal(answer.status, 'accepted');

      second = await startTestPlatform(FAST, dataDir);
      const alarms = (await second.api('GET', `/tenants/${t.tenant.id}/sos-alarms?state=all`)).body as any[];
      assert.equal(alarms.length, 1, `the acknowledged SOS is kept (the ack came ${early ? 'while the store was locked' : 'after the store wrote'})`);
      assert.equal(alarms[0].sosId, 'sos-crash');
      assert.equal(alarms[0].text, 'Trapped in lift B');
      const { device: desk, welcome } = await TestDevice.connect(second.url, responder.token);
      assert.equal(welcome.pending, 2, 'the SOS alert and the rule alert, each once');
      const titles = [(await desk.next((f) => f.type === 'message')).title, (await desk.next((f) => f.type === 'message')).title].sort();
      assert.deepEqual(titles, ['SOS from phone-1', 'phone-1 raised an SOS']);

      // the phone never learns the process died after its ack, but if it resends, nothing doubles
      const { device: again } = await TestDevice.connect(second.url, t.devices[0]!.token);
      assert.equal((await again.request({ type: 'sos', id: 'sos-crash', text: 'Trapped in lift B' })).status, 'accepted');
      await second.bus.drain();
      assert.equal((await second.api('GET', `/tenants/${t.tenant.id}/sos-alarms?state=all`)).body.length, 1);
      assert.equal((await second.api('GET', `/tenants/${t.tenant.id}/messages`)).body.length, 2);
      device.close();
      desk.close();
      again.close();
    } finally {
      first?.kill();
      if (lock.open) lock.close();
      await second?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
