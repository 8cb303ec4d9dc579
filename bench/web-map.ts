/**
 * Map smoothness in the Control Center: N devices (10,000 by default, seeded positions over a city)
 * on the live map in Debian's chromium: the time to the first frame with the devices drawn, and the
 * frame times (requestAnimationFrame deltas) during a fixed pan and zoom. Baseline in the same run:
 * the same map and gestures with no devices.
 * The platform is real (login, branding, fences, the live stream); the three lists the map loads
 * (`GET …/devices`, `…/positions`, `…/status`) are answered by the browser's request routing with
 * the seeded devices, because creating 10,000 devices and their positions through the API one by
 * one takes most of an hour on a busy two-core machine, and it is the page that is measured.
 * Run: npx tsc -b && npm run build:web && node dist/bench/web-map.js   (BENCH_MAP_DEVICES=10000, BENCH_SEED=42)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/core/log.js';
import { mulberry32 } from '../src/core/random.js';
import { startPlatform } from '../src/roles.js';
import { ensureWebBuilt, launch, loginControlCenter } from '../test/web/browser.js';

declare const document: any;
declare const requestAnimationFrame: (cb: (t: number) => void) => number;

const KEY = 'fma_bench-web-map-key-0000000';
const DEVICES = Number(process.env.BENCH_MAP_DEVICES ?? 10_000);
const SEED = Number(process.env.BENCH_SEED ?? 42);
const PASSWORD = 'bench password';

/** N devices with a position and a status each, spread over about 25 × 20 km around Berlin's centre; the same every run. */
function seededDevices(tenantId: string, n: number) {
  const rnd = mulberry32(SEED);
  const now = Date.now();
  const devices = [], positions = [], status = [];
  for (let i = 0; i < n; i++) {
    const id = `dev_bench${String(i).padStart(5, '0')}`;
    const battery = Math.round(5 + rnd() * 95);
    const online = rnd() < 0.85, moving = rnd() < 0.4;
    devices.push({ id, tenantId, name: `vehicle-${String(i).padStart(5, '0')}`, userId: null, uniqueId: null, owntracksEncryption: false, disabled: false, createdAt: now - 86_400_000 });
    positions.push({ tenantId, deviceId: id, time: now - Math.round(rnd() * 600_000), lon: 13.2 + rnd() * 0.36, lat: 52.42 + rnd() * 0.18, accuracy: 10, speed: moving ? rnd() * 15 : 0, battery, receivedAt: now, late: false });
    status.push({ deviceId: id, connection: online ? 'online' : 'offline', motion: moving ? 'moving' : 'stopped', lastFixAt: now, battery, charging: false });
  }
  return { devices, positions, status };
}

