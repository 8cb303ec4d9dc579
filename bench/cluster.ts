/**
 * The cluster benchmark (`BENCH_CLUSTER=on npm run bench`, off by default): processes of
 * `node dist/src/main.js --roles …` on the local NATS and PostgreSQL, as test/cluster does.
 *
 * 1. Ingest and end-to-end latency with 1, 2 and 4 worker processes (tracker and geofence each):
 *    devices over the native WebSocket, spread over two edges, each with one fix in flight,
 *    alternating inside and outside a fence so that every fix makes an enter or exit
 *    event. Reported: acknowledged positions per second, and the time from sending a fix to its
 *    fence event arriving on the bus (p50, p90, p99).
 *    BENCH_CLUSTER_ALERTS=on adds a rule on entering the fence that alerts one more connected
 *    device (the responder), so every other fix also makes a rule alert, a delivery and a dispatch:
 *    reported are alerts received per second and the time from sending a fix to its alert arriving
 *    on the responder's socket (p50, p90, p99). After the load the run waits (up to
 *    BENCH_CLUSTER_DRAIN_SECONDS, 120) until every enter seen on the bus has alerted, and reports the
 *    rate the notification service kept while it had a backlog: alerts / (last alert − first alert).
 * 2. Connections held: BENCH_CLUSTER_CONNECTIONS devices connected and said hello across four edge
 *    processes at once (one process may open at most 20,000 files here; each edge holds a quarter).
 *
 * Settings: BENCH_CLUSTER_DEVICES (200), BENCH_CLUSTER_SECONDS (15),
 * BENCH_CLUSTER_WORKERS ("1,2,4"), BENCH_CLUSTER_CONNECTIONS (4000). Results: bench/results/cluster.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { connect as connectNats } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsBus } from '../src/adapters/bus-nats.js';
import { fenceEvent } from '../src/services/geofence/index.js';
import { Cluster } from '../test/support/cluster.js';
import { NATS_URL } from '../test/support/nats.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const DEVICES = num('BENCH_CLUSTER_DEVICES', 200);
const SECONDS = num('BENCH_CLUSTER_SECONDS', 15);
const CONNECTIONS = num('BENCH_CLUSTER_CONNECTIONS', 4000);
const ALERTS = process.env.BENCH_CLUSTER_ALERTS === 'on';
const DRAIN_SECONDS = num('BENCH_CLUSTER_DRAIN_SECONDS', 120);
const WORKERS = (process.env.BENCH_CLUSTER_WORKERS ?? '1,2,4').split(',').map(Number);
const CENTRE = { lon: 13.3777, lat: 52.5163 };
const OUT = { lon: CENTRE.lon + 0.015, lat: CENTRE.lat };
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Device {
  id: string;
  token: string;
}

async function provision(cluster: Cluster, count: number): Promise<{ tenantId: string; fenceId: string; devices: Device[] }> {
  const tenant = (await cluster.api('POST', '/tenants', { name: 'Bench' })).body;
  await cluster.api('PATCH', `/tenants/${tenant.id}/settings/tracking`, { maxSpeed: 0, jitterDistance: 0 });
  const fence = (await cluster.api('POST', `/tenants/${tenant.id}/fences`, { name: 'Gate', geometry: { type: 'Point', coordinates: [CENTRE.lon, CENTRE.lat] }, radius: 300 })).body;
  const devices: Device[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => cluster.api('POST', `/tenants/${tenant.id}/devices`, { name: `bench-${i + k}` })));
    for (const r of batch) devices.push({ id: r.body.device.id, token: r.body.token });
  }
  return { tenantId: tenant.id, fenceId: fence.id, devices };
}

function connect(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolvePromise, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/device/v1`);
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', token, client: 'bench' })));
    ws.on('message', function welcome(data) {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'welcome') {
        ws.off('message', welcome);
        resolvePromise(ws);
      } else if (frame.type === 'error') reject(new Error(frame.detail));
    });
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
function cpuSeconds(pid: number | undefined): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return undefined;
  }
}

/** CPU ms per acknowledged position, per role, between two readings of every process. */
function cpuPerPosition(procs: Cluster['procs'], before: (number | undefined)[], positions: number): Record<string, number> {
  const out: Record<string, number> = {};
  procs.forEach((p, i) => {
    const now = cpuSeconds(p.child?.pid);
    if (now === undefined || before[i] === undefined) return;
    out[p.roles] = Math.round(((out[p.roles] ?? 0) + ((now - before[i]!) * 1000) / Math.max(1, positions)) * 1000) / 1000;
  });
  return out;
}

