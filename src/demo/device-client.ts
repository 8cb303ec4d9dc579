/**
 * The device side of the native WebSocket protocol (docs/device-protocol.md), as a phone app
 * would implement it: hello/welcome, positions with acknowledgements, an outbox that survives
 * reconnects, messages with receipts, and reconnect with exponential back-off and jitter.
 */
import type { MessageFrame } from '../services/notification/index.js';
import WebSocket from 'ws';
import type { Logger } from '../core/log.js';

// ---------------------------------------------------------------------------------------------
// Frames (section numbers refer to docs/device-protocol.md)

/** A fix as it travels on the wire (§2). `time` is epoch ms or an ISO 8601 string with zone. */
export interface WireFix {
  time: number | string;
  lon: number;
  lat: number;
  accuracy?: number;
  altitude?: number;
  speed?: number;
  heading?: number;
  battery?: number;
  charging?: boolean;
}

export interface HelloFrame {
  type: 'hello';
  token: string;
  client?: string;
}
export interface PositionFrame {
  type: 'position';
  id: string;
  fix: WireFix;
}
export interface PositionsFrame {
  type: 'positions';
  id: string;
  fixes: WireFix[];
}
export type ReceiptStatus = 'delivered' | 'read' | 'acknowledged';
export interface ReceiptFrame {
  type: 'receipt';
  id: string;
  deliveryId: string;
  status: ReceiptStatus;
  response?: string;
}
export interface PingFrame {
  type: 'ping';
}
/** Every frame a device sends. */
export type ClientFrame = HelloFrame | PositionFrame | PositionsFrame | ReceiptFrame | PingFrame;

export interface WelcomeFrame {
  type: 'welcome';
  deviceId: string;
  tenantId: string;
  serverTime: number;
  pending: number;
  protocol: number;
}
/** What `connect()` resolves with. */
export type Welcome = WelcomeFrame;

export type AckStatus = 'accepted' | 'duplicate' | 'rejected';
/** The server's verdict on one fix (or one receipt). */
export interface AckResult {
  status: AckStatus;
  code?: string;
  field?: string;
  reason?: string;
}
/** `status` answers a single frame, `results` a batch (one per fix, same order). */
export interface AckFrame {
  type: 'ack';
  id: string;
  status?: AckStatus;
  code?: string;
  field?: string;
  reason?: string;
  results?: AckResult[];
}
export type ErrorCode = 'frame_invalid' | 'validation_failed' | 'unauthenticated' | 'tenant_suspended' | 'payload_too_large' | 'internal';
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode | (string & {});
  detail?: string;
  field?: string;
  id?: string;
}
/** The `message` frame: the one definition, from the notification service that sends it. */
export type { MessageFrame };
export type { Priority } from '../core/types.js';
export interface PongFrame {
  type: 'pong';
  serverTime: number;
}
/** Every frame the server sends. */
export type ServerFrame = WelcomeFrame | AckFrame | ErrorFrame | MessageFrame | PongFrame;

// ---------------------------------------------------------------------------------------------

/** Close codes after which reconnecting cannot help (§7). */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4403]);
/** Most fixes in one `positions` frame (§2). */
export const MAX_BATCH = 1000;
const SEEN_TTL_MS = 7 * 24 * 3600_000;

/** A protocol failure with the server's stable code (`unauthenticated`, …) or `closed`. */
export class DeviceClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly closeCode?: number,
  ) {
    super(message);
    this.name = 'DeviceClientError';
  }
}

export interface DeviceClientOptions {
  /** `ws://host:port/device/v1` */
  url: string;
  token: string;
  /** Free text naming the app, sent in `hello`. */
  client?: string;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Reconnect back-off: first delay and ceiling (defaults 1 s and 60 s, §7). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Give up on a connection that has not been welcomed in this time (default 15 s). */
  welcomeTimeoutMs?: number;
  /**
   * Drop and reconnect a connection that has been silent (no frame, no ping) this long; the
   * server pings every 30 s (§5), so the default of 75 s means two missed pings. 0 disables it.
   */
  heartbeatTimeoutMs?: number;
  /** Source of randomness for jitter, [0, 1); a seeded one makes back-off reproducible. */
  random?: () => number;
}

export type MessageHandler = (message: MessageFrame) => void;

