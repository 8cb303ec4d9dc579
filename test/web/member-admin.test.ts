/**
 * The gaps of issue #6 in Debian's chromium against the real platform: the member app's SOS reaches
 * the operator's event feed, the fence form round-trips every fence attribute, the notification
 * administration (templates, responders, quiet hours, a person's phone) writes through the API, and
 * a member picks whom to share with by name.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, TestDevice } from '../helpers.js';
import { chromiumAvailable, enrolMember, loginControlCenter, browserWorldForSuite, watchErrors } from './browser.js';

const available = chromiumAvailable();

describe('Control Center and member app: SOS, fence attributes, notification administration, share picker', { skip: !available }, () => {
  const w = browserWorldForSuite();
  let admin: { id: string; email: string };
  const t = (path: string) => `/tenants/${w.world.tenant.id}${path}`;

  before(async () => {
    admin = (await w.p.api('POST', t('/users'), { email: 'ada@acme.test', name: 'Ada Admin', role: 'admin', password: 'correct horse' })).body;
  });

  it("sends an SOS with the phone's position after a confirmation, shows the server's ack, and the operator's feed shows it", async () => {
    const operator = await w.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await operator.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, w.world.operator.email, 'correct horse');
    await page.getByRole('tab', { name: /Events/ }).click();
    await page.getByText('Live', { exact: true }).waitFor();

    const phone = await w.browser.newContext({ viewport: { width: 390, height: 844 }, geolocation: { longitude: 13.3777, latitude: 52.5163, accuracy: 9 }, permissions: ['geolocation'] });
    const member = await phone.newPage();
    const memberErrors = watchErrors(member);
    await enrolMember(member, w.p.url, w.world.devices[1]!.token);
    // One tap only opens the confirmation: nothing is sent yet.
    await member.getByRole('button', { name: 'SOS', exact: true }).click();
    await member.getByRole('button', { name: 'Cancel' }).click();
    await member.getByRole('button', { name: 'SOS', exact: true }).click();
    await member.getByLabel('What happened (optional)').fill('Fell, cannot walk');
    await member.getByRole('button', { name: 'Send SOS now' }).click();
    await member.getByTestId('sos-status').getByText(/SOS received by the server at .*, with your position/).waitFor({ timeout: 10_000 });

    const item = page.getByTestId('event-feed').getByText('SOS from phone-2: Fell, cannot walk');
    await item.waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId('event-feed').getByText(/^SOS from/).count(), 1, 'one SOS, one line');
    const position = (await w.p.api('GET', t('/positions'))).body.find((x: { deviceId: string }) => x.deviceId === w.world.devices[1]!.device.id);
    assert.deepEqual([position.lon, position.lat], [13.3777, 52.5163], "the SOS carried the phone's position");
    assert.deepEqual(errors, []);
    assert.deepEqual(memberErrors, []);
    await operator.close();
    await phone.close();
  });

  it('edits tags, who a fence applies to, its schedule, hysteresis and enabled, and the API keeps exactly that', async () => {
    const group = (await w.p.api('POST', t('/groups'), { name: 'Drivers' })).body;
    const fence = (await w.p.api('POST', t('/fences'), { name: 'Yard', geometry: { type: 'Point', coordinates: [13.4, 52.5] }, radius: 150 })).body;
    const context = await w.browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, w.world.operator.email, 'correct horse');
    await page.getByRole('tab', { name: /Fences/ }).click();
    await page.getByRole('button', { name: 'Edit Yard' }).click();
    const form = page.getByRole('form', { name: 'Edit fence' });
    await form.getByLabel('Tags (separated by commas)').fill('depot, night');
    await form.getByText(/^Applies to/).first().click();
    await form.getByRole('checkbox', { name: 'Drivers (group)' }).check();
    await form.getByRole('checkbox', { name: 'phone-1 (device)' }).check();
    await form.getByRole('radio', { name: 'On a schedule' }).check();
    await form.getByLabel('Time zone (IANA, e.g. Europe/Berlin)').fill('Europe/Berlin');
    const first = form.getByRole('group', { name: 'Window 1', exact: true });
    await first.getByRole('checkbox', { name: 'Friday' }).uncheck();
    await first.getByLabel('From', { exact: true }).fill('06:30');
    await first.getByLabel('To', { exact: true }).fill('18:00');
    await form.getByRole('button', { name: 'Add a window' }).click();
    const second = form.getByRole('group', { name: 'Window 2', exact: true });
    for (const day of ['Monday', 'Tuesday', 'Wednesday', 'Thursday']) await second.getByRole('checkbox', { name: day }).uncheck();
    await second.getByRole('checkbox', { name: 'Saturday' }).check();
    await second.getByLabel('From', { exact: true }).fill('22:00');
    await second.getByLabel('To', { exact: true }).fill('04:00');
    await form.getByLabel(/Exit margin/).fill('25');
    await form.getByRole('checkbox', { name: /accuracy/ }).uncheck();
    await form.getByRole('checkbox', { name: 'Enabled', exact: true }).uncheck();
    await form.getByRole('button', { name: 'Save fence' }).click();
    await page.getByText('Saved fence Yard.').waitFor();

    const saved = (await w.p.api('GET', t(`/fences/${fence.id}`))).body;
    assert.deepEqual(saved.tags, ['depot', 'night']);
    assert.deepEqual(saved.appliesTo, { groupIds: [group.id], deviceIds: [w.world.devices[0]!.device.id] });
    assert.deepEqual(saved.schedule, { timeZone: 'Europe/Berlin', windows: [{ days: ['mon', 'tue', 'wed', 'thu'], from: '06:30', to: '18:00' }, { days: ['fri', 'sat'], from: '22:00', to: '04:00' }] });
    assert.deepEqual(saved.hysteresis, { exitMargin: 25, useAccuracy: false });
    assert.equal(saved.enabled, false);
    assert.equal(saved.radius, 150, 'the shape stays');

    // Opened again, the form shows what the API has; clearing goes back to the defaults.
    await page.getByRole('button', { name: 'Edit Yard' }).click();
    assert.equal(await form.getByLabel('Tags (separated by commas)').inputValue(), 'depot, night');
    assert.equal(await form.getByRole('group', { name: 'Window 2', exact: true }).getByLabel('From', { exact: true }).inputValue(), '22:00');
    assert.equal(await form.getByRole('checkbox', { name: 'Drivers (group)' }).isChecked(), true);
    await form.getByLabel('Tags (separated by commas)').fill('');
    await form.getByRole('checkbox', { name: 'Drivers (group)' }).uncheck();
    await form.getByRole('checkbox', { name: 'phone-1 (device)' }).uncheck();
    await form.getByRole('radio', { name: 'Always' }).check();
    await form.getByRole('checkbox', { name: 'Enabled', exact: true }).check();
    await form.getByRole('button', { name: 'Save fence' }).click();
    // the first save's "Saved fence Yard." may still show: wait for the store to have the second one
    const cleared = await eventually(async () => {
      const now = (await w.p.api('GET', t(`/fences/${fence.id}`))).body;
      return now.enabled === true ? now : undefined;
    }, 15_000, 'the second save of the fence');
    await page.getByText('Saved fence Yard.').waitFor();
    assert.deepEqual([cleared.tags, cleared.appliesTo, cleared.schedule, cleared.enabled], [[], null, null, true]);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('lets an admin keep message templates, SOS responders, quiet hours and a person\'s phone', async () => {
    const group = (await w.p.api('POST', t('/groups'), { name: 'First aiders' })).body;
    const context = await w.browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, admin.email, 'correct horse');
    await page.getByRole('link', { name: 'Administration' }).click();

    // Templates: create, edit, delete.
    await page.getByLabel('Template name').fill('arrival');
    await page.getByLabel('Template title').fill('{person} arrived at {fence}');
    await page.getByLabel('Template body').fill('At {time}.');
    await page.getByText('Variables the title and body may use').click();
    await page.getByText('{battery}', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Create template' }).click();
    await page.getByText('Template created.').waitFor();
    const templates = page.getByRole('list', { name: 'Templates' });
    await templates.getByText('Uses: {person} {fence} {time}').waitFor();
    await page.getByRole('button', { name: 'Edit template arrival' }).click();
    await page.getByLabel('Template title').fill('{person} reached {fence}');
    await page.getByRole('button', { name: 'Save template' }).click();
    await page.getByText('Template saved.').waitFor();
    let stored = (await w.p.api('GET', t('/templates'))).body;
    assert.deepEqual(stored.map((x: { name: string; title: string; body: string }) => [x.name, x.title, x.body]), [['arrival', '{person} reached {fence}', 'At {time}.']]);
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete template arrival' }).click();
    await eventually(async () => (await w.p.api('GET', t('/templates'))).body.length === 0, 5000, 'the template to go');
    stored = (await w.p.api('GET', t('/templates'))).body;
    assert.deepEqual(stored, []);

    // Responders, hourly limit and the tenant's quiet hours.
    const settings = page.getByRole('region', { name: 'Notification settings' });
    await settings.getByRole('checkbox', { name: 'First aiders (group)' }).check();
    await settings.getByRole('checkbox', { name: 'Olga Operator (person)' }).check();
    await settings.getByLabel(/Most rule alerts per device and hour/).fill('6');
    await settings.getByRole('checkbox', { name: /Quiet hours on/ }).check();
    await settings.getByLabel('From', { exact: true }).fill('21:30');
    await settings.getByLabel('To', { exact: true }).fill('06:00');
    await settings.getByRole('checkbox', { name: 'Sunday' }).uncheck();
    await settings.getByLabel(/Time zone/).fill('Europe/Vienna');
    await settings.getByRole('button', { name: 'Save notification settings' }).click();
    await page.getByText('Notification settings saved.').waitFor();
    const ns = (await w.p.api('GET', t('/notification-settings'))).body;
    assert.deepEqual(ns.responders, { groupIds: [group.id], userIds: [w.world.operator.id] });
    assert.equal(ns.recipientHourlyLimit, 6);
    assert.deepEqual(ns.quietHours, { from: '21:30', to: '06:00', timeZone: 'Europe/Vienna', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'] });
    assert.equal(ns.webhookUrl, null, 'an unchanged empty URL is not sent');

    // A person's phone and quiet hours.
    await page.getByLabel('Person', { exact: true }).selectOption({ label: `Olga Operator (${w.world.operator.email})` });
    const person = page.getByRole('form', { name: 'Settings of Olga Operator' });
    await person.getByLabel(/Mobile number/).fill('+4915112345678');
    await person.getByRole('checkbox', { name: /Quiet hours on/ }).check();
    await person.getByLabel(/Time zone/).fill('UTC');
    await person.getByRole('button', { name: 'Save for Olga Operator' }).click();
    await page.getByText('Saved for Olga Operator.').waitFor();
    const profile = (await w.p.api('GET', t(`/users/${w.world.operator.id}/notification-profile`))).body;
    assert.equal(profile.phone, '+4915112345678');
    assert.deepEqual(profile.quietHours, { from: '22:00', to: '07:00', timeZone: 'UTC' });
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('lets a member choose whom to share with by name, and lists the share by name', async () => {
    const ben = (await w.p.api('POST', t('/users'), { email: 'ben@acme.test', name: 'Ben Baker', role: 'member', password: 'password-1' })).body;
    await w.p.api('POST', t('/users'), { email: 'ann@acme.test', name: 'Ann Archer', role: 'member', password: 'password-1' });
    const context = await w.browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(`${w.p.url}/app/`);
    await page.getByLabel('Organisation (tenant)').fill(w.world.tenant.slug);
    await page.getByLabel('E-mail').fill('ann@acme.test');
    await page.getByLabel('Password').fill('password-1');
    await page.getByRole('button', { name: 'Log in' }).click();
    const picker = page.getByRole('group', { name: 'Share with' });
    await picker.getByLabel(/Find by name/).fill('bak');
    await picker.getByRole('checkbox', { name: 'Ben Baker (person)' }).waitFor(); // the directory loads after the login
    assert.equal(await picker.getByRole('checkbox').count(), 1, 'the search narrows the list');
    assert.equal(await picker.getByRole('checkbox', { name: 'Ann Archer (person)' }).count(), 0, 'not myself');
    await picker.getByRole('checkbox', { name: 'Ben Baker (person)' }).check();
    await page.getByRole('button', { name: 'Start sharing' }).click();
    await page.getByRole('list', { name: 'My shares' }).getByText(/^Ben Baker · until/).waitFor();
    const annLogin = (await w.p.api('POST', '/auth/login', { tenant: w.world.tenant.slug, email: 'ann@acme.test', password: 'password-1' }, '')).body;
    const shares = (await w.p.api('GET', t('/me/shares'), undefined, annLogin.token)).body.shares;
    assert.deepEqual(shares.map((s: { followers: { userIds: string[] } }) => s.followers.userIds), [[ben.id]]);
    await page.getByRole('button', { name: 'Stop sharing with Ben Baker' }).click();
    await page.getByText('Nobody: you share with no one.').waitFor();
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('shows a person who shares with a member live, also when their first position comes on the stream', async () => {
    const member = async (email: string, name: string) => {
      const user = (await w.p.api('POST', t('/users'), { email, name, role: 'member', password: 'password-1' })).body;
      const token = (await w.p.api('POST', '/auth/login', { tenant: w.world.tenant.slug, email, password: 'password-1' }, '')).body.token as string;
      return { user, token };
    };
    const dora = await member('dora@acme.test', 'Dora Dean');
    const cid = await member('cid@acme.test', 'Cid Carter');
    const cidPhone = (await w.p.api('POST', t('/devices'), { name: 'cid-phone', userId: cid.user.id })).body;
    assert.equal((await w.p.api('POST', t('/me/shares'), { userIds: [dora.user.id], minutes: 60 }, cid.token)).status, 201);

    const context = await w.browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${w.p.url}/app/`);
    await page.getByLabel('Organisation (tenant)').fill(w.world.tenant.slug);
    await page.getByLabel('E-mail').fill('dora@acme.test');
    await page.getByLabel('Password').fill('password-1');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Cid Carter: no position yet').waitFor();
    // Cid's phone reports: the stream brings a position of a device the page has no position of yet
    const { device } = await TestDevice.connect(w.p.url, cidPhone.token);
    assert.equal((await device.request({ type: 'positions', id: 'p1', fixes: [fix(13.4, 52.5)] })).results[0].status, 'accepted');
    await page.getByText(/^Cid Carter: seen \d+ s ago/).waitFor({ timeout: 10_000 });
    device.close();
    await context.close();
  });
});