interface Figures { devices: number; firstRenderMs: number; listsMs: number; frames: number; p50: number; p95: number; p99: number; max: number; fps: number; over50: number }

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** Reloads the live map (logged in), waits for the devices to be drawn, then pans and zooms while recording frame deltas. */
async function measure(page: Page, devices: number): Promise<Figures> {
  await page.reload();
  // First render: from navigation start to the first animation frame after the device count and
  // the map's cluster labels (drawn from the rendered clusters) are on screen.
  const firstRenderMs = await page.evaluate((n: number) => new Promise<number>((resolve) => {
    const check = () => {
      const tab = document.querySelector('#tab-devices')?.textContent ?? '';
      const drawn = n === 0 ? !!document.querySelector('.maplibregl-canvas') && tab.includes('(0)') : document.querySelectorAll('.cluster-label').length > 0 && tab.includes(`(${n})`);
      if (drawn) requestAnimationFrame((t) => resolve(t)); else requestAnimationFrame(check);
    };
    check();
  }), devices);
  // When the three lists had arrived (the harness serves them through the browser's request routing, which costs time of its own).
  const listsMs = await page.evaluate(() => Math.max(0, ...(globalThis as any).performance.getEntriesByType('resource').filter((e: { name: string }) => /\/(devices|positions|status)$/.test(e.name)).map((e: { responseEnd: number }) => e.responseEnd)));
  await page.waitForTimeout(1500);
  const canvas = (await page.locator('.maplibregl-canvas').boundingBox())!;
  const cx = canvas.x + canvas.width / 2, cy = canvas.y + canvas.height / 2;
  await page.evaluate(() => {
    const g = globalThis as any;
    g.__frames = [];
    g.__recording = true;
    let last = 0;
    const tick = (t: number) => { if (last) g.__frames.push(t - last); last = t; if (g.__recording) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  const started = Date.now();
  for (const [dx, dy] of [[300, 0], [0, 200], [-300, -200]] as const) {
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    await page.mouse.move(cx + dx, cy + dy, { steps: 40 });
    await page.mouse.up();
  }
  for (const dir of [-1, 1]) {
    for (let i = 0; i < 6; i++) { await page.mouse.wheel(0, dir * 240); await page.waitForTimeout(120); }
  }
  await page.waitForTimeout(800);
  const elapsed = Date.now() - started;
  const frames: number[] = await page.evaluate(() => { const g = globalThis as any; g.__recording = false; return g.__frames; });
  const sorted = [...frames].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 10) / 10;
  return { devices, firstRenderMs: Math.round(firstRenderMs), listsMs: Math.round(listsMs), frames: frames.length, p50: round(quantile(sorted, 0.5)), p95: round(quantile(sorted, 0.95)), p99: round(quantile(sorted, 0.99)), max: round(sorted.at(-1) ?? 0), fps: round((frames.length / elapsed) * 1000), over50: frames.filter((f) => f > 50).length };
}

async function main() {
  ensureWebBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'followme-bench-map-'));
  const platform = await startPlatform(loadConfig({ HOST: '127.0.0.1', PORT: '0', FOLLOWME_DATA_DIR: dataDir, FOLLOWME_DEMO: 'off', FOLLOWME_ADMIN_KEY: KEY, FOLLOWME_SQLITE_SYNC: 'normal', FOLLOWME_OSMAND_PORT: 'off', FOLLOWME_MQTT_PORT: 'off' }), createLogger('silent'));
  const api = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${platform.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const { browser, close } = await launch();
  const loadAverage = () => loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`load average at the start: ${loadAverage()}`);
  try {
    const results: Figures[] = [];
    for (const n of [0, DEVICES]) {
      const tenant = await api('POST', '/tenants', { name: `Map ${n}` });
      const operator = await api('POST', `/tenants/${tenant.id}/users`, { email: 'op@bench.test', name: 'Bench Operator', role: 'operator', password: PASSWORD });
      const lists = seededDevices(tenant.id, n);
      const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
      await context.route(/\/api\/v1\/tenants\/[^/]+\/(devices|positions|status)$/, (route) => {
        const which = new URL(route.request().url()).pathname.split('/').pop() as keyof typeof lists;
        return route.request().method() === 'GET' ? route.fulfill({ json: lists[which] }) : route.continue();
      });
      const page = await context.newPage();
      await loginControlCenter(page, platform.url, tenant.slug, operator.email, PASSWORD);
      await page.locator('.maplibregl-canvas').waitFor();
      console.log(`${n} devices: warming up`);
      await measure(page, n); // warm the cache (the first run of a page pays for compiling the bundles)
      results.push(await measure(page, n));
      await context.close();
    }
    console.log(`load average at the end: ${loadAverage()}`);
    console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, chromium headless (software GL: SwiftShader)`);
    console.log('| devices | first render (ms from navigation) | lists arrived (ms) | render after the lists (ms) | frames | p50 frame (ms) | p95 | p99 | max | frames/s | frames > 50 ms |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results) console.log(`| ${r.devices.toLocaleString('en')} | ${r.firstRenderMs} | ${r.listsMs} | ${r.firstRenderMs - r.listsMs} | ${r.frames} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.max} | ${r.fps} | ${r.over50} |`);
    const [base, full] = results as [Figures, Figures];
    console.log(`\nratio ${DEVICES} devices / baseline: p95 frame ${(full.p95 / base.p95).toFixed(2)}, first render ${(full.firstRenderMs / base.firstRenderMs).toFixed(2)}`);
  } finally {
    await close();
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
