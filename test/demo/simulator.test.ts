import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { demoFences, demoRoutes } from '../../src/demo/city.js';
import { DeviceModel, MODE_SPEED, Simulator, distanceMeters, distanceToPath, mulberry32 } from '../../src/demo/simulator.js';
import type { ClientFrame, ReceiptFrame, ServerFrame } from '../../src/demo/device-client.js';

function track(routeIndex: number, seed: number, steps: number, dtMs = 5000) {
  const model = new DeviceModel(demoRoutes[routeIndex]!, mulberry32(seed));
  const fixes = [];
  const truth = [];
  for (let i = 1; i <= steps; i++) {
    fixes.push(model.step(dtMs, 1_764_584_100_000 + i * dtMs));
    truth.push(model.truePosition());
  }
  return { model, fixes, truth };
}

void test('the same seed generates the same fixes and a different seed different ones', () => {
  for (let r = 0; r < demoRoutes.length; r++) {
    assert.deepEqual(track(r, 7, 50).fixes, track(r, 7, 50).fixes);
  }
  assert.notDeepEqual(track(0, 7, 50).fixes, track(0, 8, 50).fixes);
});

void test('every fix stays within 100 m of its route, and within 60 m of the true position', () => {
  for (let r = 0; r < demoRoutes.length; r++) {
    for (const seed of [1, 2, 3]) {
      const { fixes, truth } = track(r, seed, 400);
      fixes.forEach((fix, i) => {
        assert.ok(distanceToPath([fix.lon, fix.lat], demoRoutes[r]!.path) < 100, `route ${r} fix ${i} strays from the route`);
        assert.ok(distanceMeters([fix.lon, fix.lat], truth[i]!) < 60, `route ${r} fix ${i} is too far from the truth`);
        assert.ok(fix.accuracy >= 5 && fix.accuracy <= 25);
      });
    }
  }
});

void test('position error is consistent with the reported accuracy (about 68 % within it)', () => {
  let inside = 0;
  let total = 0;
  for (let r = 0; r < demoRoutes.length; r++) {
    for (let seed = 1; seed <= 10; seed++) {
      const { fixes, truth } = track(r, seed, 200, 60_000); // a minute apart: nearly independent errors
      fixes.forEach((fix, i) => {
        total++;
        if (distanceMeters([fix.lon, fix.lat], truth[i]!) <= fix.accuracy) inside++;
      });
    }
  }
  const share = inside / total;
  assert.ok(share > 0.55 && share < 0.8, `share within accuracy was ${share.toFixed(2)}`);
});

void test('devices move at plausible speeds for walking, cycling and driving', () => {
  for (let r = 0; r < demoRoutes.length; r++) {
    const { mode } = demoRoutes[r]!;
    const { fixes, truth } = track(r, 11, 200);
    for (let i = 1; i < truth.length; i++) {
      // The true displacement can only be shorter than speed × time (at a turning point it folds back).
      const speed = distanceMeters(truth[i - 1]!, truth[i]!) / 5;
      assert.ok(speed <= MODE_SPEED[mode] * 1.35, `${mode} moved at ${speed.toFixed(1)} m/s`);
    }
    const reported = fixes.map((f) => f.speed);
    const mean = reported.reduce((a, b) => a + b, 0) / reported.length;
    assert.ok(mean > MODE_SPEED[mode] * 0.7 && mean < MODE_SPEED[mode] * 1.3, `${mode} mean reported speed ${mean.toFixed(2)}`);
    const travelled = distanceMeters(truth[0]!, truth[truth.length - 1]!);
    assert.ok(travelled > 0, 'the device moves');
  }
});

void test('the battery drains slowly and charges when low', () => {
  const { fixes } = track(2, 5, 12 * 60, 5000); // one hour
  const first = fixes[0]!.battery;
  const last = fixes[fixes.length - 1]!.battery;
  assert.ok(fixes.every((f) => f.battery >= 0 && f.battery <= 100));
  assert.ok(fixes.some((f) => f.charging) || (first - last >= 1 && first - last <= 6), `drained ${first - last} % in an hour`);
});

