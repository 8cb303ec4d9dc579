/**
 * Fan-out benchmark: how long one message to every connected device takes through the platform
 * (REST send → notification service → outbox → bus → edge → native WebSocket, each delivery
 * marked sent), against a bare broadcast of the same frame size over the same sockets from the
 * same process, in the same run.
 *
 *   BENCH_FANOUT_DEVICES=10000 (default)   BENCH_FANOUT_MAX=<n> to try more (capped, see below)
 *   BENCH_FANOUT=off skips it in `npm run bench`
 *
 * The platform runs in this process (so the baseline can write to its sessions directly); the
 * devices live in client processes of at most 5,000 connections each. One process may hold
 * 20,000 open files on this machine, so the platform side caps at 19,000 connections: a 100,000
 * device run needs several edge processes (the cluster deployment), which this benchmark does not start.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/core/log.js';
import { systemContext } from '../src/core/tenancy.js';
import { startPlatform } from '../src/roles.js';

const here = dirname(fileURLToPath(import.meta.url));
const PER_CLIENT = 5000;
const SERVER_CAP = 19_000;
const ROUNDS = 3;

export interface FanoutResult {
  devices: number;
  requested: number;
  connectMs: number;
  baselineMs: number[];
  platformMs: number[];
  ratio: number;
  note?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runFanout(requested: number): Promise<FanoutResult> {
  const devices = Math.min(requested, SERVER_CAP);
  const dataDir = mkdtempSync(join(tmpdir(), 'followme-fanout-'));
  const adminKey = 'fma_bench-fanout-admin-key-000000';
  const platform = await startPlatform(
    loadConfig({ HOST: '127.0.0.1', PORT: '0', FOLLOWME_DATA_DIR: dataDir, FOLLOWME_DEMO: 'off', FOLLOWME_ADMIN_KEY: adminKey, FOLLOWME_SQLITE_SYNC: 'normal', FOLLOWME_LOG_LEVEL: 'warn' }),
    createLogger('warn'),
  );
  const clients: ChildProcess[] = [];
  try {
    const tenant = await platform.client.createTenant({ name: 'fanout' });
    const ctx = systemContext(tenant.id);
    const tokens: string[] = [];
    const deviceIds: string[] = [];
    for (let i = 0; i < devices; i++) {
      const created = await platform.client.createDevice(ctx, { name: `dev-${i}` });
      tokens.push(created.token);
      deviceIds.push(created.device.id);
    }
    const url = `${platform.url.replace(/^http/, 'ws')}/device/v1`;
    const connectStart = Date.now();
    const waits: Promise<void>[] = [];
    const listeners: ((m: { kind: string; messageId?: string; at?: number; error?: string }) => void)[] = [];
    for (let i = 0; i < devices; i += PER_CLIENT) {
      const child = fork(join(here, 'fanout-client.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      clients.push(child);
      child.on('message', (m: { kind: string }) => listeners.forEach((l) => l(m)));
      waits.push(new Promise<void>((resolve, reject) => {
        child.on('message', (m: { kind: string; error?: string }) => (m.kind === 'connected' ? resolve() : m.kind === 'error' ? reject(new Error(m.error)) : undefined));
      }));
      child.send({ kind: 'start', url, tokens: tokens.slice(i, i + PER_CLIENT) });
    }
    await Promise.all(waits);
    const connectMs = Date.now() - connectStart;
    await platform.notification.settled();

    /** Runs `go` (which answers the message id) and resolves with the ms until every client saw that message on all its devices. */
    const measure = async (go: () => Promise<string>): Promise<number> => {
      const seen: { at: number; messageId: string }[] = [];
      let wake: () => void = () => undefined;
      const listener = (m: { kind: string; messageId?: string; at?: number }) => {
        if (m.kind !== 'done') return;
        seen.push({ at: m.at!, messageId: m.messageId! });
        wake();
      };
      listeners.push(listener);
      const start = Date.now();
      const id = await go();
      for (const c of clients) c.send({ kind: 'expect', messageId: id });
      while (seen.filter((s) => s.messageId === id).length < clients.length) await new Promise<void>((resolve) => (wake = resolve));
      listeners.splice(listeners.indexOf(listener), 1);
      return Math.max(...seen.filter((s) => s.messageId === id).map((s) => s.at)) - start;
    };

    const baselineMs: number[] = [];
    const platformMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const bareId = `bare-${round}`;
      baselineMs.push(await measure(async () => {
        // the same frame shape the platform sends, written straight to every session
        const frame = { type: 'message', deliveryId: 'dlv_baseline', messageId: bareId, priority: 'normal', title: 'Fan-out benchmark', body: '', sentAt: Date.now(), ackRequired: false };
        let n = 0;
        for (const session of platform.edge!.sessions.all()) {
          session.send({ ...frame, deliveryId: `dlv_${n}` });
          if (++n % 1000 === 0) await new Promise((r) => setImmediate(r));
        }
        return bareId;
      }));
      platformMs.push(await measure(async () => {
        const t0 = Date.now();
        const response = await fetch(`${platform.url}/api/v1/tenants/${tenant.id}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ target: { deviceIds }, title: 'Fan-out benchmark' }),
        });
        const body = (await response.json()) as { id: string };
        if (process.env.BENCH_DEBUG) console.log('send answered after', Date.now() - t0, 'ms');
        if (response.status !== 201) throw new Error(`send answered ${response.status}: ${JSON.stringify(body)}`);
        return body.id;
      }));
      await platform.notification.settled();
      await platform.bus.drain();
    }
    const result: FanoutResult = { devices, requested, connectMs, baselineMs, platformMs, ratio: Math.round((median(platformMs) / median(baselineMs)) * 10) / 10 };
    if (devices < requested) result.note = `capped at ${SERVER_CAP} connections: one process may hold 20,000 open files here`;
    return result;
  } finally {
    for (const c of clients) c.disconnect();
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The lines `npm run bench` prints. */
export function fanoutTable(r: FanoutResult): string {
  return [
    `fan-out: one message to ${r.devices} connected native devices${r.note ? ` (${r.note})` : ''}, ${cpus().length} CPUs, node ${process.version}; connecting took ${r.connectMs} ms`,
    `bare broadcast ms: ${r.baselineMs.join(', ')} (median ${median(r.baselineMs)})`,
    `platform send ms:  ${r.platformMs.join(', ')} (median ${median(r.platformMs)})`,
    `ratio platform/bare broadcast (median): ${r.ratio}`,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const requested = Number(process.env.BENCH_FANOUT_MAX ?? process.env.BENCH_FANOUT_DEVICES ?? 10_000);
  const result = await runFanout(requested);
  console.log(fanoutTable(result));
  console.log(JSON.stringify({ benchmark: 'fanout', ...result }));
}
