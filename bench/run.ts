/**
 * Ingest benchmark: the same seeded load against (a) a bare `ws` baseline and (b) the real
 * platform (`node dist/src/main.js`, provisioned through the REST API with devices and fences),
 * reporting acknowledged positions per second, ack latency and the platform/baseline ratio; then
 * the same devices and walks over OsmAnd (HTTP) and OwnTracks (MQTT, embedded broker) against the
 * same platform (bench/protocols.ts).
 *
 *   npm run bench                                   # 1,000 devices, 15 s per target
 *   BENCH_SECONDS=3 BENCH_DEVICES=50 npm run bench  # a quick run
 *   node dist/bench/run.js --seconds=5 --devices=200 --window=4 --fences=1000 --seed=42
 *
 * Then the geofence benchmark (bench/geofence.ts) in its own process: index with 1,000 / 100,000 /
 * 1,000,000 fences against a linear scan, and ingest through the geofence service with 100,000 fences.
 * BENCH_GEOFENCE=off skips it; BENCH_GEOFENCE_MAX=100000 leaves out the 1,000,000 case.
 * Then the send benchmark (bench/send.ts): a send's deliveries written and `POST /messages` answered for
 * 100,000 devices (BENCH_SEND_DEVICES), on SQLite and PostgreSQL; BENCH_SEND=off skips it.
 * BENCH_CLUSTER=on adds the cluster run (bench/cluster.ts: NATS and PostgreSQL on loopback, processes per role).
 * BENCH_FANOUT_CLUSTER=100000 adds the fan-out to that many devices over several edge processes
 * (bench/fanout-cluster.ts; off by default: it provisions and connects every device);
 * BENCH_FANOUT_CLUSTER=10000,100000 runs both sizes, BENCH_FANOUT_EDGES=N asks for more edges.
 *
 * Loopback only; every child process is killed at the end, also on failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/demo/simulator.js';
import { forEachLimited, runLoad, type Area, type LoadResult } from './load.js';
import { runOsmandLoad, runOwntracksMqttLoad } from './protocols.js';
import { fanoutTable, runFanout } from './fanout.js';

const HOST = '127.0.0.1';
/** Central Berlin: fences and load positions both lie here. */
const AREA: Area = { west: 13.3, south: 52.47, east: 13.5, north: 52.56 };
const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = resolve(here, '..', '..');

interface Settings {
  seconds: number;
  devices: number;
  window: number;
  fences: number;
  seed: number;
}

function settings(): Settings {
  const args = new Map(
    process.argv
      .slice(2)
      .filter((a) => a.startsWith('--'))
      .map((a) => {
        const [k, v] = a.slice(2).split('=');
        return [k!, v ?? ''] as const;
      }),
  );
  const pick = (name: string, env: string, fallback: number, min: number, max: number): number => {
    const raw = args.get(name) ?? process.env[env];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${env} (--${name}) must be a whole number from ${min} to ${max}, got "${raw}"`);
    return value;
  };
  return {
    seconds: pick('seconds', 'BENCH_SECONDS', 15, 1, 60),
    devices: pick('devices', 'BENCH_DEVICES', 1000, 1, 10_000),
    window: pick('window', 'BENCH_WINDOW', 4, 1, 1000),
    fences: pick('fences', 'BENCH_FENCES', 1000, 0, 100_000),
    seed: pick('seed', 'BENCH_SEED', 42, 0, 2 ** 31),
  };
}

const children = new Set<ChildProcess>();
function killChildren(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

/** Starts a child, keeps the tail of its output for error messages, and registers it for cleanup. */
function startChild(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => tail };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function measureBaseline(s: Settings): Promise<LoadResult> {
  const { child, output } = startChild([join(here, 'baseline-server.js')], { ...process.env, HOST, PORT: '0' });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`baseline did not start:\n${output()}`)), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        const match = /listening (\d+)/.exec(chunk.toString());
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`baseline exited with ${code}:\n${output()}`)));
    });
    const tokens = Array.from({ length: s.devices }, (_, i) => `bench-token-${i}`);
    return await runLoad({ url: `ws://${HOST}:${port}/device/v1`, tokens, window: s.window, durationMs: s.seconds * 1000, seed: s.seed, area: AREA });
  } finally {
    await stopChild(child);
  }
}