void test('every demo fence lies on at least one route', () => {
  for (const fence of demoFences) {
    const onRoute = demoRoutes.some((route) => {
      if (fence.geometry.type === 'Point') return distanceToPath(fence.geometry.coordinates, route.path) <= fence.radius!;
      const ring = fence.geometry.coordinates[0]!;
      return route.path.some((p) => pointInRing(p, ring));
    });
    assert.ok(onRoute, `${fence.name} is not on any route`);
  }
});

function pointInRing(p: [number, number], ring: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i]!;
    const [xj, yj] = ring[j]!;
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** A device server that welcomes every token, acks everything and records frames per token. */
async function recordingServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const byToken = new Map<string, ClientFrame[]>();
  const sockets = new Map<string, WebSocket>();
  wss.on('connection', (ws) => {
    let token = '';
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as ClientFrame;
      const reply = (f: ServerFrame) => ws.send(JSON.stringify(f));
      if (frame.type === 'hello') {
        token = frame.token;
        sockets.set(token, ws);
        byToken.set(token, byToken.get(token) ?? []);
        return reply({ type: 'welcome', deviceId: `dev_${token}`, tenantId: 'ten_1', serverTime: Date.now(), pending: 0, protocol: 1 });
      }
      byToken.get(token)!.push(frame);
      if (frame.type === 'positions') reply({ type: 'ack', id: frame.id, results: frame.fixes.map(() => ({ status: 'accepted' as const })) });
      else if (frame.type !== 'ping') reply({ type: 'ack', id: frame.id, status: 'accepted' });
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/device/v1`,
    byToken,
    sockets,
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
}

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

void test('a simulator reports fixes for every device over the protocol, and the same seed gives the same track', async (t) => {
  const server = await recordingServer();
  t.after(() => server.close());
  const positions = async (prefix: string) => {
    const tokens = [0, 1, 2].map((i) => `${prefix}${i}`);
    const sim = new Simulator({ url: server.url, tokens, seed: 99, intervalMs: 20 });
    sim.start();
    // Fixes taken before the welcome arrive in one `positions` batch, later ones as `position`.
    const fixes = (tk: string) => (server.byToken.get(tk) ?? []).flatMap((f) => (f.type === 'position' ? [f.fix] : f.type === 'positions' ? f.fixes : []));
    await until(() => tokens.every((tk) => fixes(tk).length >= 5));
    await sim.stop();
    return tokens.map((tk) =>
      fixes(tk)
        .slice(0, 5)
        .map((f) => [f.lon, f.lat]),
    );
  };
  const first = await positions('a');
  const second = await positions('b');
  assert.deepEqual(first, second);
  assert.notDeepEqual(first[0], first[1], 'devices are on different routes');
});

void test('a simulated device receipts a message delivered, read, then acknowledged with the first option', async (t) => {
  const server = await recordingServer();
  const sim = new Simulator({ url: server.url, tokens: ['tk'], seed: 1, intervalMs: 60_000, reactionMs: { min: 5, max: 20 } });
  t.after(async () => {
    await sim.stop();
    await server.close();
  });
  sim.start();
  await until(() => server.sockets.has('tk'));
  server.sockets.get('tk')!.send(
    JSON.stringify({
      type: 'message',
      deliveryId: 'dlv_1',
      messageId: 'msg_1',
      priority: 'critical',
      title: 'Are you safe?',
      body: 'Answer please.',
      sentAt: Date.now(),
      ackRequired: true,
      options: ['I am safe', 'I need help'],
    }),
  );
  const receipts = () => (server.byToken.get('tk') ?? []).filter((f): f is ReceiptFrame => f.type === 'receipt');
  await until(() => receipts().length === 3);
  assert.deepEqual(
    receipts().map((r) => [r.status, r.response]),
    [
      ['delivered', undefined],
      ['read', undefined],
      ['acknowledged', 'I am safe'],
    ],
  );
});
