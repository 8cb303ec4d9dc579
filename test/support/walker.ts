/**
 * A simulated device for cluster tests: speaks the native WebSocket protocol to any of several
 * edges, sends its fixes one at a time and resends a fix until it is acknowledged (reconnecting to
 * the next edge when its connection goes away), and answers every message with a `delivered`
 * receipt, counting the deliveryIds it saw.
 */
import WebSocket from 'ws';

export interface WalkerFix {
  time: number;
  lon: number;
  lat: number;
  accuracy: number;
}

export class Walker {
  /** deliveryId → how many times a frame with it arrived. */
  readonly deliveries = new Map<string, { messageId: string; count: number }>();
  /** Fixes acknowledged, with the status each got. */
  readonly acked: { time: number; status: string }[] = [];
  reconnects = 0;
  resends = 0;
  private ws: WebSocket | undefined;
  private edge: number;
  private seq = 0;
  private waiting = new Map<string, (frame: any) => void>();
  private closedWaiters: (() => void)[] = [];

  constructor(
    readonly deviceId: string,
    private readonly token: string,
    private readonly edges: () => string[],
    first: number,
  ) {
    this.edge = first;
  }

  /** Connects (to the next edge when one fails) and says hello. */
  async connect(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const urls = this.edges();
      const url = urls[this.edge % urls.length]!;
      try {
        await this.open(url);
        const welcome = await this.call({ type: 'hello', token: this.token, client: 'cluster-test' }, (f) => f.type === 'welcome' || f.type === 'error', 10_000);
        if (welcome.type !== 'welcome') throw new Error(`hello refused: ${JSON.stringify(welcome)}`);
        return;
      } catch (err) {
        this.ws?.terminate();
        this.ws = undefined;
        this.edge++;
        if (attempt > 200) throw new Error(`${this.deviceId} could not connect: ${String(err)}`);
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200));
      }
    }
  }

  /** Sends a fix until it is acknowledged; resolves with its status. */
  async send(fix: WalkerFix): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.resends++;
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        this.reconnects++;
        await this.connect();
      }
      const id = `f${++this.seq}`;
      try {
        const ack = await this.call({ type: 'position', id, fix }, (f) => (f.type === 'ack' || f.type === 'error') && f.id === id, 20_000);
        if (ack.type === 'ack') {
          this.acked.push({ time: fix.time, status: ack.status });
          return ack.status as string;
        }
      } catch {
        // the connection went away, or no answer in time: send it again (the tracker answers "duplicate" if it was stored)
      }
      if (attempt > 100) throw new Error(`${this.deviceId}: fix ${fix.time} never acknowledged`);
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 100));
    }
  }

  close(): void {
    this.ws?.close();
    this.ws = undefined;
  }

  private open(url: string): Promise<void> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/device/v1`);
    this.ws = ws;
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'message') {
        const seen = this.deliveries.get(frame.deliveryId);
        if (seen) seen.count++;
        else this.deliveries.set(frame.deliveryId, { messageId: frame.messageId, count: 1 });
        ws.send(JSON.stringify({ type: 'receipt', id: `r${++this.seq}`, deliveryId: frame.deliveryId, status: 'delivered' }));
        return;
      }
      for (const [key, resolve] of this.waiting) {
        if ((resolve as unknown as { match: (f: any) => boolean }).match?.(frame)) {
          this.waiting.delete(key);
          resolve(frame);
          return;
        }
      }
    });
    ws.on('close', () => {
      if (this.ws === ws) this.ws = undefined;
      for (const w of this.closedWaiters.splice(0)) w();
    });
    ws.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('close', () => reject(new Error('closed before open')));
    });
  }

  private call(frame: Record<string, unknown>, match: (f: any) => boolean, timeoutMs: number): Promise<any> {
    const ws = this.ws;
    if (!ws) return Promise.reject(new Error('not connected'));
    const key = `w${++this.seq}`;
    return new Promise((resolve, reject) => {
      const done = (f: any) => {
        clearTimeout(timer);
        this.closedWaiters = this.closedWaiters.filter((w) => w !== onClose);
        resolve(f);
      };
      (done as unknown as { match: typeof match }).match = match;
      const onClose = () => {
        clearTimeout(timer);
        this.waiting.delete(key);
        reject(new Error('connection closed'));
      };
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        this.closedWaiters = this.closedWaiters.filter((w) => w !== onClose);
        reject(new Error('timed out'));
      }, timeoutMs);
      this.waiting.set(key, done);
      this.closedWaiters.push(onClose);
      ws.send(JSON.stringify(frame));
    });
  }
}
