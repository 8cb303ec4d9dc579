/**
 * SOS history in Debian's chromium against the real platform: an SOS raised in the member app stays
 * on the operator's screen after a reload, with the responder who acknowledged it; the member app
 * shows its own SOS state after a reload; resolving it clears it from the Control Center for good.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestDevice } from '../helpers.js';
import { chromiumAvailable, enrolMember, loginControlCenter, browserWorldForSuite, watchErrors } from './browser.js';

const available = chromiumAvailable();

describe('SOS alarms survive a reload', { skip: !available }, () => {
  const w = browserWorldForSuite();
  const t = (path: string) => `/tenants/${w.world.tenant.id}${path}`;

  it('shows an open SOS with who acknowledged it after the operator and the member reload, and not once resolved', async () => {
    const [responderDevice, phoneDevice] = w.world.devices as [typeof w.world.devices[0] & object, typeof w.world.devices[0] & object];
    assert.equal((await w.p.api('PUT', t('/notification-settings'), { responders: { deviceIds: [responderDevice.device.id] } })).status, 200);
    const { device: responder } = await TestDevice.connect(w.p.url, responderDevice.token);

    const operator = await w.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await operator.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, w.world.operator.email, 'correct horse');
    await page.getByText('Live', { exact: true }).waitFor();

    const phone = await w.browser.newContext({ viewport: { width: 390, height: 844 }, geolocation: { longitude: 13.3777, latitude: 52.5163, accuracy: 9 }, permissions: ['geolocation'] });
    const member = await phone.newPage();
    const memberErrors = watchErrors(member);
    await enrolMember(member, w.p.url, phoneDevice.token);
    await member.getByRole('button', { name: 'SOS', exact: true }).click();
    await member.getByLabel('What happened (optional)').fill('Trapped in the lift');
    await member.getByRole('button', { name: 'Send SOS now' }).click();
    await member.getByTestId('sos-alarm').getByText(/received, waiting for a responder/).waitFor({ timeout: 10_000 });

    // live: the alarm appears on the operator's screen, then the responder's acknowledgement
    const alarms = page.getByTestId('sos-alarms');
    await alarms.getByText('phone-2', { exact: true }).waitFor({ timeout: 10_000 });
    await alarms.getByText('Not acknowledged yet: alerted phone-1.').waitFor();
    const alert = await responder.next((f) => f.type === 'message' && f.priority === 'critical');
    await responder.request({ type: 'receipt', id: 'ack', deliveryId: alert.deliveryId, status: 'acknowledged' });
    await alarms.getByTestId('sos-ack').getByText(/Acknowledged by phone-1 at/).waitFor({ timeout: 10_000 });

    // a reload loses nothing: the alarm, who acknowledged, and the feed's line
    await page.reload();
    await alarms.getByTestId('sos-ack').getByText(/Acknowledged by phone-1 at/).waitFor({ timeout: 10_000 });
    await alarms.getByText('“Trapped in the lift”').or(alarms.getByText('Trapped in the lift')).first().waitFor();
    await page.getByRole('tab', { name: /Events/ }).click();
    await page.getByTestId('event-feed').getByText('SOS from phone-2: Trapped in the lift').waitFor();
    await member.reload();
    await member.getByTestId('sos-alarm').getByText(/a responder is on it/).waitFor({ timeout: 10_000 });
    await member.getByTestId('sos-alarm').getByText(/Acknowledged by phone-1 at/).waitFor();

    // the operator resolves it with a note: gone from the Control Center, also after a reload
    await alarms.getByRole('button', { name: 'Resolve…' }).click();
    await alarms.getByLabel('Note (optional)').fill('Lift engineer freed her');
    await alarms.getByRole('button', { name: 'Mark resolved' }).click();
    await alarms.waitFor({ state: 'detached' });
    const [alarm] = (await w.p.api('GET', t('/sos-alarms?state=all'))).body;
    assert.equal(alarm.state, 'resolved');
    assert.equal(alarm.resolution, 'Lift engineer freed her');
    assert.equal(alarm.resolvedBy.name, 'Olga Operator');
    await page.reload();
    await page.getByText('Live', { exact: true }).waitFor();
    assert.equal(await page.getByTestId('sos-alarms').count(), 0, 'a resolved alarm is not shown as open');
    await member.reload();
    await member.getByTestId('sos-alarm').getByText('Resolved by Olga Operator at', { exact: false }).waitFor({ timeout: 10_000 });
    await member.getByTestId('sos-alarm').getByText(/Lift engineer freed her/).waitFor();

    assert.deepEqual(errors, []);
    assert.deepEqual(memberErrors, []);
    responder.close();
    await operator.close();
    await phone.close();
  });
});