/** Per durable consumer (partitions summed): messages waiting and messages handed out, not yet acknowledged. */
async function backlog(prefix: string): Promise<Record<string, [number, number]>> {
  const nc = await connectNats({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  const out: Record<string, [number, number]> = {};
  for await (const stream of jsm.streams.list()) {
    if (!stream.config.name.startsWith(prefix)) continue;
    for await (const c of jsm.consumers.list(stream.config.name)) {
      const name = c.name.replace(/_p\d+$/, '');
      const [pending, ack] = out[name] ?? [0, 0];
      out[name] = [pending + c.num_pending, ack + c.num_ack_pending];
    }
  }
  await nc.close();
  return out;
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 10) / 10);

async function ingestRun(workers: number) {
  const cluster = new Cluster(`bench${workers}`, { FOLLOWME_LOG_LEVEL: 'error', FOLLOWME_DATABASE_POOL: process.env.BENCH_CLUSTER_POOL ?? '6' });
  try {
    const m = cluster.migrate();
    if (m.status !== 0) throw new Error(m.output);
    const roles: [string, number][] = [['client', 1], ['api', 1], ['notification', 1], ['edge', 2], ['tracker', workers], ['geofence', workers]];
    await Promise.all(roles.flatMap(([role, n]) => Array.from({ length: n }, (_, i) => cluster.start(`${role}-${i}`, role))));
    const { tenantId, fenceId, devices } = await provision(cluster, DEVICES);
    const edges = cluster.procs.filter((p) => p.roles === 'edge');
    const sockets = await Promise.all(devices.map((d, i) => connect(edges[i % edges.length]!.url, d.token)));
    // Alerts: every enter alerts the responder, titled with the device's name and the fix's time.
    const alertMs: number[] = [];
    const alertAt: number[] = [];
    let enters = 0;
    const storedMs: number[] = [];
    let responder: WebSocket | undefined;
    if (ALERTS) {
      const r = (await cluster.api('POST', `/tenants/${tenantId}/devices`, { name: 'responder' })).body;
      await cluster.api('POST', `/tenants/${tenantId}/rules`, { name: 'Gate alert', on: 'enter', fenceId, target: { deviceIds: [r.device.id] }, title: '{device}|{time}', cooldownSeconds: 0 });
      responder = await connect(edges[0]!.url, r.token);
      responder.on('message', (data) => {
        const frame = JSON.parse(data.toString());
        if (frame.type !== 'message') return;
        const [name, time] = String(frame.title).split('|');
        const device = devices[Number(name!.slice('bench-'.length))];
        const at = device && sentAt.get(`${device.id}|${Date.parse(time!)}`);
        if (at === undefined) return;
        alertMs.push(performance.now() - at);
        alertAt.push(performance.now());
        storedMs.push(frame.sentAt - (Date.now() - (performance.now() - at))); // the alert's creation, on the wall clock
      });
    }
    const bus = await NatsBus.connect({ servers: NATS_URL, prefix: cluster.prefix });
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const sub = await bus.subscribe(fenceEvent, (msg) => {
      const at = sentAt.get(`${msg.data.deviceId}|${msg.data.time}`);
      if (at !== undefined) latencies.push(performance.now() - at);
      if (at !== undefined && msg.data.type === 'enter') enters++;
    });
    // BENCH_CLUSTER_WATCH=on: every 2 s, the backlog (pending, unacknowledged) of every durable consumer
    const watch = process.env.BENCH_CLUSTER_WATCH === 'on' ? setInterval(() => void backlog(cluster.prefix).then((b) => console.log(`backlog ${JSON.stringify(b)}`)), 2000) : undefined;
    let acked = 0;
    const ackMs: number[] = [];
    let stop = false;
    const base = Date.now() - 3_600_000;
    const cpuBefore = cluster.procs.map((p) => cpuSeconds(p.child?.pid));
    const started = performance.now();
    await Promise.all(
      sockets.map(async (ws, i) => {
        const device = devices[i]!;
        let k = 0;
        const waiting = new Map<string, () => void>();
        ws.on('message', (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type === 'ack' || frame.type === 'error') waiting.get(frame.id)?.();
        });
        const lane = async () => {
          while (!stop) {
            const n = k++;
            const fix = { time: base + n * 1000, ...(n % 2 === 0 ? CENTRE : OUT), accuracy: 5 };
            const id = `b${n}`;
            const sent = performance.now();
            sentAt.set(`${device.id}|${fix.time}`, sent);
            await new Promise<void>((done) => {
              waiting.set(id, done);
              ws.send(JSON.stringify({ type: 'position', id, fix }));
            });
            waiting.delete(id);
            if (!stop) ackMs.push(performance.now() - sent);
            acked++;
          }
        };
        // One fix at a time per device keeps its fix times in order (several in flight could be reordered).
        await lane();
      }).concat([new Promise<void>((done) => setTimeout(() => ((stop = true), done()), SECONDS * 1000))]),
    );
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(watch);
    const cpuMsPerPosition = cpuPerPosition(cluster.procs, cpuBefore, acked);
    await new Promise((r) => setTimeout(r, 3000)); // events still in the streams
    const alertsBy3s = alertMs.length;
    // alerts: until every enter seen has alerted (and no more enters come), or DRAIN_SECONDS
    const stopped = performance.now();
    let seen = -1;
    while (ALERTS && performance.now() - stopped < DRAIN_SECONDS * 1000 && !(alertMs.length >= enters && enters === seen)) {
      seen = enters;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const drainS = (performance.now() - stopped) / 1000 + 3;
    await sub.close();
    await bus.close();
    for (const ws of sockets) ws.close();
    responder?.close();
    const alerts = alertMs.sort((a, b) => a - b);
    const stored = storedMs.sort((a, b) => a - b);
    const sorted = latencies.sort((a, b) => a - b);
    const acks = ackMs.sort((a, b) => a - b);
    return {
      workers, devices: DEVICES, seconds: Math.round(elapsed * 10) / 10, positions: acked, rate: Math.round(acked / elapsed), events: latencies.length,
      latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99) },
      ackMs: { p50: percentile(acks, 50), p90: percentile(acks, 90), p99: percentile(acks, 99) },
      cpuMsPerPosition,
      ...(ALERTS ? { enters, alertsBy3s, alertsPerSecondBy3s: Math.round(alertsBy3s / elapsed), alerts: alerts.length, drainSeconds: Math.round(drainS), alertsPerSecond: alertAt.length > 1 ? Math.round(((alertAt.length - 1) / (alertAt[alertAt.length - 1]! - alertAt[0]!)) * 10000) / 10 : null, alertMs: { p50: percentile(alerts, 50), p90: percentile(alerts, 90), p99: percentile(alerts, 99) }, alertStoredMs: { p50: percentile(stored, 50), p90: percentile(stored, 90), p99: percentile(stored, 99) } } : {}),
    };
  } finally {
    await cluster.destroy();
  }
}

