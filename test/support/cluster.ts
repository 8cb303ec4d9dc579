/**
 * A Follow Me cluster on loopback for tests and the cluster benchmark: processes of
 * `node dist/src/main.js --roles …` on the local NATS and PostgreSQL, under a NATS prefix and a
 * PostgreSQL schema prefix of their own, killed, restarted and cleaned up by the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { deleteUnderPrefix, NATS_URL } from './nats.js';
import { DEVICE_PARTITIONS } from '../../src/services/tracker/schema.js';

export const PG_URL = process.env.FOLLOWME_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const CLUSTER_ADMIN_KEY = 'fma_cluster-admin-key-0123456789';
const MAIN = 'dist/src/main.js';
const CLI = 'dist/src/cli/followme.js';

export interface Proc {
  readonly name: string;
  readonly roles: string;
  readonly port: number;
  readonly url: string;
  child: ChildProcess | undefined;
  exited: Promise<number | null>;
  starts: number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class Cluster {
  readonly prefix: string;
  readonly schemaPrefix: string;
  readonly procs: Proc[] = [];
  readonly logDir = mkdtempSync(join(tmpdir(), 'followme-cluster-'));
  readonly env: Record<string, string>;
  /** Extra flags for every process's node (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), from CLUSTER_NODE_ARGS. */
  readonly nodeArgs = (process.env.CLUSTER_NODE_ARGS ?? '').split(' ').filter(Boolean);

  constructor(what: string, env: Record<string, string> = {}) {
    const id = `${process.pid}_${Date.now()}`;
    this.prefix = `fmtest_${what}_${id}`;
    this.schemaPrefix = `fmc_${what}_${id}_`;
    this.env = {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      FOLLOWME_BUS: 'nats',
      FOLLOWME_STORE: 'postgres',
      FOLLOWME_NATS_URL: NATS_URL,
      FOLLOWME_NATS_PREFIX: this.prefix,
      FOLLOWME_DATABASE_URL: PG_URL,
      FOLLOWME_DATABASE_SCHEMA_PREFIX: this.schemaPrefix,
      FOLLOWME_DATABASE_POOL: '4',
      FOLLOWME_ADMIN_KEY: CLUSTER_ADMIN_KEY,
      FOLLOWME_DEMO: 'off',
      FOLLOWME_OSMAND_PORT: 'off',
      FOLLOWME_MQTT_PORT: 'off',
      FOLLOWME_LOG_LEVEL: process.env.FOLLOWME_CLUSTER_LOG_LEVEL ?? 'warn',
      FOLLOWME_NATS_ACK_WAIT_MS: '3000',
      FOLLOWME_LEASE_MS: '5000',
      ...env,
    };
  }

  /** `followme migrate` against the run's schemas; returns its exit status and output. */
  migrate(): { status: number | null; output: string } {
    const r = spawnSync(process.execPath, [CLI, 'migrate'], { env: this.env, encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  /** Starts a process with these roles and waits until /readyz says ready. */
  async start(name: string, roles: string, env: Record<string, string> = {}): Promise<Proc> {
    const port = await freePort();
    const proc: Proc = { name, roles, port, url: `http://127.0.0.1:${port}`, child: undefined, exited: Promise.resolve(null), starts: 0 };
    this.procs.push(proc);
    await this.launch(proc, env);
    return proc;
  }

  private async launch(proc: Proc, env: Record<string, string> = {}): Promise<void> {
    const child = spawn(process.execPath, ['--enable-source-maps', ...this.nodeArgs, MAIN, '--roles', proc.roles], { env: { ...this.env, PORT: String(proc.port), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(join(this.logDir, `${proc.name}.log`), { flags: 'a' });
    // both into one file: neither may end it (stderr writing after stdout ended it threw), the child's close does
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('close', () => log.end());
    proc.child = child;
    proc.starts++;
    proc.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await this.waitReady(proc);
  }

  /** How long a process may take to say ready: 90 s, or CLUSTER_READY_MS (a dozen processes starting on two loaded cores need more). */
  async waitReady(proc: Proc, timeoutMs = Number(process.env.CLUSTER_READY_MS ?? 90_000)): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${proc.name} exited while starting; see ${join(this.logDir, `${proc.name}.log`)}`);
      try {
        const r = await fetch(`${proc.url}/readyz`);
        if (r.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${proc.name} not ready within ${timeoutMs} ms`);
  }

  /**
   * Waits until every key space (tracker, geofence, notification) is worked on whole and evenly:
   * the running processes' `followme_partitions_working` add up to all partitions and none holds
   * more than its fair share. A process is ready before that (its share may still be in the hands
   * of the process it joins), and a request meanwhile waits for the hand-over.
   */
  async balanced(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const spaces = new Map<string, number[]>();
      try {
        for (const proc of this.procs.filter((p) => p.child && p.child.exitCode === null && p.child.signalCode === null)) {
          const text = await (await fetch(`${proc.url}/metrics`)).text();
          for (const m of text.matchAll(/^followme_partitions_working\{ownership="([a-z]+)"\} (\d+)$/gm)) spaces.set(m[1]!, [...(spaces.get(m[1]!) ?? []), Number(m[2])]);
        }
        last = JSON.stringify(Object.fromEntries(spaces));
        if (spaces.size > 0 && [...spaces.values()].every((held) => held.reduce((a, b) => a + b, 0) === DEVICE_PARTITIONS && Math.max(...held) <= Math.ceil(DEVICE_PARTITIONS / held.length))) return;
      } catch (err) {
        last = String(err); // a process stopping or starting
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`partitions not balanced within ${timeoutMs} ms: ${last}`);
  }

  /** SIGKILL: no drain, no hand-over; its leases expire and its unacknowledged messages are redelivered. */
  async kill(proc: Proc): Promise<void> {
    proc.child?.kill('SIGKILL');
    await proc.exited;
  }

  /** SIGTERM and wait for the graceful stop; resolves with the exit code. */
  async stop(proc: Proc): Promise<number | null> {
    proc.child?.kill('SIGTERM');
    return proc.exited;
  }

  async restart(proc: Proc, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const code = signal === 'SIGKILL' ? (await this.kill(proc), null) : await this.stop(proc);
    await this.launch(proc);
    return code;
  }

  /** Stops every process, drops the run's schemas and NATS streams (kept with CLUSTER_KEEP_DATA=1), removes the logs (kept when `keepLogs`, or CLUSTER_KEEP_LOGS=1); says what it kept. */
  async destroy(keepLogs = process.env.CLUSTER_KEEP_LOGS === '1'): Promise<void> {
    await Promise.all(this.procs.map((p) => this.stop(p)));
    if (process.env.CLUSTER_KEEP_DATA === '1') console.log(`# cluster data kept: PostgreSQL schemas ${this.schemaPrefix}*, NATS prefix ${this.prefix}`);
    else await this.dropData();
    if (!keepLogs) rmSync(this.logDir, { recursive: true, force: true });
    else console.log(`# cluster logs kept in ${this.logDir}`);
  }

  /** Drops the run's PostgreSQL schemas and NATS streams. */
  private async dropData(): Promise<void> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname like $1', [`${this.schemaPrefix}%`]);
      for (const r of rows) await client.query(`drop schema "${r.nspname}" cascade`);
    } finally {
      await client.end();
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await deleteUnderPrefix(this.prefix);
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** A query in one service's schema. */
  async query<T extends pg.QueryResultRow>(service: string, text: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path="${this.schemaPrefix}${service}"` });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** Calls the API on one of the api processes (the next that answers). */
  async api<T = any>(method: string, path: string, body?: unknown, token = CLUSTER_ADMIN_KEY): Promise<{ status: number; body: T }> {
    const apis = this.procs.filter((p) => p.roles.split(',').includes('api'));
    let last: unknown;
    for (let attempt = 0; attempt < 60; attempt++) {
      const proc = apis[attempt % apis.length]!;
      try {
        const response = await fetch(`${proc.url}/api/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (response.status === 503 || response.status === 502) throw new Error(`${proc.name} answered ${response.status}`);
        const text = await response.text();
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      } catch (err) {
        last = err; // that api process is restarting: another one, or the same a moment later
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    throw new Error(`no api process answered ${method} ${path}: ${String(last)}`);
  }
}
