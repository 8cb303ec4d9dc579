import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { DeviceClient, DeviceClientError, type ClientFrame, type MessageFrame, type ServerFrame } from '../../src/demo/device-client.js';

/**
 * A small scripted device server on a real loopback socket. Each connection's frames are
 * recorded; `onFrame` decides the answer (the default welcomes `good-token` and acks everything).
 */
class FakeServer {
  readonly wss: WebSocketServer;
  readonly connections: Array<{ ws: WebSocket; frames: ClientFrame[] }> = [];
  onFrame: (frame: ClientFrame, ws: WebSocket, connection: number) => void = (frame, ws) => defaultAnswer(frame, ws);
  private waiters: Array<() => void> = [];

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (ws) => {
      const index = this.connections.length;
      const record = { ws, frames: [] as ClientFrame[] };
      this.connections.push(record);
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as ClientFrame;
        record.frames.push(frame);
        this.onFrame(frame, ws, index);
        for (const w of this.waiters.splice(0)) w();
      });
    });
  }

  static async start(): Promise<FakeServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    return new FakeServer(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/device/v1`;
  }

  /** Every frame received so far, across connections. */
  frames(): ClientFrame[] {
    return this.connections.flatMap((c) => c.frames);
  }

  /** Resolves once `predicate` holds for the frames received (checked after each frame). */
  async until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the client');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): Promise<void> {
    for (const { ws } of this.connections) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

function send(ws: WebSocket, frame: ServerFrame): void {
  ws.send(JSON.stringify(frame));
}

function welcome(ws: WebSocket): void {
  send(ws, { type: 'welcome', deviceId: 'dev_1', tenantId: 'ten_1', serverTime: Date.now(), pending: 0, protocol: 1 });
}

function defaultAnswer(frame: ClientFrame, ws: WebSocket): void {
  switch (frame.type) {
    case 'hello':
      if (frame.token === 'good-token') welcome(ws);
      else {
        send(ws, { type: 'error', code: 'unauthenticated', detail: 'unknown device token' });
        ws.close(4401, 'unauthenticated');
      }
      return;
    case 'position':
      return send(ws, { type: 'ack', id: frame.id, status: 'accepted' });
    case 'positions':
      return send(ws, { type: 'ack', id: frame.id, results: frame.fixes.map(() => ({ status: 'accepted' as const })) });
    case 'receipt':
      return send(ws, { type: 'ack', id: frame.id, status: 'accepted' });
    default:
      return;
  }
}

const fix = (i: number) => ({ time: 1_764_584_100_000 + i * 1000, lon: 13.3777 + i * 1e-5, lat: 52.5163 });
const fastBackoff = { initialMs: 10, maxMs: 50 };

void test('connect sends hello with the token and resolves with the welcome', async (t) => {
  const server = await FakeServer.start();
  const client = new DeviceClient({ url: server.url, token: 'good-token', client: 'test/1' });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const w = await client.connect();
  assert.equal(w.deviceId, 'dev_1');
  assert.deepEqual(server.frames()[0], { type: 'hello', token: 'good-token', client: 'test/1' });
  assert.equal(client.connected, true);
});

void test('a sent fix resolves with the verdict of the ack that names its frame id', async (t) => {
  const server = await FakeServer.start();
  server.onFrame = (frame, ws) => {
    if (frame.type === 'position' && frame.fix.lat > 90) {
      return send(ws, { type: 'ack', id: frame.id, status: 'rejected', code: 'validation_failed', field: 'fix.lat', reason: 'out of range' });
    }
    defaultAnswer(frame, ws);
  };
  const client = new DeviceClient({ url: server.url, token: 'good-token' });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  await client.connect();
  const [good, bad] = await Promise.all([client.send(fix(1)), client.send({ ...fix(2), lat: 95 })]);
  assert.deepEqual(good, { status: 'accepted' });
  assert.deepEqual(bad, { status: 'rejected', code: 'validation_failed', field: 'fix.lat', reason: 'out of range' });
  const ids = server.frames().filter((f) => f.type === 'position').map((f) => (f as { id: string }).id);
  assert.equal(new Set(ids).size, 2, 'every frame gets its own id');
  assert.equal(client.unacknowledged, 0);
});

void test('a batch resolves with one verdict per fix in order', async (t) => {
  const server = await FakeServer.start();
  server.onFrame = (frame, ws) => {
    if (frame.type === 'positions') {
      return send(ws, { type: 'ack', id: frame.id, results: frame.fixes.map((_, i) => ({ status: i === 1 ? ('duplicate' as const) : ('accepted' as const) })) });
    }
    defaultAnswer(frame, ws);
  };
  const client = new DeviceClient({ url: server.url, token: 'good-token' });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  await client.connect();
  const results = await client.sendBatch([fix(1), fix(2), fix(3)]);
  assert.deepEqual(results.map((r) => r.status), ['accepted', 'duplicate', 'accepted']);
});

void test('fixes left unacknowledged when the server drops the connection are resent as one batch after reconnect, oldest first', async (t) => {
  const server = await FakeServer.start();
  server.onFrame = (frame, ws, connection) => {
    if (connection === 0 && (frame.type === 'position' || frame.type === 'positions')) return; // swallow: never acked
    defaultAnswer(frame, ws);
  };
  const client = new DeviceClient({ url: server.url, token: 'good-token', backoff: fastBackoff });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  await client.connect();
  const pending = [client.send(fix(1)), client.send(fix(2)), client.send(fix(3))];
  await server.until(() => server.connections[0]!.frames.length === 4);
  assert.equal(client.unacknowledged, 3);
  server.connections[0]!.ws.terminate();

  const results = await Promise.all(pending);
  assert.deepEqual(results.map((r) => r.status), ['accepted', 'accepted', 'accepted']);
  const second = server.connections[1]!.frames;
  assert.equal(second[0]!.type, 'hello');
  const batches = second.filter((f) => f.type === 'positions');
  assert.equal(batches.length, 1, 'one positions batch after reconnect');
  assert.deepEqual(batches[0]!.type === 'positions' && batches[0]!.fixes, [fix(1), fix(2), fix(3)]);
  assert.equal(client.unacknowledged, 0);
});

void test('fixes sent while disconnected wait in the outbox and go out after the welcome', async (t) => {
  const server = await FakeServer.start();
  const client = new DeviceClient({ url: server.url, token: 'good-token', backoff: fastBackoff });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const sent = client.send(fix(7)); // before connect
  await client.connect();
  assert.deepEqual(await sent, { status: 'accepted' });
  const batch = server.frames().find((f) => f.type === 'positions');
  assert.ok(batch && batch.type === 'positions' && batch.fixes.length === 1);
});

void test('a message delivered twice is surfaced once and receipted delivered each time', async (t) => {
  const server = await FakeServer.start();
  const client = new DeviceClient({ url: server.url, token: 'good-token', backoff: fastBackoff });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const surfaced: MessageFrame[] = [];
  client.onMessage((m) => surfaced.push(m));
  await client.connect();
  const message: MessageFrame = {
    type: 'message',
    deliveryId: 'dlv_1',
    messageId: 'msg_1',
    priority: 'high',
    title: 'Evacuate hall B',
    body: 'Leave through exit 3.',
    sentAt: Date.now(),
    ackRequired: true,
    options: ['I am safe', 'I need help'],
  };
  send(server.connections[0]!.ws, message);
  await server.until(() => server.frames().some((f) => f.type === 'receipt'));
  // The server resends after a reconnect, as it does for deliveries not yet receipted.
  server.connections[0]!.ws.terminate();
  await server.until(() => server.connections.length === 2 && server.connections[1]!.frames.length > 0);
  send(server.connections[1]!.ws, message);
  await server.until(() => server.frames().filter((f) => f.type === 'receipt').length === 2);

  assert.equal(surfaced.length, 1);
  assert.equal(surfaced[0]!.title, 'Evacuate hall B');
  const receipts = server.frames().filter((f) => f.type === 'receipt');
  assert.deepEqual(
    receipts.map((r) => r.type === 'receipt' && [r.deliveryId, r.status]),
    [
      ['dlv_1', 'delivered'],
      ['dlv_1', 'delivered'],
    ],
  );
});

void test('a receipt with a response resolves when the server acknowledges it', async (t) => {
  const server = await FakeServer.start();
  const client = new DeviceClient({ url: server.url, token: 'good-token' });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  await client.connect();
  await client.receipt('dlv_9', 'acknowledged', 'I am safe');
  const receipt = server.frames().find((f) => f.type === 'receipt');
  assert.ok(receipt && receipt.type === 'receipt');
  assert.equal(receipt.response, 'I am safe');
  assert.equal(receipt.status, 'acknowledged');
});

void test('a refused token rejects connect with unauthenticated and never reconnects after 4401', async (t) => {
  const server = await FakeServer.start();
  const client = new DeviceClient({ url: server.url, token: 'bad-token', backoff: fastBackoff });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const fixRefused = assert.rejects(client.send(fix(1)), (err: unknown) => err instanceof DeviceClientError && err.code === 'unauthenticated');
  await assert.rejects(client.connect(), (err: unknown) => err instanceof DeviceClientError && err.code === 'unauthenticated');
  await fixRefused;
  await new Promise((resolve) => setTimeout(resolve, 200)); // many back-off periods
  assert.equal(server.connections.length, 1);
  assert.equal(client.connected, false);
});

void test('a 4403 close without an error frame rejects connect with tenant_suspended', async (t) => {
  const server = await FakeServer.start();
  server.onFrame = (frame, ws) => {
    if (frame.type === 'hello') ws.close(4403, 'suspended');
  };
  const client = new DeviceClient({ url: server.url, token: 'good-token', backoff: fastBackoff });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  await assert.rejects(client.connect(), (err: unknown) => err instanceof DeviceClientError && err.code === 'tenant_suspended');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(server.connections.length, 1);
});

void test('close fails pending sends with code closed and stops reconnecting', async (t) => {
  const server = await FakeServer.start();
  server.onFrame = (frame, ws) => {
    if (frame.type === 'hello') welcome(ws); // and acks nothing
  };
  const client = new DeviceClient({ url: server.url, token: 'good-token', backoff: fastBackoff });
  t.after(() => server.close());
  await client.connect();
  const failed = assert.rejects(client.send(fix(1)), (err: unknown) => err instanceof DeviceClientError && err.code === 'closed');
  await client.close();
  await failed;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(server.connections.length, 1);
});

void test('a connection that stays silent past the heartbeat timeout is dropped and replaced', async (t) => {
  const server = await FakeServer.start();
  const client = new DeviceClient({ url: server.url, token: 'good-token', backoff: fastBackoff, heartbeatTimeoutMs: 100 });
  t.after(async () => {
    await client.close();
    await server.close();
  });
  await client.connect();
  await server.until(() => server.connections.length >= 2 && server.connections[1]!.frames.length > 0);
  assert.equal(server.connections[1]!.frames[0]!.type, 'hello');
});
