/**
 * What one rule alert costs the notification service, apart from ingest: the embedded deployment
 * (every role in this process, SQLite, the in-process bus) with one tenant, a fence, DEVICES devices,
 * a rule on entering the fence that alerts one device, and EVENTS enter events published straight
 * onto the bus (seeded: the same events every run). Timed: from the first publish until the bus has
 * handled them all (`drain`); every event must have made its alert. Run it on two builds back to back.
 * `--cluster`: the same on the local NATS and PostgreSQL with two processes (client, geofence and
 * api; notification), so each alert crosses the bus to the client service as in a cluster; timed
 * until the notification process's `followme_notification_rules_fired_total` says all fired.
 *
 *   npx tsc -b && node dist/bench/alerts.js                  # 2,000 events over 200 devices
 *   node dist/bench/alerts.js --events=5000 --devices=500
 *   node dist/bench/alerts.js --cluster --events=1000 --devices=100
 */
import { loadavg } from 'node:os';
import { systemContext } from '../src/core/tenancy.js';
import { fenceEvent, type FenceEvent } from '../src/services/geofence/index.js';
import { startTestPlatform } from '../test/helpers.js';
import { NatsBus } from '../src/adapters/bus-nats.js';
import { Cluster } from '../test/support/cluster.js';
import { NATS_URL } from '../test/support/nats.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const EVENTS = Number(args.get('events') ?? 2000);
const DEVICES = Number(args.get('devices') ?? 200);
const CLUSTER = args.has('cluster');

type Api = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** A tenant, a fence, the devices and the rule; the seeded enter events. */
async function world(api: Api): Promise<{ tenantId: string; events: FenceEvent[] }> {
  const tenant = (await api('POST', '/tenants', { name: 'Bench' })).body;
  const tp = (path: string) => `/tenants/${tenant.id}${path}`;
  const fence = (await api('POST', tp('/fences'), { name: 'Gate', geometry: { type: 'Point', coordinates: [13.3777, 52.5163] }, radius: 300 })).body;
  const devices: string[] = [];
  for (let i = 0; i < DEVICES; i++) devices.push((await api('POST', tp('/devices'), { name: `bench-${i}` })).body.device.id);
  const rule = await api('POST', tp('/rules'), { name: 'Gate alert', on: 'enter', fenceId: fence.id, target: { deviceIds: [devices[0]] }, title: '{device} ({person}) {event} {fence} at {time}', cooldownSeconds: 0 });
  if (rule.status !== 201) throw new Error(JSON.stringify(rule.body));
  const base = Date.UTC(2026, 11, 1);
  const events: FenceEvent[] = Array.from({ length: EVENTS }, (_, i) => ({
    id: `fev_bench_${String(i).padStart(8, '0')}`,
    tenantId: tenant.id,
    deviceId: devices[i % DEVICES]!,
    fenceId: fence.id,
    fenceName: 'Gate',
    type: 'enter',
    time: base + i * 100,
    lon: 13.3777,
    lat: 52.5163,
    distance: -10,
    reason: { distance: -10, accuracy: 5, previous: 'outside' },
  }));
  return { tenantId: tenant.id, events };
}

const report = (where: string, ms: number, fired: number) =>
  console.log(`${where} rule alerts: ${EVENTS} enter events over ${DEVICES} devices, ${fired} alerts in ${Math.round(ms)} ms: ${Math.round((EVENTS / ms) * 1000)} alerts/s, ${((ms / EVENTS) * 1000).toFixed(0)} µs per alert; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

if (CLUSTER) {
  const cluster = new Cluster('alerts', { FOLLOWME_LOG_LEVEL: 'error', FOLLOWME_DATABASE_POOL: '6' });
  try {
    const m = cluster.migrate();
    if (m.status !== 0) throw new Error(m.output);
    await cluster.start('front', 'client,geofence,api');
    const notification = await cluster.start('notification', 'notification');
    const { events } = await world((method, path, body) => cluster.api(method, path, body));
    const fired = async () => Number(/followme_notification_rules_fired_total (\d+)/.exec(await (await fetch(`${notification.url}/metrics`)).text())?.[1] ?? 0);
    const bus = await NatsBus.connect({ servers: NATS_URL, prefix: cluster.prefix });
    const started = performance.now();
    await Promise.all(events.map((e) => bus.publish(fenceEvent, e.deviceId, e)));
    let n = 0;
    while ((n = await fired()) < EVENTS && performance.now() - started < 300_000) await new Promise((r) => setTimeout(r, 100));
    const ms = performance.now() - started;
    await bus.close();
    if (n !== EVENTS) throw new Error(`${n} alerts fired for ${EVENTS} events in 300 s`);
    report('cluster', ms, n);
  } finally {
    await cluster.destroy();
  }
  process.exit(0);
}



const platform = await startTestPlatform({ FOLLOWME_LOG_LEVEL: 'error' });
try {
  const { tenantId, events } = await world(platform.api);
  const started = performance.now();
  for (const e of events) await platform.bus.publish(fenceEvent, e.deviceId, e);
  await platform.bus.drain();
  const ms = performance.now() - started;
  const stored = (await platform.local.notification!.listMessages(systemContext(tenantId), EVENTS + 10)).length;
  if (stored !== EVENTS) throw new Error(`${stored} alerts stored for ${EVENTS} events`);
  report('embedded', ms, stored);
} finally {
  await platform.stop();
}
