/**
 * `npm run screenshots`: starts the platform with the demo on, lets the simulator run, and saves
 * the main screens to docs/screenshots/*.png (login, live map, message view, history, administration
 * and settings, open SOS alarms, member app with its SOS state and quiet hours).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureWebBuilt, launch, loginControlCenter } from './browser.js';
import { startTestPlatform, sleep } from '../helpers.js';
import { startDemo } from '../../src/demo/index.js';

const OUT = 'docs/screenshots';

async function main() {
  ensureWebBuilt();
  mkdirSync(OUT, { recursive: true });
  const p = await startTestPlatform({ FOLLOWME_DEMO: 'on' });
  const demoRun = await startDemo(p);
  const { browser, close } = await launch();
  try {
    const demo = JSON.parse(readFileSync(join(p.dataDir, 'demo-login.json'), 'utf8')) as { tenant: string; email: string; password: string };
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(`${p.url}/`);
    await page.getByLabel('Organisation (tenant)').fill(demo.tenant);
    await page.getByLabel('E-mail').fill(demo.email);
    await page.screenshot({ path: `${OUT}/login.png` });
    console.log('waiting 40 s for the demo devices to move and raise events…');
    await sleep(40_000);
    const tenantId = (await p.api('GET', '/tenants')).body.find((t: { slug: string }) => t.slug === 'demo').id as string;
    await p.api('PATCH', `/tenants/${tenantId}`, { timeZone: 'Europe/Berlin' });
    await loginControlCenter(page, p.url, demo.tenant, demo.email, demo.password);
    await page.locator('.maplibregl-canvas').waitFor();
    await sleep(3000);
    await page.screenshot({ path: `${OUT}/live-map.png` });
    await page.getByRole('tab', { name: /Events/ }).click();
    await sleep(500);
    await page.screenshot({ path: `${OUT}/events.png` });
    await page.getByRole('tab', { name: /Send/ }).click();
    await page.getByRole('checkbox').first().check();
    await page.getByLabel('Title').fill('Please confirm your position');
    await page.getByLabel('Poll options (one per line; empty: no poll)').fill('I am safe\nI need help');
    await page.getByText(/Reaches \d+/).waitFor();
    await page.screenshot({ path: `${OUT}/compose.png` });
    // A poll to everyone; the simulated people answer within seconds.
    const groups = (await p.api('GET', `/tenants/${tenantId}/groups`)).body as { id: string }[];
    const message = (await p.api('POST', `/tenants/${tenantId}/messages`, { target: { groupIds: groups.map((g) => g.id) }, title: 'Evening briefing: will you attend?', options: ['Yes', 'No', 'Maybe'], priority: 'high' })).body;
    await sleep(12_000);
    await page.goto(`${p.url}/#/messages/${message.id}`);
    await page.getByTestId('tallies').waitFor();
    await sleep(1500);
    await page.screenshot({ path: `${OUT}/message.png` });
    const devices = (await p.api('GET', `/tenants/${tenantId}/devices`)).body as { id: string }[];
    await page.goto(`${p.url}/#/history?device=${devices[3]!.id}`);
    await page.getByText(/\d+ positions/).waitFor({ timeout: 15_000 });
    await page.getByRole('slider').fill('12');
    await sleep(1500);
    await page.screenshot({ path: `${OUT}/history.png` });
    await page.goto(`${p.url}/#/admin`);
    await page.getByLabel('New device name').fill('Van 12');
    await page.getByRole('button', { name: 'Create device' }).click();
    await page.getByTestId('device-token').waitFor();
    await page.screenshot({ path: `${OUT}/admin.png` });
    await page.getByRole('form', { name: 'Working hours' }).scrollIntoViewIfNeeded();
    await page.getByRole('region', { name: 'Tracking settings' }).scrollIntoViewIfNeeded();
    await sleep(300);
    await page.screenshot({ path: `${OUT}/settings.png` });

    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, geolocation: { longitude: 13.3777, latitude: 52.5163, accuracy: 8 }, permissions: ['geolocation'] });
    const member = await phone.newPage();
    const created = (await p.api('POST', `/tenants/${tenantId}/devices`, { name: 'Screenshot phone' })).body;
    await member.goto(`${p.url}/app/`);
    await member.getByLabel('Device token').fill(created.token);
    await member.getByRole('button', { name: 'Enrol' }).click();
    await member.getByText('Connected.').waitFor();
    await member.getByRole('button', { name: 'Share my location' }).click();
    await sleep(1500);
    await p.api('POST', `/tenants/${tenantId}/messages`, { target: { deviceIds: [created.device.id] }, title: 'Gate B closes at 18:00', body: 'Use gate C after that.', priority: 'normal', ackRequired: true });
    await p.api('POST', `/tenants/${tenantId}/messages`, { target: { deviceIds: [created.device.id] }, title: 'Are you safe?', body: 'Fire alarm in hall 2.', priority: 'critical', options: ['I am safe', 'I need help'] });
    await member.getByText('Are you safe?').waitFor();
    await sleep(500);
    await member.screenshot({ path: `${OUT}/member-app.png` });

    // An SOS from the phone: its state in the member app, and the open alarm in the Control Center.
    await p.api('PUT', `/tenants/${tenantId}/notification-settings`, { responders: { groupIds: [groups[0]!.id] } });
    await member.getByRole('button', { name: 'SOS', exact: true }).click();
    await member.getByLabel('What happened (optional)').fill('Twisted my ankle at the stairs');
    await member.getByRole('button', { name: 'Send SOS now' }).click();
    await member.getByTestId('sos-alarm').waitFor({ timeout: 15_000 });
    await sleep(4000);
    await member.reload();
    await member.getByTestId('sos-alarm').waitFor({ timeout: 15_000 });
    await sleep(500);
    await member.screenshot({ path: `${OUT}/member-sos.png` });
    const [alarm] = (await p.api('GET', `/tenants/${tenantId}/sos-alarms`)).body as { id: string }[];
    await page.goto(`${p.url}/#/live?tab=events&sos=${alarm!.id}`);
    await page.getByTestId('sos-alarms').waitFor();
    await page.locator('.maplibregl-canvas').waitFor();
    await sleep(3000);
    await page.screenshot({ path: `${OUT}/sos-alarms.png` });

    // A member sets their own quiet hours.
    await p.api('POST', `/tenants/${tenantId}/users`, { email: 'mia@demo.test', name: 'Mia Member', role: 'member', password: 'correct horse' });
    await member.getByLabel('Organisation (tenant)').fill('demo');
    await member.getByLabel('E-mail').fill('mia@demo.test');
    await member.getByLabel('Password').fill('correct horse');
    await member.getByRole('button', { name: 'Log in' }).click();
    const quiet = member.getByRole('form', { name: 'My quiet hours' });
    await quiet.getByRole('checkbox', { name: /Quiet hours on/ }).check();
    await quiet.getByRole('button', { name: 'Save my quiet hours' }).click();
    await quiet.getByText(/^Saved/).waitFor();
    await quiet.scrollIntoViewIfNeeded();
    await sleep(300);
    await member.screenshot({ path: `${OUT}/member-quiet-hours.png` });
    console.log(`screenshots in ${OUT}/`);
  } finally {
    await close();
    await demoRun?.stop();
    await p.stop();
  }
}

await main();
