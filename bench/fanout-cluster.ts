/**
 * Fan-out across several edge processes: one message to N connected devices (100,000 is the
 * issue's figure), where one process may hold at most 20,000 open files, so the devices are spread
 * over edge processes of the cluster deployment (`node dist/src/main.js --roles edge`, NATS
 * JetStream and PostgreSQL on loopback, as test/cluster and bench/cluster.ts run them).
 *
 *   BENCH_FANOUT_CLUSTER=100000 npm run bench        (off by default; any count from 1,000)
 *   BENCH_FANOUT_CLUSTER=10000,100000 npm run bench  (several sizes, one after the other)
 *   node dist/bench/fanout-cluster.js 20000           (on its own)
 *   BENCH_FANOUT_EDGES=3 …                            (more edge processes than the file limit needs)
 *   BENCH_FANOUT_ROUNDS=1 …                           (rounds per phase, default 3)
 *   BENCH_FANOUT_BARE=off …                           (the platform alone: no baseline, no ratio)
 *   BENCH_FANOUT_CONNECT_BUDGET_S=1200 …              (stop connecting after that long, reporting how many were held)
 *
 * Two phases over the same topology: E = ceil(N / PER_EDGE) server processes, and client
 * processes (bench/fanout-client.ts) of at most PER_CLIENT devices each, every client on one
 * server.
 * 1. Baseline: E bare `ws` servers (bench/baseline-server.ts, forked) hold the connections; a
 *    broadcast writes the same message frame to every socket they hold. Time: from the bench
 *    telling every server to broadcast until the last client process has seen the message on all
 *    its devices.
 * 2. Platform: the same number of devices, enrolled through the REST API's bulk route (5,000 per
 *    request) and put into groups of at most GROUP_SIZE (adding members answers the whole group, which
 *    must cross NATS), connect to E edge processes and say hello; one `POST …/messages` to all the
 *    groups. Time: from
 *    sending the request until the last device has the message (notification service → durable
 *    outbox in PostgreSQL → `notification.dispatch` over NATS → every edge → its sockets).
 * Three rounds each (BENCH_FANOUT_ROUNDS); medians and their ratio, and the load average before and after. Results:
 * bench/results/fanout-cluster.json (fanout-cluster-N.json for each of several sizes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from '../test/support/cluster.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = resolve(here, '..', '..');
/** Sockets per server process: below the 20,000-file limit with room for its NATS, PostgreSQL and log files. */
const PER_EDGE = 16_000;
/** Devices per client process (each also holds one file per socket). */
const PER_CLIENT = 8_000;
/**
 * Devices per group: adding members answers the whole group, over NATS (max_payload 1 MiB, answers
 * over 256 KiB gzipped); 100,000 members in one group made that answer too large (HTTP 500).
 */
const GROUP_SIZE = 20_000;
/** Sends measured per phase (BENCH_FANOUT_ROUNDS; 100,000 devices on two cores can afford one). */
const ROUNDS = Number(process.env.BENCH_FANOUT_ROUNDS ?? 3);
/** Seconds a phase may spend connecting before the run stops and says how many devices it held (0: no limit). */
const CONNECT_BUDGET_S = Number(process.env.BENCH_FANOUT_CONNECT_BUDGET_S ?? 0);

export interface ClusterFanoutResult {
  devices: number;
  edges: number;
  clientProcesses: number;
  provisionSeconds: number;
  connectSeconds: { baseline: number; platform: number };
  baselineMs: number[];
  platformMs: number[];
  /** Platform over bare broadcast (medians); null when the baseline was skipped. */
  ratio: number | null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round1 = (x: number) => Math.round(x * 10) / 10;
const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

type ClientMessage = { kind: 'connected' | 'done' | 'error' | 'progress'; messageId?: string; at?: number; error?: string; n?: number };

/** Client processes holding `urls[i]`'s share of `tokens`; resolves when every device is welcomed. */
class Clients {
  readonly children: ChildProcess[] = [];
  private readonly listeners = new Set<(m: ClientMessage) => void>();

