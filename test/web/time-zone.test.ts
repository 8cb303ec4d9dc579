/**
 * The tenant's time zone in Debian's chromium against the real platform: an admin sets it in
 * Settings; the Control Center then shows times in it (not the browser's, here UTC), and the
 * working hours, a fence schedule, quiet hours and a rule's schedule start from it; working hours
 * are edited in Settings; a member sets their own quiet hours in the member app.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestDevice } from '../helpers.js';
import { chromiumAvailable, loginControlCenter, browserWorldForSuite, watchErrors } from './browser.js';

const available = chromiumAvailable();
const ZONE = 'Asia/Tokyo';

describe("the tenant's time zone in the Control Center and the member app", { skip: !available }, () => {
  const w = browserWorldForSuite();
  const t = (path: string) => `/tenants/${w.world.tenant.id}${path}`;

  before(async () => {
    await w.p.api('POST', t('/users'), { email: 'ada@acme.test', name: 'Ada Admin', role: 'admin', password: 'correct horse' });
    await w.p.api('POST', t('/users'), { email: 'mia@acme.test', name: 'Mia Member', role: 'member', password: 'correct horse' });
    await w.p.api('POST', t('/groups'), { name: 'Guards' });
    await w.p.api('POST', t('/fences'), { name: 'Gate', geometry: { type: 'Point', coordinates: [13.4, 52.5] }, radius: 50 });
  });

  it('is set in Settings, shows times in it, and is where working hours, fence schedules, quiet hours and rule schedules start', async () => {
    const context = await w.browser.newContext({ viewport: { width: 1400, height: 1000 }, timezoneId: 'UTC', locale: 'en-US' });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, 'ada@acme.test', 'correct horse');
    await page.getByRole('link', { name: 'Administration' }).click();
    const zone = page.getByRole('form', { name: 'Time zone' });
    await zone.getByLabel(/Time zone of the organisation/).fill('Mars/Olympus');
    assert.equal(await zone.getByRole('button', { name: 'Save time zone' }).isDisabled(), true, 'an unknown zone cannot be saved');
    await zone.getByText('Not a time zone this browser knows.').waitFor();
    await zone.getByLabel(/Time zone of the organisation/).fill(ZONE);
    await zone.getByRole('button', { name: 'Save time zone' }).click();
    await zone.getByText(`Times are shown in ${ZONE}`, { exact: false }).waitFor();
    await page.locator('header .zone', { hasText: ZONE }).waitFor();
    assert.equal((await w.p.api('GET', t(''))).body.timeZone, ZONE);

    // working hours, edited here, start from the tenant's zone
    const hours = page.getByRole('form', { name: 'Working hours' });
    await hours.getByRole('checkbox', { name: 'Saturday' }).check();
    await hours.getByLabel('From', { exact: true }).fill('07:00');
    await hours.getByLabel('To', { exact: true }).fill('19:30');
    await hours.getByRole('button', { name: `Use the organisation's zone (${ZONE})` }).click();
    await hours.getByRole('button', { name: 'Save working hours' }).click();
    await page.getByText('Working hours saved.').waitFor();
    assert.deepEqual((await w.p.api('GET', t('/settings/visibility'))).body.workingHours, { days: [1, 2, 3, 4, 5, 6], from: '07:00', to: '19:30', timeZone: ZONE });

    // the tenant's quiet hours and a rule's schedule start in its zone
    const settings = page.getByRole('region', { name: 'Notification settings' });
    await settings.getByRole('checkbox', { name: /Quiet hours on/ }).check();
    assert.equal(await settings.getByLabel('Time zone (IANA, e.g. Europe/Berlin)').inputValue(), ZONE);
    const rules = page.getByRole('region', { name: 'Rules' });
    await rules.getByLabel('Name', { exact: true }).fill('Gate at night');
    await rules.getByLabel('Fence', { exact: true }).selectOption({ label: 'Gate' });
    await rules.getByLabel('Alert group').selectOption({ label: 'Guards' });
    await rules.getByRole('checkbox', { name: /Only at these times/ }).check();
    assert.equal(await rules.getByLabel('Time zone (IANA, e.g. Europe/Berlin)').inputValue(), ZONE);
    await rules.getByLabel('From', { exact: true }).fill('20:00');
    await rules.getByLabel('To', { exact: true }).fill('06:00');
    await rules.getByRole('button', { name: 'Create rule' }).click();
    await page.getByText('Rule created.').waitFor();
    const [rule] = (await w.p.api('GET', t('/rules'))).body;
    assert.deepEqual(rule.schedule, { from: '20:00', to: '06:00', timeZone: ZONE });

    // a fence schedule starts in it too
    await page.getByRole('link', { name: 'Live map' }).click();
    await page.getByRole('tab', { name: /Fences/ }).click();
    await page.getByRole('button', { name: 'Edit Gate' }).click();
    const form = page.getByRole('form', { name: 'Edit fence' });
    await form.getByRole('radio', { name: 'On a schedule' }).check();
    assert.equal(await form.getByLabel('Time zone (IANA, e.g. Europe/Berlin)').inputValue(), ZONE);

    // history's range is read in the tenant's zone: 09:00 in Tokyo is 00:00 UTC
    await page.goto(`${w.p.url}/#/history?device=${w.world.devices[0]!.device.id}`);
    await page.getByText(`Times in ${ZONE}.`).waitFor();
    const shownFrom = await page.getByLabel('From', { exact: true }).inputValue();
    const sixHoursAgo = (shift: number) => new Intl.DateTimeFormat('sv-SE', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(Date.now() - 6 * 3600_000 + shift).replace(' ', 'T');
    assert.ok([sixHoursAgo(0), sixHoursAgo(-60_000)].includes(shownFrom), `the range starts 6 h ago in ${ZONE}: ${shownFrom}`);
    await page.getByLabel('From', { exact: true }).fill('2026-01-15T09:00');
    await page.getByLabel('To', { exact: true }).fill('2026-07-15T09:00');
    const asked = page.waitForRequest((r) => r.url().includes('/positions?'));
    await page.getByRole('button', { name: 'Show track' }).click();
    const query = new URL((await asked).url()).searchParams;
    assert.equal(Number(query.get('from')), Date.UTC(2026, 0, 15, 0, 0), '09:00 in Tokyo (UTC+9) is 00:00 UTC');
    assert.equal(Number(query.get('to')), Date.UTC(2026, 6, 15, 0, 0));

    // times on screen are in the tenant's zone, not the browser's (UTC here)
    const { device } = await TestDevice.connect(w.p.url, w.world.devices[0]!.token);
    assert.equal((await device.request({ type: 'sos', id: 'sos-tz' })).status, 'accepted');
    const [alarm] = (await w.p.api('GET', t('/sos-alarms'))).body;
    const inZone = new Intl.DateTimeFormat('en-US', { timeZone: ZONE, dateStyle: 'short', timeStyle: 'medium' }).format(alarm.raisedAt);
    const inUtc = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'short', timeStyle: 'medium' }).format(alarm.raisedAt);
    assert.notEqual(inZone, inUtc);
    await page.getByTestId('sos-alarms').getByText(inZone).waitFor({ timeout: 10_000 });
    device.close();
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('lets a member set their own quiet hours in the member app, starting in the tenant\'s zone', async () => {
    const context = await w.browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: 'UTC' });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${w.p.url}/app/`);
    await page.getByLabel('Organisation (tenant)').fill(w.world.tenant.slug);
    await page.getByLabel('E-mail').fill('mia@acme.test');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Log in' }).click();
    const form = page.getByRole('form', { name: 'My quiet hours' });
    await form.getByRole('checkbox', { name: /Quiet hours on/ }).check();
    assert.equal(await form.getByLabel('Time zone (IANA, e.g. Europe/Berlin)').inputValue(), ZONE);
    await form.getByLabel('From', { exact: true }).fill('22:30');
    await form.getByLabel('To', { exact: true }).fill('06:15');
    await form.getByRole('checkbox', { name: 'Saturday' }).uncheck();
    await form.getByRole('checkbox', { name: 'Sunday' }).uncheck();
    await form.getByRole('button', { name: 'Save my quiet hours' }).click();
    await form.getByText(`Saved: quiet 22:30–06:15 (${ZONE}).`).waitFor();
    const users = (await w.p.api('GET', t('/users'))).body as { id: string; email: string }[];
    const mia = users.find((u) => u.email === 'mia@acme.test')!;
    assert.deepEqual((await w.p.api('GET', t(`/users/${mia.id}/notification-profile`))).body.quietHours, { from: '22:30', to: '06:15', days: ['mon', 'tue', 'wed', 'thu', 'fri'], timeZone: ZONE });
    // after a reload the form shows what the API keeps
    await page.reload();
    assert.equal(await form.getByLabel('From', { exact: true }).inputValue(), '22:30');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
