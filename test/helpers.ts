/** Test helpers: a real platform on a temp data folder and loopback port, raw WebSocket devices, HTTP calls. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import WebSocket from 'ws';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/core/log.js';
import { startPlatform, type Platform } from '../src/roles.js';

export const ADMIN_KEY = 'fma_test-admin-key-0123456789';

export interface TestPlatform extends Platform {
  dataDir: string;
  /** Calls the API as the admin (or with the given token); returns status and parsed JSON. */
  api<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T; headers: Headers }>;
  stop(): Promise<void>;
}

/** Platforms started by this process: each gets its own shared subscription group on an external broker, so tests running side by side never take each other's messages. */
let platforms = 0;

export async function startTestPlatform(env: Record<string, string> = {}, dataDir = mkdtempSync(join(tmpdir(), 'followme-test-'))): Promise<TestPlatform> {
  const config: Config = loadConfig({ HOST: '127.0.0.1', PORT: '0', FOLLOWME_DATA_DIR: dataDir, FOLLOWME_DEMO: 'off', FOLLOWME_ADMIN_KEY: ADMIN_KEY, FOLLOWME_SQLITE_SYNC: 'normal', FOLLOWME_OSMAND_PORT: '0', FOLLOWME_MQTT_PORT: '0', FOLLOWME_MQTT_SHARE_GROUP: `test-${process.pid}-${++platforms}`, ...env });
  const platform = await startPlatform(config, createLogger(process.env.FOLLOWME_LOG_LEVEL ?? 'silent'));
  const api = async (method: string, path: string, body?: unknown, token = ADMIN_KEY) => {
    const response = await fetch(`${platform.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  return Object.assign(Object.create(platform) as Platform, platform, {
    dataDir,
    api,
    async stop() {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  }) as TestPlatform;
}

/** A tenant with an admin-made operator and two devices, for tests that need a little world. */
export async function seedTenant(p: TestPlatform, name = 'Acme') {
  const tenant = (await p.api('POST', '/tenants', { name })).body;
  // Protocol and flow tests move devices in jumps no vehicle makes: the speed and jitter filters
  // would drop them. Filter behaviour has its own tests (test/services/tracker-pipeline.test.ts).
  await p.api('PATCH', `/tenants/${tenant.id}/settings/tracking`, { maxSpeed: 0, jitterDistance: 0 });
  const operator = (await p.api('POST', `/tenants/${tenant.id}/users`, { email: `op@${tenant.slug}.test`, name: 'Olga Operator', role: 'operator', password: 'correct horse' })).body;
  const login = (await p.api('POST', '/auth/login', { tenant: tenant.slug, email: operator.email, password: 'correct horse' })).body;
  const d1 = (await p.api('POST', `/tenants/${tenant.id}/devices`, { name: 'phone-1' })).body;
  const d2 = (await p.api('POST', `/tenants/${tenant.id}/devices`, { name: 'phone-2' })).body;
  return { tenant, operator, operatorToken: login.token as string, devices: [d1, d2] as { device: { id: string }; token: string }[] };
}

/** A raw WebSocket device speaking the native protocol, with a queue of received frames. */
export class TestDevice {
  readonly frames: any[] = [];
  private waiters: { match: (f: any) => boolean; resolve: (f: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  closed: { code: number; reason: string } | undefined;
  private closeWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      const i = this.waiters.findIndex((w) => w.match(frame));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        clearTimeout(w!.timer);
        w!.resolve(frame);
      } else this.frames.push(frame);
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const w of this.closeWaiters.splice(0)) w(this.closed);
    });
  }

  static async open(url: string): Promise<TestDevice> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/device/v1`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new TestDevice(ws);
  }

  /** Opens a connection and says hello; resolves with the welcome frame. */
  static async connect(url: string, token: string): Promise<{ device: TestDevice; welcome: any }> {
    const device = await TestDevice.open(url);
    device.send({ type: 'hello', token, client: 'test' });
    const welcome = await device.next((f) => f.type === 'welcome' || f.type === 'error');
    if (welcome.type !== 'welcome') throw new Error(`hello refused: ${JSON.stringify(welcome)}`);
    return { device, welcome };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame matching, from what was received already or what comes within the timeout. */
  next(match: (frame: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const i = this.frames.findIndex(match);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`));
      }, timeoutMs);
      this.waiters.push({ match, resolve, reject, timer });
    });
  }

  /** Sends a frame with an id and waits for the ack or error with that id. */
  async request(frame: { id: string } & Record<string, unknown>, timeoutMs = 5000): Promise<any> {
    this.send(frame);
    return this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === frame.id, timeoutMs);
  }

  waitClose(): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  close(): void {
    this.ws.close();
  }
}

/** Whether a TCP service answers on the port; with CI=true a missing service fails the test instead of skipping it. */
export async function serviceReachable(name: string, port: number, host = '127.0.0.1'): Promise<boolean> {
  const attempt = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host, port, timeout: 2000 });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  // A busy machine can be slow to accept: try a few times before calling it absent.
  let up = false;
  for (let i = 0; i < 3 && !up; i++) {
    up = await attempt();
    if (!up) await sleep(500);
  }
  if (!up && process.env.CI === 'true') throw new Error(`${name} is not reachable on ${host}:${port}, and CI=true requires it`);
  if (!up) console.log(`# SKIPPED: ${name} is not reachable on ${host}:${port}; its tests are skipped`);
  return up;
}

export function fix(lon: number, lat: number, time = Date.now(), extra: Record<string, unknown> = {}) {
  return { time, lon, lat, ...extra };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until the check returns a truthy value. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
