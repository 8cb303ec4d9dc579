/**
 * What a large send costs before it is answered: `POST /messages` stores the message and one
 * delivery per device in one transaction (src/services/notification/service.ts, insertMessage).
 *
 * 1. The deliveries' insert alone, into the real notification schema (every index and constraint),
 *    on the SQLite file store and on PostgreSQL when reachable: N rows through `insertRows` (5,000
 *    rows a statement, one parameter per column) against the baseline of Kysely's multi-row VALUES
 *    of 500 rows a statement (the path before), in the same run, alternating, each in one
 *    transaction as the send does.
 * 2. The whole `POST /messages` to N devices in groups of 20,000, through an in-process platform
 *    (embedded, SQLite; and with its stores on PostgreSQL when reachable), after bulk enrolment.
 *
 *   npx tsc -b && node dist/bench/send.js                 # 100,000 deliveries and devices
 *   node dist/bench/send.js --devices=20000 --rounds=5
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Kysely } from 'kysely';
import { PostgresStoreFactory } from '../src/adapters/store-postgres.js';
import { SqliteStoreFactory } from '../src/adapters/store-sqlite.js';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/core/ids.js';
import { createLogger } from '../src/core/log.js';
import { insertRows, type StoreFactory } from '../src/ports/store.js';
import { startPlatform } from '../src/roles.js';
import { notificationMigrations, type NotificationDB } from '../src/services/notification/schema.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const devices = Number(args.get('devices') ?? 100_000);
const rounds = Number(args.get('rounds') ?? 3);
const PG_URL = process.env.FOLLOWME_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `bsend${process.pid}_`;
const T = 'ten_bench';
const KEY = 'fma_bench-send-key-0123456789';

async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropSchemas(services: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of services) await client.query(`DROP SCHEMA IF EXISTS "${prefix}${s}" CASCADE`);
  await client.end();
}

const ms = (t0: number) => performance.now() - t0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Part 1: the deliveries of one message, the old way and the new, alternating. */
async function inserts(name: string, factory: StoreFactory): Promise<void> {
  const store = await factory.open<NotificationDB>('notification', notificationMigrations);
  const db = store.db as Kysely<NotificationDB>;
  const deviceIds = Array.from({ length: devices }, () => newId('dev'));
  const rowsFor = async (): Promise<{ messageId: string; rows: Record<string, unknown>[] }> => {
    const now = Date.now();
    const messageId = newId('msg');
    await db.insertInto('messages').values({ id: messageId, tenant_id: T, title: 'bench', body: '', priority: 'normal', ack_required: 0, options: null, target: '{}', sender: '{}', rule_id: null, created_at: now, expires_at: null, channels: '["app"]', escalation: null, escalation_due_at: null, escalated_at: null, live_until: null, live_fence_id: null, temp_fence: 0, parent_id: null, subject: null, source: null }).execute();
    const rows = deviceIds.map((deviceId) => ({ id: newId('dlv'), tenant_id: T, message_id: messageId, device_id: deviceId, state: 'queued', response: null, responded_by: null, queued_at: now, sent_at: null, delivered_at: null, read_at: null, acknowledged_at: null, dispatch_at: now, expired_at: null }));
    return { messageId, rows };
  };
  const ways: [string, (trx: Kysely<NotificationDB>, rows: Record<string, unknown>[]) => Promise<void>][] = [
    ['baseline: Kysely VALUES, 500 rows a statement', async (trx, rows) => {
      for (let i = 0; i < rows.length; i += 500) await trx.insertInto('deliveries').values(rows.slice(i, i + 500) as never).execute();
    }],
    ['insertRows, 5,000 rows a statement', async (trx, rows) => {
      for (let i = 0; i < rows.length; i += 5000) await insertRows(trx, 'deliveries', rows.slice(i, i + 5000));
    }],
  ];
  const times = new Map<string, number[]>(ways.map(([label]) => [label, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [label, insert] of round % 2 ? [...ways].reverse() : ways) {
      const { rows } = await rowsFor();
      const t0 = performance.now();
      await db.transaction().execute((trx) => insert(trx, rows));
      times.get(label)!.push(ms(t0));
    }
  }
  const [base, fast] = ways.map(([label]) => median(times.get(label)!));
  for (const [label] of ways) {
    const t = median(times.get(label)!);
    console.log(`${name}: ${devices} deliveries, ${label.padEnd(46)} ${t.toFixed(0).padStart(6)} ms  (${((t * 1000) / devices).toFixed(1)} µs/row; ${times.get(label)!.map((x) => x.toFixed(0)).join(', ')})`);
  }
  console.log(`${name}: insertRows takes ${(fast! / base!).toFixed(2)}× the baseline's time`);
  await store.close();
}

/** Part 2: the whole POST /messages to every device, through a platform in this process. */
async function send(name: string, env: Record<string, string>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'followme-bench-send-'));
  const platform = await startPlatform(loadConfig({ HOST: '127.0.0.1', PORT: '0', FOLLOWME_DATA_DIR: dataDir, FOLLOWME_DEMO: 'off', FOLLOWME_ADMIN_KEY: KEY, FOLLOWME_SQLITE_SYNC: 'normal', FOLLOWME_OSMAND_PORT: 'off', FOLLOWME_MQTT_PORT: 'off', ...env }), createLogger('warn'));
  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${platform.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as T };
  };
  try {
    const tenant = (await api<{ id: string }>('POST', '/tenants', { name: 'Send bench' })).body;
    await api('PATCH', `/tenants/${tenant.id}/plan`, { name: 'bench', quotas: { devices: 0, messagesPerDay: 0 } });
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < devices; i += 5000) {
      const r = await api<{ device: { id: string } }[]>('POST', `/tenants/${tenant.id}/devices/bulk`, Array.from({ length: Math.min(5000, devices - i) }, (_, k) => ({ name: `send-${i + k}` })));
      if (r.status !== 201) throw new Error(`bulk enrolment answered ${r.status}`);
      for (const d of r.body) ids.push(d.device.id);
    }
    const groups: string[] = [];
    for (let i = 0; i < devices; i += 20_000) {
      const group = (await api<{ id: string }>('POST', `/tenants/${tenant.id}/groups`, { name: `Everyone ${groups.length + 1}` })).body.id;
      groups.push(group);
      for (let k = i; k < Math.min(i + 20_000, devices); k += 5000) await api('POST', `/tenants/${tenant.id}/groups/${group}/members`, { deviceIds: ids.slice(k, Math.min(k + 5000, i + 20_000)) });
    }
    console.log(`${name}: ${devices} devices in ${groups.length} groups provisioned in ${(ms(t0) / 1000).toFixed(1)} s`);
    const took: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const t1 = performance.now();
      const r = await api<{ id: string }>('POST', `/tenants/${tenant.id}/messages`, { target: { groupIds: groups }, title: 'Send bench' });
      if (r.status !== 201) throw new Error(`POST /messages answered ${r.status}`);
      took.push(ms(t1));
    }
    console.log(`${name}: POST /messages to ${devices} devices answered in ${took.map((t) => `${t.toFixed(0)} ms`).join(', ')}`);
  } finally {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

console.log(`send bench: ${devices} devices, ${rounds} rounds, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const dir = mkdtempSync(join(tmpdir(), 'followme-bench-send-store-'));
try {
  await inserts('SQLite', new SqliteStoreFactory({ dataDir: dir, synchronous: 'normal' }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const withPg = await pgReachable();
if (withPg) {
  try {
    await inserts('PostgreSQL', new PostgresStoreFactory({ connectionString: PG_URL, schemaPrefix: prefix }));
  } finally {
    await dropSchemas(['notification']);
  }
} else console.log('PostgreSQL: not reachable, its rows skipped');
await send('SQLite', {});
if (withPg) {
  try {
    await send('PostgreSQL', { FOLLOWME_STORE: 'postgres', FOLLOWME_DATABASE_URL: PG_URL, FOLLOWME_DATABASE_SCHEMA_PREFIX: prefix });
  } finally {
    await dropSchemas(['client', 'tracker', 'geofence', 'notification']);
  }
}