interface PlatformRun {
  load: LoadResult;
  provisionMs: number;
  osmand: LoadResult | null;
  owntracksMqtt: LoadResult | null;
  failures: string[];
}

async function measurePlatform(s: Settings): Promise<PlatformRun> {
  const main = join(repoRoot, 'dist', 'src', 'main.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'followme-bench-'));
  // The platform recognises an admin key by its `fma_` prefix (src/core/secrets.ts); any other string is accepted by config but never authenticates.
  const adminKey = `fma_${randomBytes(24).toString('base64url')}`;
  const port = await freePort();
  const osmandPort = await freePort();
  const mqttPort = await freePort();
  const base = `http://${HOST}:${port}`;
  // BENCH_NODE_ARGS passes extra flags to the platform's node, e.g. --cpu-prof to see where its time goes.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const { child, output } = startChild([...nodeArgs, '--enable-source-maps', main], {
    ...process.env,
    HOST,
    PORT: String(port),
    FOLLOWME_DATA_DIR: dataDir,
    FOLLOWME_DEMO: 'off',
    FOLLOWME_ADMIN_KEY: adminKey,
    FOLLOWME_LOG_LEVEL: 'warn',
    FOLLOWME_OSMAND_PORT: String(osmandPort),
    FOLLOWME_MQTT_PORT: String(mqttPort),
  });
  try {
    await waitReady(base, child, output);
    const provisionStart = Date.now();
    const api = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      if (response.status !== 201) throw new Error(`POST ${path} answered ${response.status}: ${text.slice(0, 500)}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const tenant = await api('/api/v1/tenants', { name: 'bench' });
    const tenantId = String(tenant.id);
    const tokens: string[] = new Array<string>(s.devices);
    const uniqueIds = Array.from({ length: s.devices }, (_, i) => `bench-${String(i + 1).padStart(4, '0')}`);
    await forEachLimited(
      Array.from({ length: s.devices }, (_, i) => i),
      16,
      async (i) => {
        const created = await api(`/api/v1/tenants/${tenantId}/devices`, { name: `dev-${String(i + 1).padStart(4, '0')}`, uniqueId: uniqueIds[i] });
        tokens[i] = String(created.token);
      },
    );
    const fences = benchFences(s.fences, s.seed);
    await forEachLimited(fences, 16, async (fence) => {
      await api(`/api/v1/tenants/${tenantId}/fences`, fence);
    });
    const provisionMs = Date.now() - provisionStart;
    const load = await runLoad({ url: `ws://${HOST}:${port}/device/v1`, tokens, window: s.window, durationMs: s.seconds * 1000, seed: s.seed, area: AREA });
    if (child.exitCode !== null) throw new Error(`the platform exited during the run:\n${output()}`);
    // The same devices and seeded walks over the other protocols, one after the other.
    const devices = uniqueIds.map((uniqueId, i) => ({ uniqueId, token: tokens[i]! }));
    const common = { host: HOST, devices, window: s.window, durationMs: s.seconds * 1000, seed: s.seed, area: AREA };
    const failures: string[] = [];
    let osmand: LoadResult | null = null;
    let owntracksMqtt: LoadResult | null = null;
    try {
      osmand = await runOsmandLoad({ ...common, port: osmandPort });
    } catch (err) {
      failures.push(`osmand-http: ${(err as Error).message}`);
    }
    try {
      owntracksMqtt = await runOwntracksMqttLoad({ ...common, port: mqttPort });
    } catch (err) {
      failures.push(`owntracks-mqtt: ${(err as Error).message}`);
    }
    if (child.exitCode !== null) throw new Error(`the platform exited during the run:\n${output()}`);
    return { load, provisionMs, osmand, owntracksMqtt, failures };
  } finally {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function waitReady(base: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the platform exited with ${child.exitCode} before it was ready:\n${output()}`);
    try {
      const response = await fetch(`${base}/readyz`);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet: try again below
    }
    if (Date.now() > deadline) throw new Error(`GET /readyz did not answer 200 within 30 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

type FenceBody = { name: string; geometry: { type: 'Point'; coordinates: [number, number] } | { type: 'Polygon'; coordinates: [number, number][][] }; radius?: number };

/** Seeded fences in AREA: 60 % circles (50–300 m), 40 % small convex polygons (5–8 corners, 50–250 m across). */
export function benchFences(count: number, seed: number): FenceBody[] {
  const random = mulberry32(seed ^ 0x5eed);
  const fences: FenceBody[] = [];
  for (let i = 0; i < count; i++) {
    const lon = AREA.west + random() * (AREA.east - AREA.west);
    const lat = AREA.south + random() * (AREA.north - AREA.south);
    const name = `f${i + 1}`;
    if (random() < 0.6) {
      fences.push({ name, geometry: { type: 'Point', coordinates: [round6(lon), round6(lat)] }, radius: Math.round(50 + random() * 250) });
      continue;
    }
    const corners = 5 + Math.floor(random() * 4);
    const radius = 25 + random() * 100;
    // Ascending angles from east round through north: a counter-clockwise ring (RFC 7946 right-hand rule).
    const angles = Array.from({ length: corners }, (_, k) => ((k + 0.2 + random() * 0.6) / corners) * 2 * Math.PI);
    const ring = angles.map((a): [number, number] => [
      round6(lon + (Math.cos(a) * radius) / (111_320 * Math.cos((lat * Math.PI) / 180))),
      round6(lat + (Math.sin(a) * radius) / 111_320),
    ]);
    ring.push(ring[0]!);
    fences.push({ name, geometry: { type: 'Polygon', coordinates: [ring] } });
  }
  return fences;
}

const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;

function table(s: Settings, baseline: LoadResult | null, platform: PlatformRun | null): string {
  const row = (name: string, r: LoadResult | null): string =>
    r
      ? `${name.padEnd(15)} ${String(r.rate).padStart(10)} ${r.latencyMs.p50.toFixed(2).padStart(9)} ${r.latencyMs.p99.toFixed(2).padStart(9)} ${String(r.acked).padStart(10)} ${String(r.rejected + r.errors).padStart(8)} ${String(r.window).padStart(7)}`
      : `${name.padEnd(15)} ${'—'.padStart(10)}`;
  const ratio = (r: LoadResult | null | undefined): string => (baseline && r ? (r.rate / baseline.rate).toFixed(3) : '—');
  return [
    `ingest: ${s.devices} devices, window ${s.window}, ${s.seconds} s per target, ${s.fences} fences, seed ${s.seed}, ${cpus().length} CPUs, node ${process.version}`,
    `${'target'.padEnd(15)} ${'pos/s'.padStart(10)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'acked'.padStart(10)} ${'failed'.padStart(8)} ${'window'.padStart(7)}`,
    row('baseline', baseline),
    row('platform', platform?.load ?? null),
    row('osmand-http', platform?.osmand ?? null),
    row('owntracks-mqtt', platform?.owntracksMqtt ?? null),
    `ratio to baseline: platform ${ratio(platform?.load)}, osmand-http ${ratio(platform?.osmand)}, owntracks-mqtt ${ratio(platform?.owntracksMqtt)}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const s = settings();
  const started = Date.now();
  const failures: string[] = [];
  let baseline: LoadResult | null = null;
  let platform: PlatformRun | null = null;
  try {
    baseline = await measureBaseline(s);
  } catch (err) {
    failures.push(`baseline: ${(err as Error).message}`);
  }
  try {
    platform = await measurePlatform(s);
    failures.push(...platform.failures);
  } catch (err) {
    failures.push(`platform: ${(err as Error).message}`);
  }
  const result = {
    benchmark: 'ingest',
    at: new Date().toISOString(),
    settings: s,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    baseline,
    platform: platform ? { ...platform.load, provisionMs: platform.provisionMs } : null,
    ratio: baseline && platform ? Math.round((platform.load.rate / baseline.rate) * 1000) / 1000 : null,
    protocols: {
      osmandHttp: platform?.osmand ?? null,
      owntracksMqtt: platform?.owntracksMqtt ?? null,
      ratios: {
        osmandHttp: baseline && platform?.osmand ? Math.round((platform.osmand.rate / baseline.rate) * 1000) / 1000 : null,
        owntracksMqtt: baseline && platform?.owntracksMqtt ? Math.round((platform.owntracksMqtt.rate / baseline.rate) * 1000) / 1000 : null,
      },
    },
    failures,
    totalMs: Date.now() - started,
  };
  console.log(table(s, baseline, platform));
  for (const failure of failures) console.error(`FAILED ${failure}`);
  console.log(JSON.stringify(result));
  const out = join(repoRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'ingest.json'), `${JSON.stringify(result, null, 2)}\n`);
  if (process.env.BENCH_GEOFENCE !== 'off') {
    const geofence = spawnSync(process.execPath, ['--max-old-space-size=8192', '--expose-gc', '--enable-source-maps', join(here, 'geofence.js')], { cwd: repoRoot, stdio: 'inherit', env: process.env });
    if (geofence.status !== 0) failures.push(`geofence: exited with ${geofence.status ?? geofence.signal}`);
  }
  if (process.env.BENCH_PROVISIONING !== 'off') {
    const provisioning = spawnSync(process.execPath, ['--enable-source-maps', join(here, 'provisioning.js')], { cwd: repoRoot, stdio: 'inherit', env: process.env });
    if (provisioning.status !== 0) failures.push(`provisioning: exited with ${provisioning.status ?? provisioning.signal}`);
  }
  if (process.env.BENCH_SEND !== 'off') {
    const sendBench = spawnSync(process.execPath, ['--enable-source-maps', join(here, 'send.js'), `--devices=${process.env.BENCH_SEND_DEVICES ?? 100_000}`], { cwd: repoRoot, stdio: 'inherit', env: process.env });
    if (sendBench.status !== 0) failures.push(`send: exited with ${sendBench.status ?? sendBench.signal}`);
  }
  if (process.env.BENCH_CLUSTER === 'on') {
    const cluster = spawnSync(process.execPath, ['--enable-source-maps', join(here, 'cluster.js')], { cwd: repoRoot, stdio: 'inherit', env: process.env });
    if (cluster.status !== 0) failures.push(`cluster: exited with ${cluster.status ?? cluster.signal}`);
  }
  if (process.env.BENCH_FANOUT !== 'off') {
    // fan-out (bench/fanout.ts): BENCH_FANOUT_DEVICES (default 10,000), BENCH_FANOUT_MAX to ask for more
    try {
      const fanout = await runFanout(Number(process.env.BENCH_FANOUT_MAX ?? process.env.BENCH_FANOUT_DEVICES ?? 10_000));
      console.log(fanoutTable(fanout));
      writeFileSync(join(out, 'fanout.json'), `${JSON.stringify({ benchmark: 'fanout', at: new Date().toISOString(), ...fanout }, null, 2)}\n`);
    } catch (err) {
      failures.push(`fanout: ${(err as Error).message}`);
      console.error(`FAILED fanout: ${(err as Error).message}`);
    }
  }
  if (process.env.BENCH_FANOUT_CLUSTER) {
    const fanoutCluster = spawnSync(process.execPath, ['--enable-source-maps', join(here, 'fanout-cluster.js'), process.env.BENCH_FANOUT_CLUSTER], { cwd: repoRoot, stdio: 'inherit', env: process.env });
    if (fanoutCluster.status !== 0) failures.push(`fanout-cluster: exited with ${fanoutCluster.status ?? fanoutCluster.signal}`);
  }
  if (failures.length > 0) process.exitCode = 1;
}

try {
  await main();
} finally {
  killChildren();
}
