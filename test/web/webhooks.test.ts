/**
 * Administration → Webhooks in chromium against the real platform: an admin subscribes a real local
 * receiver, sees the signing secret once, finds the test event that failed among the dead letters
 * and replays it once the receiver works.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { eventually, seedTenant, startTestPlatform, type TestPlatform } from '../helpers.js';
import { signatureValid, startReceiver } from '../support/receivers.js';
import { chromiumAvailable, ensureWebBuilt, launch, loginControlCenter, watchErrors } from './browser.js';

const available = chromiumAvailable();

describe('the Webhooks screen in a real browser', { skip: !available }, () => {
  let p: TestPlatform;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    ensureWebBuilt();
    p = await startTestPlatform({ FOLLOWME_OUTBOX_POLL_MS: '50', FOLLOWME_WEBHOOK_MAX_ATTEMPTS: '1' });
    ({ browser, close: closeBrowser } = await launch());
  });
  after(async () => {
    await closeBrowser?.();
    await p?.stop();
  });

  it('creates a subscription, shows its secret, lists a dead letter and replays it', async () => {
    let working = false;
    const receiver = await startReceiver((_req, res) => void res.writeHead(working ? 200 : 500).end());
    try {
      const world = await seedTenant(p);
      const admin = (await p.api('POST', `/tenants/${world.tenant.id}/users`, { email: 'ada@acme.test', name: 'Ada Admin', role: 'admin', password: 'correct horse' })).body;
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = watchErrors(page);
      await loginControlCenter(page, p.url, world.tenant.slug, admin.email, 'correct horse');
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.getByLabel('URL').fill(`${receiver.url}/geofence`);
      await page.getByLabel('Description').fill('dispatch system');
      await page.getByLabel('stays').check();
      await page.getByRole('button', { name: 'Create webhook' }).click();
      const card = page.getByTestId('webhook-secret');
      await card.waitFor();
      const secret = (await card.locator('.token').textContent())!;
      assert.match(secret, /^whsec_/);
      const [hook] = (await p.api('GET', `/tenants/${world.tenant.id}/webhooks`)).body;
      assert.deepEqual([hook.url, hook.events, hook.description], [`${receiver.url}/geofence`, ['enter', 'exit', 'dwell'], 'dispatch system']);

      await page.getByRole('button', { name: `Send a test event to ${hook.url}` }).click();
      await eventually(async () => (await p.api('GET', `/tenants/${world.tenant.id}/webhooks/${hook.id}/deliveries?state=dead`)).body.length === 1, 5000, 'the test event dead');
      await page.getByRole('button', { name: `Dead letters of ${hook.url}` }).click();
      await page.getByText('the receiver answered 500').waitFor();
      working = true;
      await page.getByRole('button', { name: /^Replay ping / }).click();
      await page.getByText('No dead letters.').waitFor();
      await eventually(() => receiver.requests.length === 2, 5000, 'the replay');
      assert.ok(receiver.requests.every((r) => signatureValid(r, secret)), 'signed with the secret the screen showed');
      assert.equal(receiver.requests[0]!.headers['x-followme-event'], receiver.requests[1]!.headers['x-followme-event'], 'the replay keeps the event id');
      assert.deepEqual(errors, []);
      await context.close();
    } finally {
      await receiver.close();
    }
  });
});
