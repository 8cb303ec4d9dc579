/**
 * OwnTracks MQTT mode with a real `mqtt` client publishing as the app does: against the embedded
 * broker, and against the running Mosquitto through the external-broker mode.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, seedTenant, serviceReachable, startTestPlatform, type TestPlatform } from '../helpers.js';
import { owntracksMessages } from './decoders.contract.js';

/** A client that collects what arrives per topic. */
function inbox(client: MqttClient): { next(topic: string, timeoutMs?: number): Promise<any> } {
  const got = new Map<string, any[]>();
  client.on('message', (topic, payload) => {
    const list = got.get(topic) ?? [];
    list.push(JSON.parse(payload.toString()));
    got.set(topic, list);
  });
  return { next: (topic, timeoutMs = 5000) => eventually(() => got.get(topic)?.shift(), timeoutMs, `a message on ${topic}`) };
}

const location = (tst: number, extra: object = {}) => JSON.stringify({ ...owntracksMessages()[0], tst, created_at: tst, ...extra });

describe('OwnTracks MQTT mode, embedded broker', () => {
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  let url: string;
  const history = async (i = 0) => (await p.api('GET', `/tenants/${t.tenant.id}/devices/${t.devices[i]!.device.id}/positions`)).body as any[];
  const clients: MqttClient[] = [];
  const connect = async (username: string, password: string) => {
    const client = await mqtt.connectAsync(url, { username, password, clientId: `test-${randomBytes(4).toString('hex')}`, reconnectPeriod: 0, protocolVersion: 4 });
    clients.push(client);
    return client;
  };

  before(async () => {
    p = await startTestPlatform();
    t = await seedTenant(p);
    url = `mqtt://127.0.0.1:${p.edge.mqttPort}`;
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await p.stop();
  });

  it('stores a location before the broker acknowledges it, and ignores lwt, transition and waypoint', async () => {
    const app = await connect('jane', t.devices[0]!.token);
    const tst = Math.floor(Date.now() / 1000) - 20;
    await app.publishAsync('owntracks/jane/phone', location(tst), { qos: 1, retain: true });
    const [pos] = await history(); // no waiting: PUBACK comes after the commit
    assert.deepEqual([pos.time, pos.lat, pos.battery], [tst * 1000, 48.856826, 53]);
    const [, transition, waypoint, lwt] = owntracksMessages();
    await app.publishAsync('owntracks/jane/phone/event', JSON.stringify(transition), { qos: 1 });
    await app.publishAsync('owntracks/jane/phone/waypoint', JSON.stringify(waypoint), { qos: 1 });
    await app.publishAsync('owntracks/jane/phone', JSON.stringify(lwt), { qos: 1 });
    assert.equal((await history()).length, 1);
  });

  it('sends a message from the API down the device\'s /cmd topic and counts it delivered', async () => {
    const app = await connect('jane', t.devices[0]!.token);
    const box = inbox(app);
    await app.subscribeAsync('owntracks/jane/phone/cmd', { qos: 1 });
    const sent = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'Evacuate hall B', body: 'Use exit 3' }, t.operatorToken);
    assert.equal(sent.status, 201);
    const cmd = await box.next('owntracks/jane/phone/cmd');
    assert.equal(cmd._type, 'cmd');
    assert.equal(cmd.action, 'action');
    assert.equal(cmd.content, 'Evacuate hall B\n\nUse exit 3');
    const deliveries = async () => (await p.api('GET', `/tenants/${t.tenant.id}/messages/${sent.body.id}/deliveries`, undefined, t.operatorToken)).body;
    await eventually(async () => (await deliveries())[0].state === 'delivered', 5000, 'delivered');
  });

  it('sends messages that waited while the device was away once it is back', async () => {
    const sent = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { deviceIds: [t.devices[1]!.device.id] }, title: 'While you were away' }, t.operatorToken);
    assert.equal(sent.status, 201);
    const app = await connect('olaf', t.devices[1]!.token);
    const box = inbox(app);
    await app.subscribeAsync('owntracks/olaf/tablet/cmd', { qos: 1 });
    assert.equal((await box.next('owntracks/olaf/tablet/cmd')).content, 'While you were away');
  });

  it('refuses a login with a wrong token, and a publish below another user\'s topic', async () => {
    await assert.rejects(connect('jane', 'fmd_wrong'), /Bad username or password|Not authorized|refused/i);
    const app = await connect('jane', t.devices[0]!.token);
    const closed = new Promise<void>((resolve) => app.once('close', () => resolve()));
    app.publish('owntracks/someone-else/phone', location(Math.floor(Date.now() / 1000)), { qos: 1 });
    await closed;
  });

  it('never relays one app\'s messages to another app', async () => {
    const spy = await connect('olaf', t.devices[1]!.token);
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    await spy.subscribeAsync(['owntracks/+/+', 'owntracks/#'], { qos: 1 });
    const app = await connect('jane', t.devices[0]!.token);
    await app.publishAsync('owntracks/jane/phone', location(Math.floor(Date.now() / 1000) - 5), { qos: 1, retain: true });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seen, []);
  });

  it('acknowledges random payloads without storing them and keeps the connection usable', async () => {
    const app = await connect('jane', t.devices[0]!.token);
    const before = (await history()).length;
    for (let i = 0; i < 40; i++) await app.publishAsync(`owntracks/jane/phone${i % 3 === 0 ? '' : '/event'}`, randomBytes(1 + ((i * 61) % 1500)), { qos: 1 });
    assert.equal((await history()).length, before);
    await app.publishAsync('owntracks/jane/phone', location(Math.floor(Date.now() / 1000) - 1), { qos: 1 });
    assert.equal((await history()).length, before + 1);
  });
});

