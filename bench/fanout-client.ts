/**
 * A fan-out benchmark client process: holds a share of the devices' native WebSocket connections
 * (one process cannot hold them all: the file limit is per process), says hello on each, and
 * reports to the parent (IPC) when every one of its devices has received a given message.
 */
import WebSocket from 'ws';

interface Start { kind: 'start'; url: string; tokens: string[] }
interface Expect { kind: 'expect'; messageId: string }

/** A hello not welcomed by then fails the run (a server out of file descriptors must not hang it); generous, as 100,000 devices connect on two shared cores. */
const WELCOME_TIMEOUT_MS = 60_000;

const sockets: WebSocket[] = [];
const counts = new Map<string, number>();
let expected: string | undefined;
let total = 0;

function send(message: object): void {
  process.send!(message);
}

function onFrame(data: WebSocket.RawData): void {
  const text = data.toString();
  if (!text.startsWith('{"type":"message"')) return;
  const id = (JSON.parse(text) as { messageId: string }).messageId;
  const n = (counts.get(id) ?? 0) + 1;
  counts.set(id, n);
  if (id === expected && n === total) send({ kind: 'done', messageId: id, at: Date.now() });
}

async function connectAll(url: string, tokens: string[]): Promise<void> {
  total = tokens.length;
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        // a connection the server cannot take (out of file descriptors) must fail the run, not hang it
        const timer = setTimeout(() => reject(new Error(`device ${next} not welcomed within ${WELCOME_TIMEOUT_MS / 1000} s (${sockets.length} connected)`)), WELCOME_TIMEOUT_MS);
        ws.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        ws.once('close', () => clearTimeout(timer));
        ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', token, client: 'bench-fanout' })));
        ws.on('message', (data) => {
          if (data.toString().startsWith('{"type":"welcome"')) {
            clearTimeout(timer);
            resolve();
          }
          else onFrame(data);
        });
      });
      sockets.push(ws);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

process.on('message', (m: Start | Expect) => {
  if (m.kind === 'start') {
    // how far connecting got, for the parent's progress line (100,000 devices take many minutes here)
    setInterval(() => send({ kind: 'progress', n: sockets.length }), 10_000).unref();
    connectAll(m.url, m.tokens).then(
      () => send({ kind: 'connected', n: sockets.length }),
      (err: unknown) => send({ kind: 'error', error: String(err) }),
    );
  } else {
    expected = m.messageId;
    if ((counts.get(m.messageId) ?? 0) === total) send({ kind: 'done', messageId: m.messageId, at: Date.now() });
  }
});
process.on('disconnect', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
