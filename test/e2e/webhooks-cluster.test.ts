/**
 * Geofence webhooks in the cluster deployment: NATS JetStream and PostgreSQL, the notification role
 * in a process of its own. The API process reaches the subscriptions through the `webhooks` surface
 * over the bus; geofence events reach the notification process through the durable consumer; the
 * notification process is stopped with deliveries pending and a new one delivers them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { eventually, fix, seedTenant, serviceReachable, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { deleteUnderPrefix, NATS_URL, uniquePrefix } from '../support/nats.js';
import { signatureValid, startReceiver } from '../support/receivers.js';

const PG_URL = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const HQ = { lon: 13.3777, lat: 52.5163 };
const up = (await serviceReachable('NATS', 4222)) && (await serviceReachable('PostgreSQL', 5432));

describe('geofence webhooks on NATS and PostgreSQL, notification in its own process', { skip: !up && 'NATS or PostgreSQL is not reachable', timeout: 120_000 }, () => {
  const prefix = uniquePrefix('hooks');
  const schemaPrefix = `${prefix}_`;
  const env = {
    FOLLOWME_BUS: 'nats', FOLLOWME_NATS_URL: NATS_URL, FOLLOWME_NATS_PREFIX: prefix,
    FOLLOWME_STORE: 'postgres', FOLLOWME_DATABASE_URL: PG_URL, FOLLOWME_DATABASE_SCHEMA_PREFIX: schemaPrefix, FOLLOWME_DATABASE_POOL: '3',
    FOLLOWME_OUTBOX_POLL_MS: '50', FOLLOWME_WEBHOOK_RETRY_MS: '100', FOLLOWME_WEBHOOK_MAX_ATTEMPTS: '2', FOLLOWME_LEASE_MS: '3000',
  };
  const notificationEnv = { ...env, FOLLOWME_ROLES: 'notification' };
  let front: TestPlatform;
  let back: TestPlatform;
  before(async () => {
    front = await startTestPlatform({ ...env, FOLLOWME_ROLES: 'edge,api,client,tracker,geofence' });
    back = await startTestPlatform(notificationEnv, mkdtempSync(join(tmpdir(), 'followme-test-')));
  });
  after(async () => {
    await front?.stop();
    await back?.stop();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (const service of ['client', 'tracker', 'geofence', 'notification']) await client.query(`DROP SCHEMA IF EXISTS "${schemaPrefix}${service}" CASCADE`);
    await client.end();
    await deleteUnderPrefix(prefix);
  });

  it('delivers signed events across processes, dead-letters and replays, and delivers what was pending after the notification process is replaced', async () => {
    assert.equal(front.local.notification, undefined, 'the API process runs no notification service');
    const t = await seedTenant(front);
    const api = (method: string, path: string, body?: unknown) => front.api(method, `/tenants/${t.tenant.id}${path}`, body);
    let mode: 'ok' | 'fail' = 'fail';
    const accepted = new Map<string, number>();
    const receiver = await startReceiver((req, res) => {
      if (mode === 'fail') return void res.writeHead(502).end();
      const id = String(req.headers['x-followme-event']);
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
      res.writeHead(200).end();
    });
    const { device } = await TestDevice.connect(front.url, t.devices[0]!.token);
    try {
      const fence = (await api('POST', '/fences', { name: 'Gate', geometry: { type: 'Point', coordinates: [HQ.lon, HQ.lat] }, radius: 100 })).body;
      const refused = await api('POST', '/webhooks', { url: receiver.url, events: ['enter'], fenceIds: ['fen_unknown'] });
      assert.deepEqual([refused.status, refused.body.errors?.[0]?.field], [400, 'fenceIds[0]'], 'validated across processes, naming the field');
      const hook = (await api('POST', '/webhooks', { url: receiver.url, events: ['enter', 'exit'], fenceIds: [fence.id] })).body;
      assert.match(hook.secret, /^whsec_/);
      let clock = Date.now() - 600_000;
      const move = async (inside: boolean) => {
        clock += 5000;
        const ack = await device.request({ type: 'position', id: `p${clock}`, fix: fix(inside ? HQ.lon : HQ.lon - 0.01, HQ.lat, clock, { accuracy: 5 }) });
        assert.equal(ack.status, 'accepted');
      };
      await move(false);
      await move(true);
      const [dead] = await eventually(async () => {
        const list = (await api('GET', `/webhooks/${hook.id}/deliveries?state=dead`)).body as any[];
        return list.length === 1 ? list : undefined;
      }, 20_000, 'the enter as a dead letter');
      assert.deepEqual([dead.eventType, dead.attempts, dead.lastStatus], ['enter', 2, 502]);

      mode = 'ok';
      assert.equal((await api('POST', `/webhooks/${hook.id}/replay`)).body.replayed, 1);
      await eventually(async () => (await api('GET', `/webhooks/${hook.id}/deliveries/${dead.id}`)).body.state === 'delivered', 10_000, 'replayed and delivered');

      // the notification process stops; an exit happens meanwhile and waits in JetStream
      await back.stop();
      await move(false);
      back = await startTestPlatform(notificationEnv, mkdtempSync(join(tmpdir(), 'followme-test-')));
      await eventually(async () => (await api('GET', `/webhooks/${hook.id}/deliveries?state=delivered`)).body.length === 2, 20_000, 'the exit delivered by the new process');
      assert.equal(receiver.requests.length, 4, 'two failed attempts, the replay, the exit');
      assert.ok(receiver.requests.every((r) => signatureValid(r, hook.secret)), 'every request signed with the secret');
      assert.deepEqual([...accepted.values()], [1, 1], 'enter and exit accepted once each');
      assert.equal(accepted.get(dead.eventId), 1);
    } finally {
      device.close();
      await receiver.close();
    }
  });
});