describe('OwnTracks MQTT mode, external broker (Mosquitto)', async () => {
  const up = await serviceReachable('Mosquitto', 1883);
  let p: TestPlatform;
  let t: Awaited<ReturnType<typeof seedTenant>>;
  // A user name of its own, so that runs never see each other's retained messages.
  const user = `ci-${randomBytes(4).toString('hex')}`;
  const clients: MqttClient[] = [];
  const history = async () => (await p.api('GET', `/tenants/${t.tenant.id}/devices/${t.devices[0]!.device.id}/positions`)).body as any[];

  before(async () => {
    if (!up) return;
    p = await startTestPlatform({ FOLLOWME_MQTT_PORT: 'off', FOLLOWME_MQTT_URL: 'mqtt://127.0.0.1:1883' });
    t = await seedTenant(p);
    const patched = await p.api('PATCH', `/tenants/${t.tenant.id}/devices/${t.devices[0]!.device.id}`, { uniqueId: `${user}/phone` });
    assert.equal(patched.status, 200);
  });
  after(async () => {
    for (const c of clients) await c.endAsync(true);
    await p?.stop();
  });

  it('stores what the app publishes to Mosquitto, found by the topic\'s USER/DEVICE', { skip: !up }, async () => {
    const app = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${user}-app`, reconnectPeriod: 0 });
    clients.push(app);
    const tst = Math.floor(Date.now() / 1000) - 15;
    await app.publishAsync(`owntracks/${user}/phone`, location(tst), { qos: 1 });
    const [pos] = await eventually(async () => {
      const h = await history();
      return h.length > 0 ? h : undefined;
    }, 5000, 'the position');
    assert.equal(pos.time, tst * 1000);
    // An unknown topic and random bytes change nothing and break nothing.
    await app.publishAsync(`owntracks/${user}-unknown/phone`, location(tst + 1), { qos: 1 });
    await app.publishAsync(`owntracks/${user}/phone`, randomBytes(300), { qos: 1 });
    await app.publishAsync(`owntracks/${user}/phone`, location(tst + 2), { qos: 1 });
    await eventually(async () => (await history()).length === 2, 5000, 'the second position');
  });

  it('publishes a message from the API to the device\'s /cmd topic on Mosquitto', { skip: !up }, async () => {
    const app = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { clientId: `${user}-cmd`, reconnectPeriod: 0 });
    clients.push(app);
    const box = inbox(app);
    await app.subscribeAsync(`owntracks/${user}/phone/cmd`, { qos: 1 });
    const sent = await p.api('POST', `/tenants/${t.tenant.id}/messages`, { target: { deviceIds: [t.devices[0]!.device.id] }, title: 'Shift ends at 18:00' }, t.operatorToken);
    assert.equal(sent.status, 201);
    const cmd = await box.next(`owntracks/${user}/phone/cmd`);
    assert.deepEqual([cmd._type, cmd.action, cmd.content], ['cmd', 'action', 'Shift ends at 18:00']);
  });
});
