/**
 * Provisioning figures: how long from the API call to the first device accepted for a new
 * customer, and how many customers a bulk file provisions per second. Baseline in the same run:
 * plain `POST /tenants` (a tenant row and nothing else) through the same API.
 * Run: npx tsc -b && node dist/bench/provisioning.js (also part of npm run bench; BENCH_PROVISIONING=off skips it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/core/log.js';
import { startPlatform } from '../src/roles.js';

const KEY = 'fma_bench-provisioning-key-000';
const SINGLE = Number(process.env.BENCH_PROVISION_SINGLE ?? 20);
const BULK = Number(process.env.BENCH_PROVISION_BULK ?? 200);

const dataDir = mkdtempSync(join(tmpdir(), 'followme-bench-prov-'));
const platform = await startPlatform(loadConfig({ HOST: '127.0.0.1', PORT: '0', FOLLOWME_DATA_DIR: dataDir, FOLLOWME_DEMO: 'off', FOLLOWME_ADMIN_KEY: KEY, FOLLOWME_OSMAND_PORT: 'off', FOLLOWME_MQTT_PORT: 'off' }), createLogger('silent'));
const api = async (method: string, path: string, body: unknown, token = KEY, type = 'application/json') => {
  const res = await fetch(`${platform.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<any>;
};
const hello = (token: string) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(`${platform.url.replace('http', 'ws')}/device/v1`);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', token })));
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string };
      ws.close();
      if (frame.type === 'welcome') resolve();
      else reject(new Error(JSON.stringify(frame)));
    });
    ws.on('error', reject);
  });
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length - 1) * p))]!;

try {
  // baseline: a bare tenant row through the same API
  let t0 = performance.now();
  for (let i = 0; i < BULK; i++) await api('POST', '/tenants', { name: `Baseline ${i}` });
  const baselinePerSecond = BULK / ((performance.now() - t0) / 1000);

  // one customer at a time: call → tenant, owner, plan, starter group and fences → device created → device accepted
  const readyMs: number[] = [];
  for (let i = 0; i < SINGLE; i++) {
    t0 = performance.now();
    const made = await api('POST', '/provisioning/tenants', { name: `Customer ${i}`, externalRef: `bench-${i}`, owner: { email: `owner@c${i}.example`, name: 'Owner', password: 'bench-password' }, starter: { group: 'Everyone', fencesAround: [13.4, 52.5] } });
    const device = await api('POST', `/tenants/${made.tenant.id}/devices`, { name: 'first' });
    await hello(device.token);
    readyMs.push(performance.now() - t0);
  }

  // bulk: a CSV of customers, each with an owner, an operator and a device
  const rows = ['kind,tenant,name,externalRef,ownerEmail,email,role'];
  for (let i = 0; i < BULK; i++) rows.push(`tenant,,Bulk ${i},bulk-${i},owner@b${i}.example,,`, `user,bulk-${i},Op ${i},,,op@b${i}.example,operator`, `device,bulk-${i},Phone ${i},,,,`);
  t0 = performance.now();
  const report = await api('POST', '/provisioning/bulk', rows.join('\n'), KEY, 'text/csv');
  const bulkSeconds = (performance.now() - t0) / 1000;
  if (report.summary.created !== BULK * 3) throw new Error(`bulk created ${JSON.stringify(report.summary)}`);
  const result = {
    benchmark: 'provisioning',
    single: { customers: SINGLE, readyMsP50: Math.round(percentile(readyMs, 0.5)), readyMsMax: Math.round(Math.max(...readyMs)) },
    bulk: { customers: BULK, rows: BULK * 3, seconds: Math.round(bulkSeconds * 100) / 100, customersPerSecond: Math.round(BULK / bulkSeconds) },
    baseline: { tenantRowsPerSecond: Math.round(baselinePerSecond) },
    ratio: Math.round((BULK / bulkSeconds / baselinePerSecond) * 1000) / 1000,
  };
  console.log(`provisioning: one customer ready for devices in ${result.single.readyMsP50} ms (p50 of ${SINGLE}, max ${result.single.readyMsMax} ms)`);
  console.log(`provisioning: bulk ${BULK} customers (${BULK * 3} rows) in ${result.bulk.seconds} s = ${result.bulk.customersPerSecond} customers/s; baseline bare tenants ${result.baseline.tenantRowsPerSecond}/s; ratio ${result.ratio}`);
  console.log(JSON.stringify(result));
} finally {
  await platform.close();
  rmSync(dataDir, { recursive: true, force: true });
}
