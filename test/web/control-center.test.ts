/**
 * The web front in Debian's chromium against the real platform: an operator draws a fence, a member
 * app with an emulated geolocation walks into it, the enter event shows in the feed, the operator
 * polls everyone inside, the member answers, the tally updates. Plus keyboard and label checks.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { eventually, seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';
import { chromiumAvailable, enrolMember, ensureWebBuilt, launch, loginControlCenter, watchErrors } from './browser.js';

// The callbacks of page.evaluate run in the browser; the server's tsconfig has no DOM types.
declare const document: any;
type HTMLInputElement = any;

const available = chromiumAvailable();

/** Every form control and button on the page that has no accessible name. */
async function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const el of document.querySelectorAll('input, select, textarea, button, a[href]')) {
      if (el.closest('.maplibregl-ctrl') || (el as HTMLInputElement).type === 'hidden') continue;
      const labelled = (el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' || el.tagName === 'A' ? el.textContent?.trim() : '');
      if (!labelled) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}

describe('web front in a real browser', { skip: !available }, () => {
  let p: TestPlatform;
  let world: Awaited<ReturnType<typeof seedTenant>>;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    ensureWebBuilt();
    p = await startTestPlatform();
    world = await seedTenant(p);
    ({ browser, close: closeBrowser } = await launch());
  });
  after(async () => {
    await closeBrowser?.();
    await p?.stop();
  });

  it('serves the apps with cache headers and keeps the API paths out of the SPA fallback', async () => {
    const index = await fetch(`${p.url}/history/anything`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(await index.text(), /<div id="root">/);
    const html = await (await fetch(`${p.url}/app/`)).text();
    const asset = html.match(/\/assets\/[^"]+\.js/)![0];
    assert.equal((await fetch(`${p.url}${asset}`)).headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.doesNotMatch(await (await fetch(`${p.url}/s/nothing`)).text(), /<div id="root">/);
    for (const path of ['/api/v1/nothing', '/device/v1/nothing', '/owntracks/x']) {
      const r = await fetch(`${p.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.match(r.headers.get('content-type') ?? '', /problem\+json/, path);
    }
    assert.equal((await fetch(`${p.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${p.url}/assets/missing.js`)).status, 404);
  });

  it('lets an operator draw a fence, see a member walk in, poll everyone inside and watch the answer arrive', async () => {
    const operator = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await operator.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, p.url, world.tenant.slug, world.operator.email, 'correct horse');
    const canvas = page.locator('.maplibregl-canvas');
    await canvas.waitFor();

    // Draw a circle: click the centre, then the radius.
    await page.getByRole('tab', { name: /Fences/ }).click();
    await page.getByRole('button', { name: 'Draw circle' }).click(); // enabled once the map has loaded
    const box = (await canvas.boundingBox())!;
    const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
    await page.mouse.click(cx, cy);
    await page.mouse.move(cx + 60, cy, { steps: 6 });
    await page.mouse.click(cx + 60, cy);
    await page.getByLabel('Name', { exact: true }).fill('Depot');
    await page.getByRole('button', { name: 'Save fence' }).click();
    await page.getByRole('button', { name: 'Edit Depot' }).waitFor().catch(async (err: Error) => {
      await page.screenshot({ path: 'test-results/draw-fence.png' });
      throw err;
    });
    const fence = (await p.api('GET', `/tenants/${world.tenant.id}/fences`)).body[0];
    assert.equal(fence.name, 'Depot');
    assert.equal(fence.geometry.type, 'Point');
    assert.ok(fence.radius > 100, `radius ${fence.radius}`);
    const [lon, lat] = fence.geometry.coordinates as [number, number];

    // The member app, outside the fence, then inside.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, geolocation: { longitude: lon + (3 * fence.radius) / 68_000, latitude: lat, accuracy: 5 }, permissions: ['geolocation'] });
    const member = await phone.newPage();
    const memberErrors = watchErrors(member);
    await enrolMember(member, p.url, world.devices[0]!.token);
    await member.getByRole('button', { name: 'Share my location' }).click();
    const deviceId = world.devices[0]!.device.id;
    await eventually(async () => (await p.api('GET', `/tenants/${world.tenant.id}/positions`)).body.some((x: any) => x.deviceId === deviceId), 10_000, 'the first position');
    await phone.setGeolocation({ longitude: lon, latitude: lat, accuracy: 5 });

    await page.getByRole('tab', { name: /Events/ }).click();
    await page.getByTestId('event-feed').getByText('phone-1 entered Depot').waitFor({ timeout: 15_000 });

    // Poll everyone inside the fence, after seeing how many it reaches.
    await page.getByRole('tab', { name: /Fences/ }).click();
    await page.getByRole('button', { name: 'Message everyone inside Depot' }).click();
    await page.getByTestId('reach').getByText('Reaches 1 device now.').waitFor();
    await page.getByLabel('Title').fill('Team meeting at 15:00?');
    await page.getByLabel('Poll options (one per line; empty: no poll)').fill('Yes\nNo');
    await page.getByRole('button', { name: 'Send to 1 device' }).click();
    await page.waitForURL(/#\/messages\/msg_/);
    await page.getByTestId('tallies').waitFor();
    assert.equal(await page.locator('[data-option="Yes"]').textContent(), '0');

    // The member answers; the operator's tally follows live.
    await member.getByText('Team meeting at 15:00?').waitFor({ timeout: 10_000 });
    await member.getByRole('button', { name: 'Yes' }).click();
    await member.getByText('You answered: Yes').waitFor();
    await eventually(async () => (await page.locator('[data-option="Yes"]').textContent()) === '1', 10_000, 'the tally to show the answer');
    await page.getByTestId('delivery-counts').getByText('acknowledged 1').waitFor();

    assert.deepEqual(errors, []);
    assert.deepEqual(memberErrors, []);
    await operator.close();
    await phone.close();
  });

  it('can be used with the keyboard: labelled controls and a sensible focus order', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${p.url}/`);
    assert.deepEqual(await unlabelled(page), []);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent || ''));
    }
    assert.deepEqual(order, ['login-tenant', 'login-email', 'login-password', 'Log in']);
    // Log in with the keyboard alone.
    await page.focus('#login-tenant');
    await page.keyboard.type(world.tenant.slug);
    await page.keyboard.press('Tab');
    await page.keyboard.type(world.operator.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type('correct horse');
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Screens' }).waitFor();
    // The skip link comes first, then the screens.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Live map');
    for (const tab of ['Devices', 'Fences', 'Send', 'Events']) {
      await page.getByRole('tab', { name: new RegExp(tab) }).click();
      assert.deepEqual(await unlabelled(page), [], `${tab} panel`);
    }
    for (const screen of ['messages', 'history']) {
      await page.goto(`${p.url}/#/${screen}`);
      await page.getByRole('heading', { level: 2 }).first().waitFor();
      assert.deepEqual(await unlabelled(page), [], screen);
    }
    const member = await context.newPage();
    await member.goto(`${p.url}/app/`);
    await member.getByLabel('Device token').waitFor();
    assert.deepEqual(await unlabelled(member), [], 'member app');
    await member.focus('#enrol-token');
    await member.keyboard.press('Tab');
    assert.equal(await member.evaluate(() => document.activeElement?.textContent), 'Enrol');
    await context.close();
  });

  it('shows a new device token as text and as a QR code to an admin', async () => {
    const admin = (await p.api('POST', `/tenants/${world.tenant.id}/users`, { email: 'ada@acme.test', name: 'Ada Admin', role: 'admin', password: 'correct horse' })).body;
    const context = await browser.newContext();
    const page = await context.newPage();
    await loginControlCenter(page, p.url, world.tenant.slug, admin.email, 'correct horse');
    await page.getByRole('link', { name: 'Administration' }).click();
    await page.getByLabel('New device name').fill('Van 12');
    await page.getByRole('button', { name: 'Create device' }).click();
    const card = page.getByTestId('device-token');
    await card.waitFor();
    const token = (await card.locator('.token').textContent())!;
    assert.match(token, /^fmd_/);
    assert.match((await card.getByRole('img').getAttribute('src'))!, /^data:image\/png;base64,/);
    assert.equal((await p.api('GET', `/tenants/${world.tenant.id}/devices`)).body.filter((d: any) => d.name === 'Van 12').length, 1);
    await context.close();
  });

  it('catches up once its live stream is back: what happened while it was cut shows without a reload', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await loginControlCenter(page, p.url, world.tenant.slug, world.operator.email, 'correct horse');
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await page.getByText('phone-2').first().waitFor(); // the lists have loaded
    // No live event names a new device: the page learns of it only from the lists.
    const made = await p.api('POST', `/tenants/${world.tenant.id}/devices`, { name: 'Made while cut off' });
    assert.equal(made.status, 201);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await page.getByText('Made while cut off').count(), 0, 'not shown while the stream runs on');
    // the server drops every connection (as a proxy or a restart would); the browser reconnects by itself
    p.http.server.closeAllConnections();
    await page.getByText('Made while cut off').first().waitFor({ timeout: 20_000 });
    await context.close();
  });
});
