/**
 * Composing a message to an area drawn on the map, in Debian's chromium: the drawn polygon goes to
 * the server as the target's area (with a freshness limit), the preview says how many and who, a
 * channel this deployment has not set up is refused with the reason shown, and a live window makes
 * the message reach a device that walks into the area after it was sent.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, fix, sleep, TestDevice } from '../helpers.js';
import { browserWorldForSuite, chromiumAvailable, loginControlCenter, watchErrors } from './browser.js';

const available = chromiumAvailable();
const AT: [number, number] = [13.4, 52.52];

describe('composing a message to a drawn area', { skip: !available }, () => {
  const w = browserWorldForSuite();
  const t = (path: string) => `/tenants/${w.world.tenant.id}${path}`;

  it('sends to whoever is inside the area now and, while the window is open, to whoever walks in', async () => {
    const mia = (await w.p.api('POST', t('/users'), { email: 'mia@acme.test', name: 'Mia Member', role: 'member', password: 'correct horse' })).body;
    const miaPhone = (await w.p.api('POST', t('/devices'), { name: 'mia-phone', userId: mia.id })).body;
    const { device: miaSocket } = await TestDevice.connect(w.p.url, miaPhone.token);
    await miaSocket.request({ type: 'position', id: 'm1', fix: fix(AT[0], AT[1], Date.now() - 1000, { accuracy: 5 }) });
    await eventually(async () => (await w.p.api('GET', t('/positions'))).body.some((x: any) => x.deviceId === miaPhone.device.id), 10_000, 'Mia\'s position');

    const context = await w.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = watchErrors(page);
    await loginControlCenter(page, w.p.url, w.world.tenant.slug, w.world.operator.email, 'correct horse');
    const canvas = page.locator('.maplibregl-canvas');
    await canvas.waitFor();
    await page.getByRole('tab', { name: /Send/ }).click();
    const draw = page.getByRole('button', { name: 'Draw an area on the map' });
    await eventually(async () => draw.isEnabled(), 15_000, 'the drawing tools');
    // The map shows the one device with a position in its centre: draw a square around it.
    await page.waitForTimeout(500);
    await draw.click();
    const box = (await canvas.boundingBox())!;
    const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
    const corners: [number, number][] = [[cx - 120, cy - 120], [cx + 120, cy - 120], [cx + 120, cy + 120], [cx - 120, cy + 120]];
    for (const [x, y] of corners) {
      await page.mouse.move(x, y, { steps: 4 });
      await page.mouse.click(x, y);
    }
    await page.mouse.move(corners[0]![0], corners[0]![1], { steps: 4 });
    await page.mouse.click(corners[0]![0], corners[0]![1]);

    await page.getByTestId('reach').getByText('Reaches 1 device now.').waitFor({ timeout: 10_000 });
    assert.match((await page.getByTestId('reach-people').textContent())!, /1 person: Mia Member/);
    await page.getByLabel('Only positions fresher than (minutes; empty: any)').fill('30');
    await page.getByLabel('Also reach whoever enters in the next (minutes; one fence or the area)').fill('30');
    await page.getByLabel('Title', { exact: true }).fill('Road closed north of the depot');

    // A channel this deployment has not set up: refused, and the reason is shown.
    await page.getByRole('checkbox', { name: 'SMS' }).check();
    await page.getByRole('button', { name: 'Send to 1 device' }).click();
    await page.getByRole('alert').getByText(/sms/i).waitFor();
    assert.equal((await w.p.api('GET', t('/messages'))).body.length, 0, 'nothing stored for a refused message');

    await page.getByRole('checkbox', { name: 'SMS' }).uncheck();
    await page.getByRole('button', { name: 'Send to 1 device' }).click();
    await page.waitForURL(/#\/messages\/msg_/);
    const [message] = (await w.p.api('GET', t('/messages'))).body;
    assert.equal(message.target.area.geometry.type, 'Polygon');
    assert.equal(message.target.maxAgeMinutes, 30);
    assert.deepEqual(message.channels, ['app']);
    assert.ok(message.liveUntil > Date.now() + 29 * 60_000, `live until ${message.liveUntil}`);
    const ring = message.target.area.geometry.coordinates[0] as [number, number][];
    const lons = ring.map((c) => c[0]), lats = ring.map((c) => c[1]);
    assert.ok(Math.min(...lons) < AT[0] && AT[0] < Math.max(...lons) && Math.min(...lats) < AT[1] && AT[1] < Math.max(...lats), `the drawn area ${JSON.stringify(ring)} holds Mia`);
    assert.equal((await miaSocket.next((f) => f.type === 'message', 10_000)).title, 'Road closed north of the depot');

    // phone-2, outside and then walking in while the window is open, gets the message too, once.
    const { device: phone2 } = await TestDevice.connect(w.p.url, w.world.devices[1]!.token);
    // fixes taken after the message was sent (an entry before it does not count), in order
    const walk = async (id: string, at: [number, number]) => {
      await sleep(20);
      await phone2.request({ type: 'position', id, fix: fix(at[0], at[1], Math.max(Date.now(), message.createdAt + 1), { accuracy: 5 }) });
    };
    await walk('p1', [AT[0] + 0.05, AT[1] + 0.05]);
    await walk('p2', AT);
    const frame = await phone2.next((f) => f.type === 'message', 15_000);
    assert.equal(frame.title, 'Road closed north of the depot');
    await walk('p3', [AT[0] + 0.05, AT[1] + 0.05]);
    await walk('p4', AT);
    const deliveries = await eventually(async () => {
      const list = (await w.p.api('GET', t(`/messages/${message.id}/deliveries`))).body as { deviceId: string }[];
      return list.length === 2 ? list : undefined;
    }, 10_000, 'two deliveries');
    assert.deepEqual(deliveries.map((d) => d.deviceId).sort(), [miaPhone.device.id, w.world.devices[1]!.device.id].sort(), 'each device once');
    assert.deepEqual(errors.filter((e) => !/400|Bad Request/.test(e)), []);
    miaSocket.ws.close();
    phone2.ws.close();
    await context.close();
  });
});
