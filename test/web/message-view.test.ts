/**
 * A message's channel deliveries in the Control Center, in Debian's chromium: an SMS that Twilio
 * took without answering (and whose message list is down) ends `unknown`; the operator sees it
 * under "Other channels" with the reason, records that it arrived with a note, and the row shows
 * who recorded it, after a reload too. The in-app recipients table lists devices only. And "Remind
 * them" sends a reminder whose answer counts on the original message.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { eventually, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { startFakeTwilio, twilioEnv, type FakeTwilio } from '../support/twilio.js';
import { chromiumAvailable, ensureWebBuilt, launch, loginControlCenter, watchErrors } from './browser.js';

const available = chromiumAvailable();

describe('a channel delivery whose outcome is unknown, in the Control Center', { skip: !available }, () => {
  let p: TestPlatform;
  let twilio: FakeTwilio;
  let world: Awaited<ReturnType<typeof seedTenant>>;
  let browser: Browser;
  let closeBrowser: () => Promise<void>;

  before(async () => {
    ensureWebBuilt();
    twilio = await startFakeTwilio();
    p = await startTestPlatform({ ...twilioEnv(twilio), FOLLOWME_TWILIO_TIMEOUT_MS: '300', FOLLOWME_OUTBOX_MAX_ATTEMPTS: '2', FOLLOWME_OUTBOX_POLL_MS: '20', FOLLOWME_OUTBOX_RETRY_MS: '40' });
    world = await seedTenant(p);
    ({ browser, close: closeBrowser } = await launch());
  });
  after(async () => {
    await closeBrowser?.();
    await p?.stop();
    await twilio?.close();
  });

  it('shows it with the reason and lets an operator record that it arrived, with a note', async () => {
    const t = (path: string) => `/tenants/${world.tenant.id}${path}`;
    const phone = '+4915100000031';
    const user = (await p.api('POST', t('/users'), { email: 'uli@acme.test', name: 'Uli Unreachable', role: 'member' })).body;
    assert.equal((await p.api('PUT', t(`/users/${user.id}/phone`), { phone })).status, 200);
    twilio.hang(phone);
    twilio.listUnavailable(true);
    const sent = await p.api('POST', t('/messages'), { target: { userIds: [user.id], deviceIds: [world.devices[0]!.device.id] }, title: 'Road 9 flooded', channels: ['app', 'sms'] }, world.operatorToken);
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await eventually(async () => ((await p.api('GET', t(`/messages/${sent.body.id}/deliveries`))).body as { channel: string; state: string }[]).some((d) => d.channel === 'sms' && d.state === 'unknown'), 15_000, 'the SMS given up as unknown');

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, p.url, world.tenant.slug, world.operator.email, 'correct horse');
    await page.goto(`${p.url}/#/messages/${sent.body.id}`);
    const rows = page.getByTestId('channel-deliveries');
    await rows.getByText(/outcome unknown after 2 attempts/).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId('channel-counts').textContent(), 'unknown 1');
    assert.equal(await page.getByTestId('delivery-counts').textContent(), 'queued 1', 'the in-app table counts devices only');

    await rows.getByRole('button', { name: 'It arrived' }).click();
    await page.getByLabel('It arrived: how do you know?').fill('Uli called back');
    await rows.getByRole('button', { name: 'Record' }).click();
    await rows.getByText('recorded by Olga Operator: Uli called back').waitFor();
    assert.equal(await page.getByTestId('channel-counts').textContent(), 'sent 1');
    assert.equal(await rows.getByRole('button', { name: 'It arrived' }).count(), 0, 'settled once');

    const [sms] = ((await p.api('GET', t(`/messages/${sent.body.id}/deliveries`))).body as any[]).filter((d) => d.channel === 'sms');
    assert.deepEqual([sms.state, sms.settled.name, sms.settled.note], ['sent', 'Olga Operator', 'Uli called back']);
    await page.reload();
    await page.getByTestId('channel-deliveries').getByText('recorded by Olga Operator: Uli called back').waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('reminds those who have not answered with one click, and an answer to the reminder counts on the original', async () => {
    const t = (path: string) => `/tenants/${world.tenant.id}${path}`;
    const { device } = await TestDevice.connect(p.url, world.devices[1]!.token);
    const poll = await p.api('POST', t('/messages'), { target: { deviceIds: [world.devices[1]!.device.id] }, title: 'Shift swap on Friday?', options: ['Yes', 'No'] }, world.operatorToken);
    assert.equal(poll.status, 201, JSON.stringify(poll.body));
    await device.next((f) => f.type === 'message' && f.title === 'Shift swap on Friday?', 10_000);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, p.url, world.tenant.slug, world.operator.email, 'correct horse');
    await page.goto(`${p.url}/#/messages/${poll.body.id}`);
    await page.getByRole('button', { name: 'Remind them' }).click();
    await page.getByText('Reminded 1 recipient; their answers count here.').waitFor();
    const reminder = await device.next((f) => f.type === 'message' && f.title === 'Reminder: Shift swap on Friday?', 10_000);
    assert.equal((await device.request({ type: 'receipt', id: 'r1', deliveryId: reminder.deliveryId, status: 'acknowledged', response: 'No' })).status, 'accepted');
    await eventually(async () => (await page.locator('[data-option="No"]').textContent()) === '1', 10_000, 'the original\'s tally to count the answer');
    assert.deepEqual(errors, []);
    device.ws.close();
    await context.close();
  });
});