/** Fixes waiting for an ack: one per `send`/`sendBatch` call (a big batch is split into several). */
interface OutboxEntry {
  fixes: WireFix[];
  results: (AckResult | undefined)[];
  remaining: number;
  /** Id of the frame that currently carries these fixes, or null when not sent on this connection. */
  inFlight: string | null;
  resolve(results: AckResult[]): void;
  reject(err: Error): void;
}

/** One frame in flight: which outbox entries (and which slice of each) it carries. */
type FrameParts = Array<{ entry: OutboxEntry; start: number; count: number; frameStart: number }>;

interface PendingReceipt {
  frame: ReceiptFrame;
  inFlight: boolean;
  resolve(): void;
  reject(err: Error): void;
}

type State = 'idle' | 'connecting' | 'open' | 'closed';

/** A device connection that keeps every fix until the server acknowledges it. */
export class DeviceClient {
  private readonly url: string;
  private readonly token: string;
  private readonly clientName: string | undefined;
  private readonly logger: DeviceClientOptions['logger'];
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly welcomeTimeoutMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly random: () => number;

  private state: State = 'idle';
  private ws: WebSocket | null = null;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private welcomeTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private nextFrameNo = 1;
  private readonly outbox: OutboxEntry[] = [];
  private readonly frames = new Map<string, FrameParts>();
  private readonly receipts = new Map<string, PendingReceipt>();
  private readonly seen = new Map<string, number>();
  private readonly handlers: MessageHandler[] = [];
  private connectWaiter: { resolve(w: Welcome): void; reject(err: Error): void } | null = null;
  private lastWelcome: Welcome | null = null;
  /** Why the server is about to close with 4401/4403 (from its error frame). */
  private fatal: DeviceClientError | null = null;

  constructor(options: DeviceClientOptions) {
    this.url = options.url;
    this.token = options.token;
    this.clientName = options.client;
    this.logger = options.logger;
    this.initialBackoffMs = options.backoff?.initialMs ?? 1000;
    this.maxBackoffMs = options.backoff?.maxMs ?? 60_000;
    this.welcomeTimeoutMs = options.welcomeTimeoutMs ?? 15_000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 75_000;
    this.random = options.random ?? Math.random;
  }

  /** True while the connection is open and welcomed. */
  get connected(): boolean {
    return this.state === 'open';
  }

  /** The most recent welcome, or null before the first one. */
  get welcome(): Welcome | null {
    return this.lastWelcome;
  }

  /** How many fixes wait for an acknowledgement. */
  get unacknowledged(): number {
    let n = 0;
    for (const entry of this.outbox) n += entry.remaining;
    return n;
  }

  /**
   * Opens the connection and authenticates. Resolves on the first `welcome`; connection failures
   * before that are retried with back-off. Rejects with a {@link DeviceClientError} whose `code`
   * is the server's (`unauthenticated`, `tenant_suspended`) when the token is refused, and with
   * code `closed` when `close()` is called first.
   */
  connect(): Promise<Welcome> {
    if (this.state === 'closed') return Promise.reject(new DeviceClientError('closed', 'the client is closed'));
    if (this.state === 'open' && this.lastWelcome) return Promise.resolve(this.lastWelcome);
    return new Promise<Welcome>((resolve, reject) => {
      const previous = this.connectWaiter;
      this.connectWaiter = {
        resolve: (w) => {
          previous?.resolve(w);
          resolve(w);
        },
        reject: (err) => {
          previous?.reject(err);
          reject(err);
        },
      };
      if (this.state === 'idle') this.open();
    });
  }

  /** Sends one fix; resolves with the server's verdict once it is acknowledged (even after reconnects). */
  async send(fix: WireFix): Promise<AckResult> {
    const [result] = await this.enqueue([fix], true);
    return result!;
  }

  /** Sends fixes as `positions` batches (≤ 1,000 each); resolves with one verdict per fix, in order. */
  async sendBatch(fixes: WireFix[]): Promise<AckResult[]> {
    if (fixes.length === 0) return [];
    const chunks: Promise<AckResult[]>[] = [];
    for (let i = 0; i < fixes.length; i += MAX_BATCH) chunks.push(this.enqueue(fixes.slice(i, i + MAX_BATCH), false));
    return (await Promise.all(chunks)).flat();
  }

