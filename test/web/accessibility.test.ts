/**
 * axe-core (WCAG 2.1 A and AA rules, colour contrast included) run inside chromium on the main
 * screens: login, live map with each panel, compose, a message, history, administration, and the
 * member app before and after enrolment; an open SOS alarm in both, and the member's quiet hours. Any violation fails with the rule, the elements and why.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { TestDevice } from '../helpers.js';
import { chromiumAvailable, enrolMember, loginControlCenter, browserWorldForSuite } from './browser.js';

declare const axe: any;
declare const document: any;

const available = chromiumAvailable();
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface Violation { id: string; impact: string; help: string; nodes: { target: string[]; failureSummary: string }[] }

/** Runs axe on the page as it is now; answers one line per violating element. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => typeof (globalThis as any).axe !== 'undefined'))) await page.addScriptTag({ path: AXE });
  const found: Violation[] = await page.evaluate(async () => (await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] })).violations);
  return found.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${v.help} at ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`));
}

describe('accessibility of the main screens (axe-core in chromium)', { skip: !available }, () => {
  const w = browserWorldForSuite();

  before(async () => {
    await w.p.api('POST', `/tenants/${w.world.tenant.id}/users`, { email: 'ada@acme.test', name: 'Ada Admin', role: 'admin', password: 'correct horse' });
    await w.p.api('POST', `/tenants/${w.world.tenant.id}/users`, { email: 'mo@acme.test', name: 'Mo Member', role: 'member', password: 'correct horse' });
    await w.p.api('POST', `/tenants/${w.world.tenant.id}/fences`, { name: 'Depot', geometry: { type: 'Point', coordinates: [13.4, 52.5] }, radius: 200 });
    await w.p.api('POST', `/tenants/${w.world.tenant.id}/groups`, { name: 'Drivers', deviceIds: [w.world.devices[0]!.device.id] });
  });

  it('finds nothing on the login screen, the live map and its panels, compose, a message and history', async () => {
    const context = await w.browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${w.p.url}/`);
    await page.getByLabel('Organisation (tenant)').waitFor();
    assert.deepEqual(await violations(page), [], 'login');
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, w.world.operator.email, 'correct horse');
    await page.locator('.maplibregl-canvas').waitFor();
    for (const tab of ['Devices', 'Fences', 'Send', 'Events']) {
      await page.getByRole('tab', { name: new RegExp(tab) }).click();
      await page.getByRole('tabpanel').waitFor();
      assert.deepEqual(await violations(page), [], `live map, ${tab} panel`);
    }
    await page.getByRole('tab', { name: /Fences/ }).click();
    await page.getByRole('button', { name: 'Edit Depot' }).click();
    await page.getByRole('radio', { name: 'On a schedule' }).check();
    await page.getByText(/^Applies to/).first().click();
    assert.deepEqual(await violations(page), [], 'fence form');
    await page.getByRole('button', { name: 'Message everyone inside Depot' }).click();
    await page.getByLabel('Title').fill('Gate B closes at 18:00');
    await page.getByLabel('Poll options (one per line; empty: no poll)').fill('Yes\nNo');
    assert.deepEqual(await violations(page), [], 'compose');
    const message = (await w.p.api('POST', `/tenants/${w.world.tenant.id}/messages`, { target: { deviceIds: [w.world.devices[0]!.device.id] }, title: 'Are you safe?', options: ['Yes', 'No'], priority: 'critical' })).body;
    await page.goto(`${w.p.url}/#/messages/${message.id}`);
    await page.getByTestId('tallies').waitFor();
    assert.deepEqual(await violations(page), [], 'message view');
    await page.goto(`${w.p.url}/#/history?device=${w.world.devices[0]!.device.id}`);
    await page.getByRole('heading', { level: 2 }).first().waitFor();
    assert.deepEqual(await violations(page), [], 'history');
    await context.close();
  });

  it('finds nothing on the administration screen', async () => {
    const context = await w.browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, 'ada@acme.test', 'correct horse');
    await page.getByRole('link', { name: 'Administration' }).click();
    await page.getByRole('button', { name: 'Save notification settings' }).waitFor();
    await page.getByText('Variables the title and body may use').click();
    await page.getByRole('region', { name: 'Notification settings' }).getByRole('checkbox', { name: /Quiet hours on/ }).check();
    assert.deepEqual(await violations(page), [], 'administration');
    await context.close();
  });

  it('finds nothing in the member app: enrolment, then enrolled with SOS, messages and follow me', async () => {
    const context = await w.browser.newContext({ viewport: { width: 390, height: 844 }, geolocation: { longitude: 13.4, latitude: 52.5, accuracy: 5 }, permissions: ['geolocation'] });
    const page = await context.newPage();
    await page.goto(`${w.p.url}/app/`);
    await page.getByLabel('Device token').waitFor();
    assert.deepEqual(await violations(page), [], 'member app, enrolment');
    await enrolMember(page, w.p.url, w.world.devices[0]!.token);
    await w.p.api('POST', `/tenants/${w.world.tenant.id}/messages`, { target: { deviceIds: [w.world.devices[0]!.device.id] }, title: 'Fire alarm in hall 2', options: ['I am safe', 'I need help'], priority: 'critical' });
    await page.getByText('Fire alarm in hall 2').waitFor();
    await page.getByLabel('Organisation (tenant)').fill(w.world.tenant.slug);
    await page.getByLabel('E-mail').fill('mo@acme.test');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Start sharing' }).waitFor();
    await page.getByRole('button', { name: 'SOS', exact: true }).click();
    assert.deepEqual(await violations(page), [], 'member app, enrolled and logged in');
    await context.close();
  });

  it('finds nothing with an open SOS alarm (Control Center and member app), the time zone and working hours, and a member\'s quiet hours', async () => {
    const { device } = await TestDevice.connect(w.p.url, w.world.devices[1]!.token);
    assert.equal((await device.request({ type: 'sos', id: 'sos-axe', text: 'Smoke in the stairwell' })).status, 'accepted');
    device.close();
    const context = await w.browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, 'ada@acme.test', 'correct horse');
    await page.getByTestId('sos-alarms').getByRole('button', { name: 'Resolve…' }).click();
    assert.deepEqual(await violations(page), [], 'open SOS alarm, resolve form');
    await page.getByRole('link', { name: 'Administration' }).click();
    await page.getByRole('form', { name: 'Working hours' }).waitFor();
    assert.deepEqual(await violations(page), [], 'administration with time zone and working hours');
    await context.close();

    const phone = await w.browser.newContext({ viewport: { width: 390, height: 844 } });
    const member = await phone.newPage();
    await enrolMember(member, w.p.url, w.world.devices[1]!.token);
    await member.getByTestId('sos-alarm').waitFor();
    await member.getByLabel('Organisation (tenant)').fill(w.world.tenant.slug);
    await member.getByLabel('E-mail').fill('mo@acme.test');
    await member.getByLabel('Password').fill('correct horse');
    await member.getByRole('button', { name: 'Log in' }).click();
    await member.getByRole('form', { name: 'My quiet hours' }).getByRole('checkbox', { name: /Quiet hours on/ }).check();
    assert.deepEqual(await violations(member), [], 'member app: SOS state and my quiet hours');
    await phone.close();
  });
});