  static async connect(plan: { url: string; tokens: string[] }[], log: (line: string) => void): Promise<Clients> {
    const clients = new Clients();
    const held = new Map<ChildProcess, number>();
    const started = performance.now();
    const progress = setInterval(() => log(`${[...held.values()].reduce((a, b) => a + b, 0)} devices connected after ${seconds(started)} s`), 30_000);
    const all = Promise.all(
      plan.map(({ url, tokens }) => {
        const child = fork(join(here, 'fanout-client.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        clients.children.push(child);
        child.on('message', (m: ClientMessage) => {
          if (m.kind === 'progress') held.set(child, m.n!);
          clients.listeners.forEach((l) => l(m));
        });
        return new Promise<void>((resolvePromise, reject) => {
          child.on('message', (m: ClientMessage) => (m.kind === 'connected' ? resolvePromise() : m.kind === 'error' ? reject(new Error(m.error)) : undefined));
          child.once('exit', (code) => reject(new Error(`fan-out client exited with ${code}`)));
          child.send({ kind: 'start', url, tokens });
        });
      }),
    );
    let budget: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<never>((_, reject) => {
      // BENCH_FANOUT_CONNECT_BUDGET_S: stop a run that cannot finish connecting in time, saying how far it got
      if (CONNECT_BUDGET_S > 0) budget = setTimeout(() => reject(new Error(`connecting stopped after ${CONNECT_BUDGET_S} s (BENCH_FANOUT_CONNECT_BUDGET_S) with ${[...held.values()].reduce((a, b) => a + b, 0)} of ${plan.reduce((a, p) => a + p.tokens.length, 0)} devices connected`)), CONNECT_BUDGET_S * 1000);
    });
    try {
      await Promise.race([all, outOfTime]);
    } catch (err) {
      for (const c of clients.children) c.kill();
      throw err;
    } finally {
      clearInterval(progress);
      clearTimeout(budget);
    }
    return clients;
  }

  /** Runs `go` (which answers the message id) and resolves with the ms from its start until every client saw that message on all its devices. */
  async measure(go: () => Promise<string>, timeoutMs = 600_000): Promise<number> {
    const done: number[] = [];
    let id: string | undefined;
    let wake: () => void = () => undefined;
    // a client reports `done` only after it was told the id (`expect`), so none arrives before
    const listener = (m: ClientMessage) => {
      if (m.kind === 'done' && m.messageId === id) done.push(m.at!);
      wake();
    };
    this.listeners.add(listener);
    try {
      const start = Date.now();
      id = await go();
      for (const c of this.children) c.send({ kind: 'expect', messageId: id });
      const deadline = start + timeoutMs;
      while (done.length < this.children.length) {
        if (Date.now() > deadline) throw new Error(`message ${id} reached ${done.length} of ${this.children.length} client processes in ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1000);
        });
      }
      return Math.max(...done) - start;
    } finally {
      this.listeners.delete(listener);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? undefined
          : new Promise<void>((r) => {
              c.once('exit', () => r());
              c.disconnect();
            }),
      ),
    );
  }
}

class SkipBaseline extends Error {}

/** Splits `tokens` into client processes of at most PER_CLIENT, client k on server k mod servers. */
function plan(urls: string[], tokens: string[]): { url: string; tokens: string[] }[] {
  const perServer = Math.ceil(tokens.length / urls.length);
  const out: { url: string; tokens: string[] }[] = [];
  urls.forEach((url, s) => {
    const mine = tokens.slice(s * perServer, (s + 1) * perServer);
    for (let i = 0; i < mine.length; i += PER_CLIENT) out.push({ url, tokens: mine.slice(i, i + PER_CLIENT) });
  });
  return out;
}

async function baselineServer(): Promise<{ child: ChildProcess; url: string; broadcast(messageId: string): Promise<number> }> {
  const child = fork(join(here, 'baseline-server.js'), [], { env: { ...process.env, HOST: '127.0.0.1', PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolvePromise, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolvePromise(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
  });
  return {
    child,
    url: `ws://127.0.0.1:${port}/device/v1`,
    broadcast: (messageId) =>
      new Promise((resolvePromise) => {
        child.once('message', (m: { n: number }) => resolvePromise(m.n));
        child.send({ kind: 'broadcast', messageId });
      }),
  };
}

/** Edge (and bare server) processes for `devices`: as many as the file limit needs, or BENCH_FANOUT_EDGES if that is more. */
export function edgesFor(devices: number): number {
  const needed = Math.ceil(devices / PER_EDGE);
  const asked = process.env.BENCH_FANOUT_EDGES;
  if (asked === undefined || asked === '') return needed;
  const n = Number(asked);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new Error(`BENCH_FANOUT_EDGES must be a whole number from 1 to 32, got "${asked}"`);
  return Math.max(needed, n);
}

export async function runClusterFanout(devices: number): Promise<ClusterFanoutResult> {
  const edges = edgesFor(devices);
  const log = (line: string) => console.log(`fan-out cluster: ${line}`);

  // 1. Baseline: bare servers, the same number of sockets and the same spread (BENCH_FANOUT_BARE=off
  // skips it, to spend a long run on the platform alone; the ratio is then missing).
  const bareOff = process.env.BENCH_FANOUT_BARE === 'off';
  const servers = bareOff ? [] : await Promise.all(Array.from({ length: edges }, baselineServer));
  const baselineMs: number[] = [];
  let baselineConnect = 0;
  try {
    const t0 = performance.now();
    if (bareOff) throw new SkipBaseline();
    const bare = await Clients.connect(plan(servers.map((s) => s.url), Array.from({ length: devices }, (_, i) => `fmd_bare_${i}`)), log);
    baselineConnect = seconds(t0);
    log(`baseline: ${devices} sockets on ${edges} bare servers in ${baselineConnect} s`);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const id = `bare-${round}`;
        baselineMs.push(await bare.measure(async () => {
          const sent = await Promise.all(servers.map((s) => s.broadcast(id)));
          if (sent.reduce((a, b) => a + b, 0) !== devices) throw new Error(`bare servers hold ${sent.join('+')} sockets, not ${devices}`);
          return id;
        }));
      }
    } finally {
      await bare.close();
    }
  } catch (err) {
    if (!(err instanceof SkipBaseline)) throw err;
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
  }
  if (!bareOff) log(`baseline broadcast ms: ${baselineMs.join(', ')}`);

  // 2. The platform: a cluster with E edges and one process of each other role.
  const cluster = new Cluster('fanout', { FOLLOWME_LOG_LEVEL: process.env.FOLLOWME_CLUSTER_LOG_LEVEL ?? 'error', FOLLOWME_DATABASE_POOL: '4' });
  try {
    const m = cluster.migrate();
    if (m.status !== 0) throw new Error(m.output);
    const roles: [string, number][] = [['client', 1], ['api', 1], ['notification', 1], ['tracker', 1], ['geofence', 1], ['edge', edges]];
    // the services first, then the edges: a dozen processes starting at once on two loaded cores
    // missed the 90 s readiness deadline
    for (const wave of [roles.filter(([role]) => role !== 'edge'), roles.filter(([role]) => role === 'edge')]) {
      await Promise.all(wave.flatMap(([role, n]) => Array.from({ length: n }, (_, i) => cluster.start(`${role}-${i}`, role))));
    }

    const t0 = performance.now();
    const tenant = (await cluster.api<{ id: string }>('POST', '/tenants', { name: 'Fan-out' })).body;
    const unlimited = await cluster.api('PATCH', `/tenants/${tenant.id}/plan`, { name: 'bench', quotas: { devices: 0, messagesPerDay: 0 } });
    if (unlimited.status !== 200) throw new Error(`plan change answered ${unlimited.status}: ${JSON.stringify(unlimited.body)}`);
    const tokens: string[] = [];
    const ids: string[] = [];
    const groups: string[] = [];
    // bulk enrolment: 5,000 devices per request, one transaction each
    for (let i = 0; i < devices; i += 5000) {
      const rows = Array.from({ length: Math.min(5000, devices - i) }, (_, k) => ({ name: `fan-${i + k}` }));
      const r = await cluster.api<{ device: { id: string }; token: string }[]>('POST', `/tenants/${tenant.id}/devices/bulk`, rows);
      if (r.status !== 201) throw new Error(`bulk enrolment answered ${r.status}: ${JSON.stringify(r.body).slice(0, 500)}`);
      for (const d of r.body) {
        tokens.push(d.token);
        ids.push(d.device.id);
      }
      if (ids.length % 10_000 === 0) log(`${ids.length} devices provisioned`);
    }
    for (let i = 0; i < ids.length; i += 5000) {
      if (i % GROUP_SIZE === 0) groups.push((await cluster.api<{ id: string }>('POST', `/tenants/${tenant.id}/groups`, { name: `Everyone ${groups.length + 1}` })).body.id);
      const r = await cluster.api('POST', `/tenants/${tenant.id}/groups/${groups.at(-1)}/members`, { deviceIds: ids.slice(i, i + 5000) });
      if (r.status !== 200) throw new Error(`group members answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    const provisionSeconds = seconds(t0);
    log(`${devices} devices and ${groups.length} groups provisioned in ${provisionSeconds} s`);

    const t1 = performance.now();
    const edgeUrls = cluster.procs.filter((p) => p.roles === 'edge').map((p) => `${p.url.replace(/^http/, 'ws')}/device/v1`);
    const clients = await Clients.connect(plan(edgeUrls, tokens), log);
    const platformConnect = seconds(t1);
    log(`platform: ${devices} devices connected to ${edges} edges in ${platformConnect} s`);
    const platformMs: number[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        platformMs.push(await clients.measure(async () => {
          const sent = performance.now();
          const r = await cluster.api<{ id: string }>('POST', `/tenants/${tenant.id}/messages`, { target: { groupIds: groups }, title: 'Fan-out benchmark' });
          if (r.status !== 201) throw new Error(`send answered ${r.status} after ${seconds(sent)} s: ${JSON.stringify(r.body)}`);
          log(`round ${round + 1}: POST /messages answered 201 after ${seconds(sent)} s`);
          return r.body.id;
        }));
        log(`platform round ${round + 1}: ${platformMs[round]} ms`);
      }
    } finally {
      await clients.close();
    }
    return {
      devices,
      edges,
      clientProcesses: clients.children.length,
      provisionSeconds,
      connectSeconds: { baseline: baselineConnect, platform: platformConnect },
      baselineMs,
      platformMs,
      ratio: baselineMs.length === 0 ? null : Math.round((median(platformMs) / median(baselineMs)) * 10) / 10,
    };
  } finally {
    await cluster.destroy();
  }
}

/** The lines `npm run bench` prints. */
export function clusterFanoutTable(r: ClusterFanoutResult): string {
  return [
    `fan-out (cluster): one message to ${r.devices} devices on ${r.edges} edge processes (${r.clientProcesses} client processes), ${cpus().length} CPUs, node ${process.version}`,
    r.baselineMs.length === 0 ? 'bare broadcast: skipped (BENCH_FANOUT_BARE=off)' : `bare broadcast ms: ${r.baselineMs.join(', ')} (median ${median(r.baselineMs)})`,
    `platform send ms:  ${r.platformMs.join(', ')} (median ${median(r.platformMs)})`,
    `ratio platform/bare broadcast (median): ${r.ratio}; provisioning took ${r.provisionSeconds} s, connecting ${r.connectSeconds.platform} s (bare ${r.connectSeconds.baseline} s)`,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const asked = process.argv[2] ?? process.env.BENCH_FANOUT_CLUSTER ?? '100000';
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`BENCH_FANOUT_ROUNDS must be a whole number of at least 1, got "${process.env.BENCH_FANOUT_ROUNDS}"`);
  const sizes = asked.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1000)) throw new Error(`devices must be whole numbers of at least 1000 (comma-separated for several runs), got "${asked}"`);
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
  for (const devices of sizes) {
    const loadBefore = loadavg()[0]!;
    const result = await runClusterFanout(devices);
    const load = { before: round1(loadBefore), after: round1(loadavg()[0]!) };
    console.log(clusterFanoutTable(result));
    console.log(`load average (1 min): ${load.before} before, ${load.after} after`);
    const record = { benchmark: 'fanout-cluster', at: new Date().toISOString(), machine, load, ...result };
    const file = sizes.length === 1 ? 'fanout-cluster.json' : `fanout-cluster-${devices}.json`;
    writeFileSync(join(repoRoot, 'bench', 'results', file), `${JSON.stringify(record, null, 2)}\n`);
  }
}