  /** Registers a handler for new messages (repeats of a known deliveryId are not surfaced). Returns an unsubscribe function. */
  onMessage(handler: MessageHandler): () => void {
    this.handlers.push(handler);
    return () => {
      const i = this.handlers.indexOf(handler);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** Sends a receipt; resolves when the server has stored it. Unacknowledged receipts are resent after a reconnect. */
  receipt(deliveryId: string, status: ReceiptStatus, response?: string): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new DeviceClientError('closed', 'the client is closed'));
    const frame: ReceiptFrame = { type: 'receipt', id: this.frameId('r'), deliveryId, status };
    if (response !== undefined) frame.response = response;
    return new Promise<void>((resolve, reject) => {
      const pending: PendingReceipt = { frame, inFlight: false, resolve, reject };
      this.receipts.set(frame.id, pending);
      if (this.state === 'open') this.transmitReceipt(pending);
    });
  }

  /** Closes the connection for good: stops reconnecting, fails everything still pending with code `closed`. */
  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'closed';
    this.clearTimers();
    const err = new DeviceClientError('closed', 'the client was closed');
    this.connectWaiter?.reject(err);
    this.connectWaiter = null;
    for (const entry of this.outbox.splice(0)) entry.reject(err);
    this.frames.clear();
    for (const pending of this.receipts.values()) pending.reject(err);
    this.receipts.clear();
    const ws = this.ws;
    this.ws = null;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // A server that never answers the close handshake must not hold us up.
      const force = setTimeout(() => ws.terminate(), 2000);
      force.unref();
      ws.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'client closing');
    });
  }

  // -------------------------------------------------------------------------------------------

  private frameId(kind: 'p' | 'b' | 'r'): string {
    return `${kind}-${this.nextFrameNo++}`;
  }

  private enqueue(fixes: WireFix[], single: boolean): Promise<AckResult[]> {
    if (this.state === 'closed') return Promise.reject(new DeviceClientError('closed', 'the client is closed'));
    return new Promise<AckResult[]>((resolve, reject) => {
      const entry: OutboxEntry = { fixes, results: new Array(fixes.length), remaining: fixes.length, inFlight: null, resolve, reject };
      this.outbox.push(entry);
      if (this.state !== 'open') return; // waits for the next welcome, then goes out in the resend batch
      const id = this.frameId(single ? 'p' : 'b');
      const frame: ClientFrame = single ? { type: 'position', id, fix: fixes[0]! } : { type: 'positions', id, fixes };
      this.frames.set(id, [{ entry, start: 0, count: fixes.length, frameStart: 0 }]);
      entry.inFlight = id;
      this.write(frame);
    });
  }

  private open(): void {
    this.state = 'connecting';
    const ws = new WebSocket(this.url, { handshakeTimeout: this.welcomeTimeoutMs });
    this.ws = ws;
    this.welcomeTimer = setTimeout(() => {
      this.logger?.warn({ url: this.url }, 'no welcome in time; reconnecting');
      ws.terminate();
    }, this.welcomeTimeoutMs);
    this.welcomeTimer.unref();
    ws.on('open', () => {
      this.heartbeat(ws);
      const hello: HelloFrame = { type: 'hello', token: this.token };
      if (this.clientName !== undefined) hello.client = this.clientName;
      ws.send(JSON.stringify(hello));
    });
    ws.on('ping', () => this.heartbeat(ws));
    ws.on('message', (data, isBinary) => {
      if (ws !== this.ws) return;
      this.heartbeat(ws);
      if (isBinary) {
        this.logger?.warn('ignoring a binary frame');
        return;
      }
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(data)) as ServerFrame;
      } catch {
        this.logger?.warn({ frame: String(data).slice(0, 200) }, 'ignoring a frame that is not JSON');
        return;
      }
      this.handleFrame(frame);
    });
    ws.on('error', (err) => {
      // 'close' follows and decides about reconnecting; the error itself is only worth a note.
      this.logger?.debug({ err: err.message, url: this.url }, 'device connection error');
    });
    ws.on('close', (code, reason) => {
      if (ws !== this.ws) return; // an old socket (replaced or closed by us)
      this.ws = null;
      this.onDisconnect(code, reason.toString());
    });
  }

  /** (Re)arms the silence timer: a half-open connection is noticed and replaced. */
  private heartbeat(ws: WebSocket): void {
    if (this.heartbeatTimeoutMs <= 0 || ws !== this.ws) return;
    if (this.heartbeatTimer) this.heartbeatTimer.refresh();
    else {
      this.heartbeatTimer = setTimeout(() => {
        this.heartbeatTimer = null;
        this.logger?.warn({ url: this.url }, 'connection silent for too long; reconnecting');
        ws.terminate();
      }, this.heartbeatTimeoutMs);
      this.heartbeatTimer.unref();
    }
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        return this.onWelcome(frame);
      case 'ack':
        return this.onAck(frame);
      case 'error':
        return this.onError(frame);
      case 'message':
        return this.onMessageFrame(frame);
      case 'pong':
        return;
      default:
        this.logger?.warn({ type: (frame as { type?: unknown }).type }, 'ignoring a frame of unknown type');
    }
  }

  private onWelcome(welcome: WelcomeFrame): void {
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
    this.state = 'open';
    this.attempt = 0;
    this.lastWelcome = welcome;
    this.logger?.debug({ deviceId: welcome.deviceId, pending: welcome.pending }, 'device welcomed');
    this.flushOutbox();
    for (const pending of this.receipts.values()) if (!pending.inFlight) this.transmitReceipt(pending);
    this.connectWaiter?.resolve(welcome);
    this.connectWaiter = null;
  }

  /** Resends every unacknowledged fix, oldest first, in `positions` batches of at most 1,000. */
  private flushOutbox(): void {
    let parts: FrameParts = [];
    let fixes: WireFix[] = [];
    const emit = (): void => {
      if (fixes.length === 0) return;
      const id = this.frameId('b');
      for (const part of parts) part.entry.inFlight = id;
      this.frames.set(id, parts);
      this.write({ type: 'positions', id, fixes });
      parts = [];
      fixes = [];
    };
    for (const entry of this.outbox) {
      if (entry.inFlight !== null) continue;
      // Only the fixes of this entry that have no verdict yet.
      let i = 0;
      while (i < entry.fixes.length) {
        if (entry.results[i] !== undefined) {
          i++;
          continue;
        }
        let j = i;
        while (j < entry.fixes.length && entry.results[j] === undefined && fixes.length + (j - i) < MAX_BATCH) j++;
        parts.push({ entry, start: i, count: j - i, frameStart: fixes.length });
        for (let k = i; k < j; k++) fixes.push(entry.fixes[k]!);
        if (fixes.length >= MAX_BATCH) emit();
        i = j;
      }
    }
    emit();
  }

  private onAck(ack: AckFrame): void {
    const parts = this.frames.get(ack.id);
    if (parts) {
      this.frames.delete(ack.id);
      const total = parts.reduce((n, p) => n + p.count, 0);
      const results: AckResult[] = ack.results ?? new Array<AckResult>(total).fill(singleResult(ack));
      if (results.length !== total) this.logger?.warn({ id: ack.id, expected: total, got: results.length }, 'ack with a wrong number of results');
      this.settle(parts, (index) => results[index] ?? { status: 'rejected', code: 'internal', reason: 'missing from the ack' });
      return;
    }
    const receipt = this.receipts.get(ack.id);
    if (receipt) {
      this.receipts.delete(ack.id);
      if (ack.status === 'rejected') receipt.reject(new DeviceClientError(ack.code ?? 'rejected', ack.reason ?? 'receipt rejected'));
      else receipt.resolve();
      return;
    }
    this.logger?.debug({ id: ack.id }, 'ack for an unknown frame id');
  }

  private settle(parts: FrameParts, resultAt: (indexInFrame: number) => AckResult): void {
    for (const { entry, start, count, frameStart } of parts) {
      entry.inFlight = null;
      for (let k = 0; k < count; k++) {
        if (entry.results[start + k] === undefined) entry.remaining--;
        entry.results[start + k] = resultAt(frameStart + k);
      }
      if (entry.remaining === 0) {
        const i = this.outbox.indexOf(entry);
        if (i >= 0) this.outbox.splice(i, 1);
        entry.resolve(entry.results as AckResult[]);
      }
    }
  }

  private onError(error: ErrorFrame): void {
    if (error.code === 'unauthenticated' || error.code === 'tenant_suspended') {
      // The close (4401/4403) follows; remember why, so connect() rejects with this code.
      this.fatal = new DeviceClientError(error.code, error.detail ?? error.code);
      return;
    }
    if (error.id !== undefined) {
      const parts = this.frames.get(error.id);
      if (parts) {
        // The whole frame was refused: resending it would not help (§3), so every fix in it is rejected.
        this.frames.delete(error.id);
        const verdict: AckResult = { status: 'rejected', code: error.code };
        if (error.field !== undefined) verdict.field = error.field;
        if (error.detail !== undefined) verdict.reason = error.detail;
        this.settle(parts, () => verdict);
        return;
      }
      const receipt = this.receipts.get(error.id);
      if (receipt) {
        this.receipts.delete(error.id);
        receipt.reject(new DeviceClientError(error.code, error.detail ?? error.code));
        return;
      }
    }
    this.logger?.warn({ code: error.code, detail: error.detail, id: error.id }, 'server error frame');
  }

  private onMessageFrame(message: MessageFrame): void {
    // `delivered` goes out at once, also for repeats (§4); its failure only matters for the log.
    this.receipt(message.deliveryId, 'delivered').catch((err: Error) => {
      if ((err as DeviceClientError).code !== 'closed') this.logger?.warn({ err: err.message, deliveryId: message.deliveryId }, 'delivered receipt failed');
    });
    const now = Date.now();
    if (this.seen.has(message.deliveryId)) return;
    this.seen.set(message.deliveryId, now);
    this.pruneSeen(now);
    for (const handler of [...this.handlers]) {
      try {
        handler(message);
      } catch (err) {
        this.logger?.warn({ err: (err as Error).message, deliveryId: message.deliveryId }, 'message handler threw');
      }
    }
  }

  /** Forgets deliveryIds older than 7 days (Map iterates in insertion order, so the oldest come first). */
  private pruneSeen(now: number): void {
    for (const [id, at] of this.seen) {
      if (now - at < SEEN_TTL_MS) break;
      this.seen.delete(id);
    }
  }

  private transmitReceipt(pending: PendingReceipt): void {
    pending.inFlight = true;
    this.write(pending.frame);
  }

  private write(frame: ClientFrame): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return; // resent after the next welcome
    ws.send(JSON.stringify(frame), (err) => {
      if (err) this.logger?.debug({ err: err.message }, 'send failed; will resend after reconnect');
    });
  }

  private onDisconnect(code: number, reason: string): void {
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.welcomeTimer = null;
    this.heartbeatTimer = null;
    // Everything in flight on the dead connection goes out again after the next welcome.
    for (const parts of this.frames.values()) for (const part of parts) part.entry.inFlight = null;
    this.frames.clear();
    for (const pending of this.receipts.values()) pending.inFlight = false;
    if (this.state === 'closed') return;

    if (FATAL_CLOSE_CODES.has(code)) {
      const err = this.fatal ?? new DeviceClientError(code === 4401 ? 'unauthenticated' : 'tenant_suspended', reason || `closed with ${code}`, code);
      this.logger?.warn({ code, reason, url: this.url }, 'device connection refused; not reconnecting');
      this.state = 'closed';
      this.clearTimers();
      this.connectWaiter?.reject(err);
      this.connectWaiter = null;
      const failure = new DeviceClientError(err.code, `not sent: ${err.message}`, code);
      for (const entry of this.outbox.splice(0)) entry.reject(failure);
      for (const pending of this.receipts.values()) pending.reject(failure);
      this.receipts.clear();
      return;
    }
    this.fatal = null;
    this.state = 'connecting';
    const delay = this.backoffDelay();
    this.attempt++;
    this.logger?.debug({ code, reason, delay }, 'device connection lost; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== 'closed') this.open();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Exponential back-off with "equal jitter": half the step is fixed, half is random. */
  private backoffDelay(): number {
    const step = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.attempt, 30));
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.welcomeTimer) clearTimeout(this.welcomeTimer);
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.reconnectTimer = null;
    this.welcomeTimer = null;
    this.heartbeatTimer = null;
  }
}

function singleResult(ack: AckFrame): AckResult {
  const result: AckResult = { status: ack.status ?? 'accepted' };
  if (ack.code !== undefined) result.code = ack.code;
  if (ack.field !== undefined) result.field = ack.field;
  if (ack.reason !== undefined) result.reason = ack.reason;
  return result;
}
