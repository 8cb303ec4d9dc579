/** Debian's chromium driven by playwright-core, for the browser tests and the screenshots. */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether the browser tests can run; with CI=true a missing chromium fails instead of skipping. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing and CI=true requires it (apt-get install -y chromium)`);
  console.log(`# SKIPPED: ${CHROMIUM} is missing (apt-get install -y chromium); the browser tests are skipped`);
  return false;
}

/** Builds the web front if web/dist is missing (npm ci builds it through prepare). */
export function ensureWebBuilt(): void {
  if (existsSync('web/dist/index.html') && existsSync('web/dist/app/index.html')) return;
  const result = spawnSync('npm', ['run', 'build:web'], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build:web failed');
}

export async function launch(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  // playwright-core gives chromium a fresh --user-data-dir of its own for every launch (it refuses one passed in args).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
  return { browser, close: () => browser.close() };
}

/** Collects page errors and console errors, so a test can assert the page ran clean. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg: ConsoleMessage) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  return errors;
}

/** Logs in to the Control Center through its form. */
export async function loginControlCenter(page: Page, url: string, tenant: string, email: string, password: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Organisation (tenant)').fill(tenant);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Screens' }).waitFor();
}

/** A platform with a seeded tenant (an operator, two devices) and a chromium, for one suite: start in before(), close in after(). */
export interface BrowserWorld { p: TestPlatform; world: Awaited<ReturnType<typeof seedTenant>>; browser: Browser; close: () => Promise<void> }

export async function startBrowserWorld(): Promise<BrowserWorld> {
  ensureWebBuilt();
  const p = await startTestPlatform();
  const world = await seedTenant(p);
  const { browser, close } = await launch();
  return { p, world, browser, async close() { await close(); await p.stop(); } };
}

/** Starts a BrowserWorld before the suite's tests and closes it after them; its fields are set once they run. */
export function browserWorldForSuite(): BrowserWorld {
  const w = {} as BrowserWorld;
  before(async () => { Object.assign(w, await startBrowserWorld()); });
  after(async () => w.close?.());
  return w;
}

/** Enrols the member app with a device token and waits until it is connected. */
export async function enrolMember(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/app/`);
  await page.getByLabel('Device token').fill(token);
  await page.getByRole('button', { name: 'Enrol' }).click();
  await page.getByText('Connected.').waitFor();
}
