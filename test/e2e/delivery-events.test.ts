/**
 * Delivery updates travel in batches: a send to many devices is a few `notification.delivery` bus
 * messages per state (one per message and up to 500 deliveries), and a few `deliveries` events on
 * the Control Center's live stream, each delivery's update in exactly one of them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryUpdated, UPDATE_BATCH, type DeliveryUpdates } from '../../src/services/notification/index.js';
import type { Subscription } from '../../src/ports/bus.js';
import { eventually, seedTenant, serviceReachable, startTestPlatform, TestDevice, type TestPlatform } from '../helpers.js';
import { deleteUnderPrefix, NATS_URL, uniquePrefix } from '../support/nats.js';

const N = 1100; // three batches: 500, 500, 100
const CONNECTED = 20;

interface SseEvent { event: string; data: any }

/** The operator's live stream, its events parsed as they arrive (split on the blank line, not on reads). */
async function liveStream(url: string): Promise<{ events: SseEvent[]; close(): void }> {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  assert.equal(response.headers.get('content-type'), 'text/event-stream');
  const events: SseEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const lines = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })().catch(() => undefined);
  return { events, close: () => abort.abort() };
}

const prefix = uniquePrefix('dlvbatch');
const natsUp = await serviceReachable('NATS', 4222);

for (const bus of ['memory', 'nats'] as const) describe(`delivery updates in batches (${bus} bus)`, { skip: bus === 'nats' && !natsUp && 'NATS is not reachable on 127.0.0.1:4222' }, () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let devices: { device: { id: string }; token: string }[];
  const published: DeliveryUpdates[] = [];
  let subscription: Subscription;
  before(async () => {
    p = await startTestPlatform(bus === 'nats' ? { FOLLOWME_BUS: 'nats', FOLLOWME_NATS_URL: NATS_URL, FOLLOWME_NATS_PREFIX: prefix } : {});
    t = await seedTenant(p);
    await p.api('PATCH', `/tenants/${t.tenant.id}/plan`, { quotas: { devices: 0 } }); // the default plan allows fewer devices
    const bulk = await p.api('POST', `/tenants/${t.tenant.id}/devices/bulk`, Array.from({ length: N }, (_, i) => ({ name: `tag-${i}` })));
    assert.equal(bulk.status, 201, JSON.stringify(bulk.body).slice(0, 300));
    devices = bulk.body;
    subscription = await p.bus.subscribe(deliveryUpdated, ({ data }) => void published.push(data));
  });
  after(async () => {
    await subscription.close();
    await p.stop();
    if (bus === 'nats') await deleteUnderPrefix(prefix);
  });

  it('publishes a send to 1,100 devices as a few batches per state, each delivery once, and streams them as `deliveries` events', async () => {
    const live = await liveStream(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`);
    const connected = await Promise.all(devices.slice(0, CONNECTED).map((d) => TestDevice.connect(p.url, d.token)));
    try {
      const sent = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { deviceIds: devices.map((d) => d.device.id) }, title: 'Evacuate hall B', ttlSeconds: 60 }, t.operatorToken);
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      assert.equal(sent.body.recipients, N);
      const messageId = sent.body.id as string;
      const mine = () => published.filter((b) => b.messageId === messageId);
      const updates = (state: string) => mine().flatMap((b) => b.updates).filter((u) => u.state === state);
      const batchesOf = (state: string) => mine().filter((b) => b.updates.some((u) => u.state === state));

      // queued: every delivery once, in ceil(N / 500) bus messages
      await eventually(() => updates('queued').length >= N, 10_000, 'every queued update');
      assert.equal(new Set(updates('queued').map((u) => u.deliveryId)).size, N, 'each delivery queued once');
      assert.equal(updates('queued').length, N);
      assert.deepEqual(batchesOf('queued').map((b) => b.updates.length), [UPDATE_BATCH, UPDATE_BATCH, N - 2 * UPDATE_BATCH]);
      assert.ok(mine().every((b) => b.tenantId === t.tenant.id && b.updates.every((u) => u.channel === 'app' && typeof u.deviceId === 'string' && typeof u.at === 'number')));
      assert.deepEqual(new Set(updates('queued').map((u) => u.deviceId)), new Set(devices.map((d) => d.device.id)));

      // sent: the connected devices got the frame; their `sent` updates came in fewer bus messages than devices
      await Promise.all(connected.map(({ device }) => device.next((f) => f.type === 'message' && f.messageId === messageId, 10_000)));
      await eventually(() => updates('sent').length >= CONNECTED, 10_000, 'every sent update');
      assert.equal(new Set(updates('sent').map((u) => u.deliveryId)).size, CONNECTED, 'each connected device sent once');
      assert.deepEqual(new Set(updates('sent').map((u) => u.deviceId)), new Set(devices.slice(0, CONNECTED).map((d) => d.device.id)));
      assert.ok(batchesOf('sent').length < CONNECTED, `${batchesOf('sent').length} bus messages for ${CONNECTED} sent deliveries`);

      // expired: the sweep after the message ran out moves every delivery, again in batches
      assert.equal(await p.local.notification!.expire(Date.now() + 61_000), N);
      await eventually(() => updates('expired').length >= N, 10_000, 'every expired update');
      assert.equal(new Set(updates('expired').map((u) => u.deliveryId)).size, N, 'each delivery expired once');
      assert.equal(updates('expired').length, N);
      assert.equal(batchesOf('expired').length, Math.ceil(N / UPDATE_BATCH));

      // the live stream: the same batches as `deliveries` events, no per-delivery `delivery` events
      await eventually(() => live.events.filter((e) => e.event === 'deliveries' && e.data.messageId === messageId).flatMap((e) => e.data.updates).length >= N * 2 + CONNECTED, 10_000, 'every update on the live stream');
      const streamed = live.events.filter((e) => e.event === 'deliveries' && e.data.messageId === messageId);
      assert.equal(streamed.length, mine().length, 'one event per bus batch');
      assert.ok(streamed.length < N, `${streamed.length} events for ${N * 2 + CONNECTED} updates`);
      const seen = streamed.flatMap((e) => (e.data.updates as { deliveryId: string; state: string }[]).map((u) => `${u.deliveryId} ${u.state}`));
      assert.equal(new Set(seen).size, seen.length, 'each update once');
      assert.equal(seen.length, N * 2 + CONNECTED);
      assert.equal(live.events.filter((e) => e.event === 'delivery').length, 0);
    } finally {
      live.close();
      for (const { device } of connected) device.close();
    }
  });

  it('shows a receipt as a batch of one on the live stream', async () => {
    const live = await liveStream(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`);
    const { device } = await TestDevice.connect(p.url, devices[0]!.token);
    try {
      const sent = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { deviceIds: [devices[0]!.device.id] }, title: 'Are you safe?', options: ['Yes', 'No'] }, t.operatorToken);
      const frame = await device.next((f) => f.type === 'message' && f.messageId === sent.body.id);
      assert.equal((await device.request({ type: 'receipt', id: 'r1', deliveryId: frame.deliveryId, status: 'acknowledged', response: 'Yes' })).status, 'accepted');
      const ack = await eventually(() => live.events.find((e) => e.event === 'deliveries' && e.data.messageId === sent.body.id && e.data.updates.some((u: { state: string }) => u.state === 'acknowledged')), 5000, 'acknowledged on the live stream');
      assert.equal(ack.data.tenantId, t.tenant.id);
      assert.equal(ack.data.updates.length, 1);
      assert.deepEqual({ ...ack.data.updates[0], at: 0 }, { deliveryId: frame.deliveryId, channel: 'app', deviceId: devices[0]!.device.id, state: 'acknowledged', response: 'Yes', at: 0 });
    } finally {
      live.close();
      device.close();
    }
  });

  it('streams a flat update from a notification process not yet upgraded as a batch of one', async () => {
    const live = await liveStream(`${p.url}/api/v1/tenants/${t.tenant.id}/live?access_token=${t.operatorToken}`);
    try {
      await eventually(() => live.events.some((e) => e.event === 'hello'), 5000, 'hello');
      const legacy = { tenantId: t.tenant.id, messageId: 'msg_legacy', deliveryId: 'dlv_legacy', channel: 'app', deviceId: devices[1]!.device.id, state: 'delivered', at: 1 };
      await p.bus.publish(deliveryUpdated, 'msg_legacy', legacy as unknown as DeliveryUpdates);
      const event = await eventually(() => live.events.find((e) => e.event === 'deliveries' && e.data.messageId === 'msg_legacy'), 5000, 'the legacy update');
      assert.deepEqual(event.data, { tenantId: t.tenant.id, messageId: 'msg_legacy', updates: [{ deliveryId: 'dlv_legacy', channel: 'app', deviceId: devices[1]!.device.id, state: 'delivered', at: 1 }] });
    } finally {
      live.close();
    }
  });
});
