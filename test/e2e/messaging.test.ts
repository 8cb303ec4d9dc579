/** Messages end to end: operator → notification → edge → device → receipts → API, over real sockets. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, seedTenant, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';

describe('messages and deliveries', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let as: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;
  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
    as = (method, path, body) => p.api(method, `/tenants/${t.tenant.id}${path}`, body, t.operatorToken);
  });
  after(() => p.stop());

  it('delivers a message to a connected device and follows it to acknowledged with the response', async () => {
    const { device } = await TestDevice.connect(p.url, t.devices[0]!.token);
    const sent = await as('POST', '/messages', { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'Are you safe?', priority: 'high', options: ['Yes', 'No'] });
    assert.equal(sent.status, 201);
    assert.equal(sent.body.recipients, 1);
    assert.equal(sent.body.ackRequired, true);
    const frame = await device.next((f) => f.type === 'message');
    assert.equal(frame.messageId, sent.body.id);
    assert.equal(frame.title, 'Are you safe?');
    assert.deepEqual(frame.options, ['Yes', 'No']);
    const deliveries = async () => (await as('GET', `/messages/${sent.body.id}/deliveries`)).body;
    await eventually(async () => (await deliveries())[0].state === 'sent', 5000, 'sent');
    assert.equal((await device.request({ type: 'receipt', id: 'r1', deliveryId: frame.deliveryId, status: 'delivered' })).status, 'accepted');
    const refused = await device.request({ type: 'receipt', id: 'r2', deliveryId: frame.deliveryId, status: 'acknowledged', response: 'Maybe' });
    assert.equal(refused.type, 'error');
    assert.equal(refused.field, 'response');
    assert.equal((await device.request({ type: 'receipt', id: 'r3', deliveryId: frame.deliveryId, status: 'acknowledged', response: 'Yes' })).status, 'accepted');
    // a late "read" does not move it backwards
    await device.request({ type: 'receipt', id: 'r4', deliveryId: frame.deliveryId, status: 'read' });
    const [d] = await deliveries();
    assert.equal(d.state, 'acknowledged');
    assert.equal(d.response, 'Yes');
    assert.ok(d.deliveredAt && d.readAt && d.acknowledgedAt && d.sentAt);
    const message = (await as('GET', `/messages/${sent.body.id}`)).body;
    assert.equal(message.counts.acknowledged, 1);
    device.close();
  });

  it('keeps a message for an offline device and hands it over when it connects', async () => {
    const sent = await as('POST', '/messages', { target: { deviceIds: [t.devices[1]!.device.id] }, title: 'While you were away' });
    assert.equal((await as('GET', `/messages/${sent.body.id}/deliveries`)).body[0].state, 'queued');
    const { device, welcome } = await TestDevice.connect(p.url, t.devices[1]!.token);
    assert.equal(welcome.pending, 1);
    const frame = await device.next((f) => f.type === 'message');
    assert.equal(frame.title, 'While you were away');
    device.close();
    await device.waitClose();
    // not receipted: it comes again after a reconnect (resume without loss) ...
    const again = await TestDevice.connect(p.url, t.devices[1]!.token);
    assert.equal((await again.device.next((f) => f.type === 'message')).deliveryId, frame.deliveryId);
    await again.device.request({ type: 'receipt', id: 'd1', deliveryId: frame.deliveryId, status: 'delivered' });
    again.device.close();
    await again.device.waitClose();
    // ... and once receipted, never again (no duplicates)
    const third = await TestDevice.connect(p.url, t.devices[1]!.token);
    assert.equal(third.welcome.pending, 0);
    third.device.close();
  });

  it('reaches a group through its members, users through the devices they carry', async () => {
    const user = (await p.api('POST', `/tenants/${t.tenant.id}/users`, { email: 'carrier@x.test', name: 'Carrier', role: 'member' })).body;
    const carried = (await p.api('POST', `/tenants/${t.tenant.id}/devices`, { name: 'carried', userId: user.id })).body;
    const parent = (await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'Parent', deviceIds: [t.devices[0]!.device.id] })).body;
    await p.api('POST', `/tenants/${t.tenant.id}/groups`, { name: 'Child', parentId: parent.id, userIds: [user.id] });
    const preview = await as('POST', '/messages/preview', { target: { groupIds: [parent.id] } });
    assert.deepEqual(preview.body.deviceIds, [t.devices[0]!.device.id, carried.device.id].sort());
    const sent = await as('POST', '/messages', { target: { groupIds: [parent.id], deviceIds: [t.devices[0]!.device.id] }, title: 'team' });
    assert.equal(sent.body.recipients, 2, 'a device named twice gets one delivery');
  });

  it('lets an operator record a response on behalf of a recipient', async () => {
    const sent = await as('POST', '/messages', { target: { deviceIds: [t.devices[1]!.device.id] }, title: 'Roll call', options: ['Here', 'Away'] });
    const [d] = (await as('GET', `/messages/${sent.body.id}/deliveries`)).body;
    const res = await as('POST', `/deliveries/${d.id}/response`, { response: 'Here' });
    assert.equal(res.status, 200);
    assert.equal(res.body.state, 'acknowledged');
    assert.equal(res.body.response, 'Here');
  });
});
