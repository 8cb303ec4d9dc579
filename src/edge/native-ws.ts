/**
 * The native device protocol over WebSocket (docs/device-protocol.md). This file only speaks the
 * protocol: frames in, frames out. Everything it decides about positions, messages and devices
 * it asks the services through EdgeDeps.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { Counter, Gauge } from 'prom-client';
import { AppError } from '../core/errors.js';
import { registry } from '../core/metrics.js';
import type { ReceiptKind } from '../core/types.js';
import type { EdgeDeps } from './deps.js';
import { decodeNativeFix } from './fix.js';
import type { Revocations } from './revocation.js';
import type { Session, Sessions } from './sessions.js';

const HELLO_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 30_000;
const MAX_BATCH = 1000;
const MAX_INFLIGHT = 64;
const MAX_ID = 64;

const frames = new Counter({ name: 'followme_edge_frames_total', help: 'Native protocol frames received, by type', labelNames: ['type'], registers: [registry] });
const frameErrors = new Counter({ name: 'followme_edge_frame_errors_total', help: 'Native protocol frames answered with an error frame, by code', labelNames: ['code'], registers: [registry] });
const connections = new Gauge({ name: 'followme_edge_connections', help: 'Authenticated native protocol connections', registers: [registry] });

type ClientFrame =
  | { type: 'hello'; token: string; client?: string }
  | { type: 'position'; id: string; fix: unknown }
  | { type: 'positions'; id: string; fixes: unknown[] }
  | { type: 'receipt'; id: string; deliveryId: string; status: ReceiptKind; response?: string }
  | { type: 'sos'; id: string; fix?: unknown; text?: string }
  | { type: 'ping' };

/**
 * The close code and reason of a refused device, the same whether its hello is refused or an open
 * connection loses access (revocation.ts): 4403 for a suspended tenant or a disabled device (do not
 * reconnect until an operator acts), 4401 for anything else (the token is not, or no longer, valid).
 */
export function refusalClose(err: unknown): { code: number; reason: string } {
  if (err instanceof AppError && err.code === 'tenant_suspended') return { code: 4403, reason: 'tenant suspended' };
  if (err instanceof AppError && err.code === 'forbidden') return { code: 4403, reason: 'device disabled' };
  return { code: 4401, reason: 'not authenticated' };
}

function frameError(detail: string, field?: string): AppError {
  return new AppError('frame_invalid', detail, field ? [{ field, reason: detail }] : []);
}

/** Checks a frame's shape (not the values inside fixes: the tracker judges those). */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw frameError('not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw frameError('a frame must be a JSON object');
  const frame = value as Record<string, unknown>;
  const id = frame.id;
  const needId = () => {
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID) throw frameError(`id: must be a string of 1 to ${MAX_ID} characters`, 'id');
  };
  switch (frame.type) {
    case 'hello':
      if (typeof frame.token !== 'string' || frame.token === '') throw frameError('token: must be the device token', 'token');
      return { type: 'hello', token: frame.token, client: typeof frame.client === 'string' ? frame.client.slice(0, 200) : undefined } as ClientFrame;
    case 'position':
      needId();
      if (!frame.fix || typeof frame.fix !== 'object') throw frameError('fix: must be an object with time, lon and lat', 'fix');
      return frame as ClientFrame;
    case 'positions':
      needId();
      if (!Array.isArray(frame.fixes) || frame.fixes.length === 0) throw frameError('fixes: must be a non-empty array', 'fixes');
      if (frame.fixes.length > MAX_BATCH) throw frameError(`fixes: at most ${MAX_BATCH} fixes per frame, got ${frame.fixes.length}`, 'fixes');
      return frame as ClientFrame;
    case 'receipt':
      needId();
      if (typeof frame.deliveryId !== 'string' || frame.deliveryId === '') throw frameError('deliveryId: must be a delivery id', 'deliveryId');
      if (frame.status !== 'delivered' && frame.status !== 'read' && frame.status !== 'acknowledged') throw frameError(`status: must be delivered, read or acknowledged, got ${JSON.stringify(frame.status)}`, 'status');
      if (frame.response !== undefined && (typeof frame.response !== 'string' || frame.response.length > 1000)) throw frameError('response: must be text of at most 1000 characters', 'response');
      return frame as ClientFrame;
    case 'sos':
      needId();
      if (frame.fix !== undefined && (!frame.fix || typeof frame.fix !== 'object')) throw frameError('fix: must be an object with time, lon and lat', 'fix');
      if (frame.text !== undefined && (typeof frame.text !== 'string' || frame.text.length > 1000)) throw frameError('text: must be text of at most 1000 characters', 'text');
      return frame as ClientFrame;
    case 'ping':
      return { type: 'ping' };
    default:
      throw frameError(`type: unknown frame type ${JSON.stringify(frame.type)}; expected hello, position, positions, receipt, sos or ping`, 'type');
  }
}