async function connectionsRun() {
  const cluster = new Cluster('benchconn', { FOLLOWME_LOG_LEVEL: 'error', FOLLOWME_DATABASE_POOL: '3' });
  try {
    const m = cluster.migrate();
    if (m.status !== 0) throw new Error(m.output);
    const roles: [string, number][] = [['client', 1], ['api', 1], ['notification', 1], ['tracker', 1], ['geofence', 1], ['edge', 4]];
    await Promise.all(roles.flatMap(([role, n]) => Array.from({ length: n }, (_, i) => cluster.start(`${role}-${i}`, role))));
    const started = performance.now();
    const { devices } = await provision(cluster, CONNECTIONS);
    const provisionS = (performance.now() - started) / 1000;
    const edges = cluster.procs.filter((p) => p.roles === 'edge');
    const t0 = performance.now();
    const sockets: WebSocket[] = [];
    let failed = 0;
    for (let i = 0; i < devices.length; i += 200) {
      const batch = await Promise.allSettled(devices.slice(i, i + 200).map((d, k) => connect(edges[(i + k) % edges.length]!.url, d.token)));
      for (const r of batch) if (r.status === 'fulfilled') sockets.push(r.value);
      else failed++;
    }
    const connectS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 12_000)); // longer than the hello timeout: they stay
    const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    const perEdge = await Promise.all(edges.map(async (e) => /followme_edge_connections\S* (\d+)/.exec(await (await fetch(`${e.url}/metrics`)).text())?.[1] ?? '?'));
    for (const ws of sockets) ws.terminate();
    return { edges: edges.length, attempted: devices.length, held: open, failed, perEdge, provisionSeconds: Math.round(provisionS), connectSeconds: Math.round(connectS * 10) / 10 };
  } finally {
    await cluster.destroy();
  }
}

const result = { benchmark: 'cluster', at: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version }, ingest: [] as unknown[], connections: null as unknown };
for (const w of WORKERS) {
  const run = await ingestRun(w);
  console.log(`cluster ingest, ${w} worker(s): ${run.rate} positions/s acknowledged, fix → ack p50 ${run.ackMs.p50} ms, p99 ${run.ackMs.p99} ms; fix → fence event p50 ${run.latencyMs.p50} ms, p90 ${run.latencyMs.p90} ms, p99 ${run.latencyMs.p99} ms (${run.events} events); CPU ms per position ${JSON.stringify(run.cpuMsPerPosition)}${run.alertMs ? `; ${run.alertsBy3s} alerts by 3 s after the load (${run.alertsPerSecondBy3s}/s while fixes were sent), ${run.alerts} of ${run.enters} enters alerted ${run.drainSeconds} s after the load, ${run.alertsPerSecond} alerts/s from the first to the last; fix → alert on the responder p50 ${run.alertMs.p50} ms, p90 ${run.alertMs.p90} ms, p99 ${run.alertMs.p99} ms (fix → alert stored p50 ${run.alertStoredMs!.p50} ms, p90 ${run.alertStoredMs!.p90} ms)` : ''}`);
  result.ingest.push(run);
}
if (CONNECTIONS > 0) {
  const conn = await connectionsRun();
  console.log(`cluster connections: ${conn.held} of ${conn.attempted} held across ${conn.edges} edges (${conn.perEdge.join(', ')} per edge)`);
  result.connections = conn;
}
console.log(JSON.stringify(result));
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench', 'results', 'cluster.json'), `${JSON.stringify(result, null, 2)}\n`);
