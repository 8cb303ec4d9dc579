/** The platform owner's console page, in Debian's chromium: sign in with the admin key, see usage, provision, suspend, read the audit log. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, startTestPlatform, type TestPlatform } from '../helpers.js';
import { chromiumAvailable, launch, watchErrors } from './browser.js';

const available = chromiumAvailable();

describe('platform console page', { skip: !available && 'chromium is missing' }, () => {
  let p: TestPlatform;
  let browser: Awaited<ReturnType<typeof launch>>;
  before(async () => {
    p = await startTestPlatform();
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await p?.stop();
  });

  it('provisions a customer, shows its usage, suspends it, and lists it in the audit log', async () => {
    const page = await browser.browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${p.url}/platform`);
    await page.getByLabel('Platform admin key').fill('fma_wrong-key-0000000000');
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByText(/Not signed in/).waitFor();
    await page.getByLabel('Platform admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Console Customer');
    await page.getByLabel('External reference').fill('crm-console-1');
    await page.getByLabel('Owner e-mail').fill('owner@console.example');
    await page.getByLabel('Owner name').fill('Olive Owner');
    await page.getByLabel('Devices quota').fill('25');
    await page.getByRole('button', { name: 'Provision' }).click();
    await page.getByText(/Provisioned console-customer\. Send the owner this link: .*\/invite\/fmi_/).waitFor();
    const row = page.locator('#tenants tr', { hasText: 'console-customer' });
    await row.getByText('0 / 25').waitFor();
    await row.getByRole('button', { name: 'Suspend console-customer' }).click();
    await page.locator('#tenants tr', { hasText: 'console-customer' }).getByText('suspended').waitFor();
    await page.locator('#audit').getByText('POST /tenants/:tenantId/suspend').waitFor();
    const tenant = (await p.api('GET', '/tenants')).body.find((t: { slug: string }) => t.slug === 'console-customer');
    assert.equal(tenant.status, 'suspended');
    assert.deepEqual(errors.filter((e) => !/401/.test(e)), []);
  });
});