export class NativeProtocol {
  private readonly wss: WebSocketServer;
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly deps: EdgeDeps,
    private readonly sessions: Sessions,
    private readonly revocations: Revocations,
    maxFrameBytes: number,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes, perMessageDeflate: false });
    this.pinger = setInterval(() => this.pingAll(), PING_INTERVAL_MS);
    this.pinger.unref();
  }

  /** Takes over an HTTP upgrade request for the device path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws));
  }

  /** Closes every connection with 1001 (going away), telling devices to reconnect. */
  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const ws of this.wss.clients) ws.close(1001, 'server restarting');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private pingAll(): void {
    for (const ws of this.wss.clients) {
      const state = ws as WebSocket & { missedPongs?: number };
      state.missedPongs = (state.missedPongs ?? 0) + 1;
      if (state.missedPongs > 2) ws.terminate();
      else ws.ping();
    }
  }

  private accept(ws: WebSocket): void {
    const log = this.deps.logger;
    let session: Session | undefined;
    let inflight = 0;
    let paused = false;
    const send = (frame: object): boolean => {
      if (ws.readyState !== ws.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    };
    const sendError = (err: unknown, id?: string) => {
      const e = err instanceof AppError ? err : new AppError('internal', 'an internal error occurred; it has been logged');
      if (!(err instanceof AppError)) log.error({ err }, 'native frame failed');
      frameErrors.inc({ code: e.code });
      const frame: Record<string, unknown> = { type: 'error', code: e.code, detail: e.message };
      if (e.errors[0]) frame.field = e.errors[0].field;
      if (id) frame.id = id;
      send(frame);
    };
    const refuse = (err: unknown) => {
      sendError(err);
      const { code, reason } = refusalClose(err);
      ws.close(code, reason);
    };
    const helloTimer = setTimeout(() => {
      sendError(new AppError('unauthenticated', `send hello with the device token within ${HELLO_TIMEOUT_MS / 1000} s`));
      ws.close(4401, 'no hello');
    }, HELLO_TIMEOUT_MS);

    ws.on('pong', () => {
      (ws as WebSocket & { missedPongs?: number }).missedPongs = 0;
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (session) {
        this.sessions.remove(session);
        connections.dec();
      }
    });
    ws.on('error', (err) => log.debug({ err }, 'device socket error'));
    // Frames that arrive while hello is being checked wait for it, in order.
    let authenticating: Promise<void> | undefined;
    const process = (frame: ClientFrame): void => {
      if (frame.type === 'ping') {
        send({ type: 'pong', serverTime: Date.now() });
        return;
      }
      if (!session) {
        if (frame.type !== 'hello') {
          sendError(new AppError('unauthenticated', 'the first frame must be hello with the device token'));
          ws.close(4401, 'not authenticated');
          return;
        }
        clearTimeout(helloTimer);
        authenticating = this.hello(ws, frame, send, refuse).then(
          (s) => {
            session = s;
            if (s) connections.inc();
          },
          refuse,
        ).finally(() => {
          authenticating = undefined;
        });
        return;
      }
      if (frame.type === 'hello') {
        sendError(frameError('already authenticated'));
        return;
      }
      // Bound the work one connection can have in flight: stop reading until it drains.
      inflight++;
      if (inflight >= MAX_INFLIGHT && !paused) {
        paused = true;
        ws.pause();
      }
      void this.handle(session, frame, send)
        .catch((err: unknown) => sendError(err, frame.id))
        .finally(() => {
          inflight--;
          if (paused && inflight < MAX_INFLIGHT / 2) {
            paused = false;
            ws.resume();
          }
        });
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      (ws as WebSocket & { missedPongs?: number }).missedPongs = 0;
      let frame: ClientFrame;
      try {
        if (isBinary) throw frameError('frames must be text (JSON), not binary');
        frame = parseClientFrame(data.toString());
      } catch (err) {
        frames.inc({ type: 'invalid' });
        sendError(err, extractId(data));
        return;
      }
      frames.inc({ type: frame.type });
      if (authenticating) void authenticating.then(() => process(frame));
      else process(frame);
    });
  }

  private async hello(ws: WebSocket, frame: Extract<ClientFrame, { type: 'hello' }>, send: (f: object) => boolean, refuse: (err: AppError) => void): Promise<Session | undefined> {
    const lookupStartedAt = Date.now();
    const device = await this.deps.authenticateDevice(frame.token);
    if (!device) throw new AppError('unauthenticated', 'the device token is not valid');
    if (ws.readyState !== ws.OPEN) return undefined;
    const session: Session = {
      tenantId: device.tenantId,
      deviceId: device.deviceId,
      token: frame.token,
      connectedAt: Date.now(),
      send,
      close: (code, reason) => ws.close(code, reason),
      revoke: refuse,
    };
    this.sessions.add(session);
    this.revocations.admitted(session, lookupStartedAt);
    const pending = await this.deps.pendingFor(device);
    send({ type: 'welcome', deviceId: device.deviceId, tenantId: device.tenantId, serverTime: Date.now(), pending: pending.length, protocol: 1 });
    for (const message of pending) send(message);
    if (pending.length > 0) await this.deps.markSent(device, pending.map((m) => m.deliveryId));
    this.deps.logger.debug({ deviceId: device.deviceId, client: frame.client }, 'device connected');
    return session;
  }

  private async handle(session: Session, frame: Exclude<ClientFrame, { type: 'hello' | 'ping' }>, send: (f: object) => boolean): Promise<void> {
    const device = { tenantId: session.tenantId, deviceId: session.deviceId };
    switch (frame.type) {
      case 'position': {
        const fix = decodeNativeFix(frame.fix);
        const [result] = await this.deps.ingest(device, [fix]);
        const ack: Record<string, unknown> = { type: 'ack', id: frame.id, ...result };
        if (result!.field) ack.field = `fix.${result!.field}`;
        if (result!.status === 'accepted') ack.interval = await this.deps.reportingInterval(device, fix);
        send(ack);
        return;
      }
      case 'positions': {
        const fixes = frame.fixes.map(decodeNativeFix);
        const results = await this.deps.ingest(device, fixes);
        const ack: Record<string, unknown> = { type: 'ack', id: frame.id, results: results.map((r, i) => (r.field ? { ...r, field: `fixes[${i}].${r.field}` } : r)) };
        const newest = fixes.filter((_, i) => results[i]!.status === 'accepted').reduce<(typeof fixes)[number] | undefined>((a, f) => (!a || f.time > a.time ? f : a), undefined);
        if (newest) ack.interval = await this.deps.reportingInterval(device, newest);
        send(ack);
        return;
      }
      case 'receipt': {
        await this.deps.receipt(device, frame.deliveryId, frame.status, frame.response);
        send({ type: 'ack', id: frame.id, status: 'accepted' });
        return;
      }
      case 'sos': {
        const fix = frame.fix === undefined ? undefined : decodeNativeFix(frame.fix);
        await this.deps.sos(device, { id: frame.id, fix, text: frame.text });
        send({ type: 'ack', id: frame.id, status: 'accepted' });
        return;
      }
    }
  }
}

/** The id of a frame that failed to parse fully, so the error frame can name it. */
function extractId(data: RawData): string | undefined {
  try {
    const value = JSON.parse(data.toString()) as { id?: unknown };
    return typeof value?.id === 'string' ? value.id.slice(0, MAX_ID) : undefined;
  } catch {
    return undefined;
  }
}
