/**
 * The baseline for the ingest benchmark: a bare `ws` server that parses every JSON frame and
 * answers the native protocol's `welcome` to `hello` and an `ack` to positions, nothing else.
 * Whatever the platform costs beyond this is the price of validating, storing and evaluating.
 *
 * Run on its own (`node dist/bench/baseline-server.js`, PORT and HOST from the environment) it
 * prints `listening <port>` once ready; bench/run.ts starts it that way, in its own process, so
 * that it does not share an event loop with the load generator, just like the platform.
 *
 * Forked with an IPC channel (bench/fanout-cluster.ts), it also broadcasts: `{ kind: 'broadcast',
 * messageId }` writes one message frame, shaped as the platform's, to every connected device.
 */
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface BaselineServer {
  port: number;
  /** Sends one message frame to every connected device; answers how many. */
  broadcast(messageId: string): number;
  close(): Promise<void>;
}

interface Frame {
  type?: unknown;
  id?: unknown;
  fixes?: unknown;
}

/** Starts the baseline on host:port (port 0 picks a free one). */
export async function startBaselineServer(host = '127.0.0.1', port = 0): Promise<BaselineServer> {
  const wss = new WebSocketServer({ host, port, path: '/device/v1', perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  let deviceNo = 0;
  wss.on('connection', (ws) => {
    const deviceId = `dev_${++deviceNo}`;
    ws.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(data)) as Frame;
      } catch {
        ws.send('{"type":"error","code":"frame_invalid","detail":"not valid JSON"}');
        return;
      }
      switch (frame.type) {
        case 'hello':
          ws.send(JSON.stringify({ type: 'welcome', deviceId, tenantId: 'ten_bench', serverTime: Date.now(), pending: 0, protocol: 1 }));
          return;
        case 'position':
          ws.send(JSON.stringify({ type: 'ack', id: frame.id, status: 'accepted' }));
          return;
        case 'positions': {
          const n = Array.isArray(frame.fixes) ? frame.fixes.length : 0;
          ws.send(JSON.stringify({ type: 'ack', id: frame.id, results: Array.from({ length: n }, () => ({ status: 'accepted' })) }));
          return;
        }
        default:
          return;
      }
    });
  });
  return {
    port: (wss.address() as AddressInfo).port,
    broadcast: (messageId: string) => {
      let n = 0;
      const sentAt = Date.now();
      for (const client of wss.clients) {
        client.send(JSON.stringify({ type: 'message', deliveryId: `dlv_bare_${++n}`, messageId, priority: 'normal', title: 'Fan-out benchmark', body: '', sentAt, ackRequired: false }));
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startBaselineServer(process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 0));
  process.stdout.write(`listening ${server.port}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.send) {
    process.on('message', (m: { kind?: string; messageId?: string }) => {
      if (m.kind === 'broadcast' && typeof m.messageId === 'string') process.send!({ kind: 'broadcasted', n: server.broadcast(m.messageId) });
    });
    process.on('disconnect', stop);
  }
}
