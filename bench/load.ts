/**
 * The ingest load generator: D device connections over raw `ws` (no DeviceClient, so the client
 * side costs the same for every target), each authenticated with `hello` and then streaming single
 * `position` frames with at most W unacknowledged per connection. It measures acknowledged
 * positions per second and ack latency. The same generator drives the baseline and the platform.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { mulberry32 } from '../src/demo/simulator.js';

export interface Area {
  west: number;
  south: number;
  east: number;
  north: number;
}

export interface LoadOptions {
  /** `ws://host:port/device/v1` */
  url: string;
  /** One device token per connection. */
  tokens: string[];
  /** Unacknowledged frames allowed per connection. */
  window: number;
  /** Measure for this long (ms) … */
  durationMs?: number;
  /** … or until this many positions are acknowledged, whichever comes first. */
  count?: number;
  seed: number;
  /** Where positions lie (the same area as the fences). */
  area: Area;
  /** Connections opened at the same time while authenticating (default 50). */
  connectConcurrency?: number;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  devices: number;
  window: number;
  /** Measured wall time in ms. */
  elapsedMs: number;
  /** Positions acknowledged `accepted` or `duplicate` inside the measured time. */
  acked: number;
  rejected: number;
  errors: number;
  /** Acknowledged positions per second. */
  rate: number;
  /** Ack latency in milliseconds. */
  latencyMs: LatencySummary;
  /** Time to open and authenticate every connection, ms. */
  connectMs: number;
  /** A few of the rejections / errors, to tell a wrong setup from a slow one. */
  samples: string[];
}

const WALK_SPEED = 1.4;
const M_PER_DEG_LAT = 111_320;

/** A seeded walk through the area at walking speed: the positions every protocol's load sends. */
export class Walk {
  private lon: number;
  private lat: number;
  private heading: number;
  private lastTime = 0;

  constructor(
    private readonly random: () => number,
    private readonly area: Area,
  ) {
    this.lon = area.west + random() * (area.east - area.west);
    this.lat = area.south + random() * (area.north - area.south);
    this.heading = random() * 2 * Math.PI;
  }

  /** The next position: strictly increasing times (ms) near now, heading in [0, 360) to 0.1°. */
  next(now: number): { time: number; lon: string; lat: string; heading: number; speed: number } {
    const time = Math.max(now, this.lastTime + 1);
    const dt = this.lastTime === 0 ? 1 : (time - this.lastTime) / 1000;
    this.lastTime = time;
    this.heading += (this.random() - 0.5) * 0.3;
    const step = WALK_SPEED * dt;
    this.lat += (Math.cos(this.heading) * step) / M_PER_DEG_LAT;
    this.lon += (Math.sin(this.heading) * step) / (M_PER_DEG_LAT * Math.cos((this.lat * Math.PI) / 180));
    // Turn back at the edge of the area.
    if (this.lat < this.area.south || this.lat > this.area.north || this.lon < this.area.west || this.lon > this.area.east) {
      this.heading += Math.PI;
      this.lat = Math.min(this.area.north, Math.max(this.area.south, this.lat));
      this.lon = Math.min(this.area.east, Math.max(this.area.west, this.lon));
    }
    // Rounded before the modulo, so that 359.96° becomes 0, not an out-of-range 360.0.
    const heading = ((Math.round((this.heading * 1800) / Math.PI) % 3600) + 3600) % 3600 / 10;
    return { time, lon: this.lon.toFixed(6), lat: this.lat.toFixed(6), heading, speed: WALK_SPEED };
  }
}

/** One device: its socket, its walk through the area and its frames in flight. */
class LoadDevice {
  readonly ws: WebSocket;
  private readonly walk: Walk;
  private seq = 0;
  readonly sentAt = new Map<string, number>();

  constructor(url: string, random: () => number, area: Area) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.walk = new Walk(random, area);
  }

  /** The next `position` frame. */
  nextFrame(now: number): string {
    const p = this.walk.next(now);
    const id = `p${++this.seq}`;
    this.sentAt.set(id, performance.now());
    return `{"type":"position","id":"${id}","fix":{"time":${p.time},"lon":${p.lon},"lat":${p.lat},"accuracy":10,"speed":${p.speed},"heading":${p.heading},"battery":80}}`;
  }
}

/** Runs the load and reports what it measured. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const random = mulberry32(options.seed);
  const devices: LoadDevice[] = [];
  const samples: string[] = [];
  const note = (s: string): void => {
    if (samples.length < 5) samples.push(s);
  };

  const connectStart = performance.now();
  try {
    await forEachLimited(options.tokens, options.connectConcurrency ?? 50, async (token) => {
      const device = new LoadDevice(options.url, mulberry32(Math.floor(random() * 2 ** 32)), options.area);
      devices.push(device);
      await authenticate(device.ws, token);
    });
  } catch (err) {
    for (const device of devices) device.ws.terminate();
    throw err;
  }
  const connectMs = performance.now() - connectStart;

  const latencies = new SampleBuffer();
  let acked = 0;
  let rejected = 0;
  let errors = 0;
  let measuring = true;
  let start = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const stop = (): void => {
    if (!measuring) return;
    measuring = false;
    finish();
  };

  for (const device of devices) {
    device.ws.removeAllListeners('message');
    device.ws.on('message', (data) => {
      const now = performance.now();
      const frame = JSON.parse(String(data)) as { type: string; id?: string; status?: string; code?: string; detail?: string; reason?: string };
      if (frame.type === 'ack' && frame.id !== undefined) {
        const sent = device.sentAt.get(frame.id);
        if (sent === undefined) return;
        device.sentAt.delete(frame.id);
        if (!measuring) return;
        if (frame.status === 'accepted' || frame.status === 'duplicate') {
          acked++;
          latencies.push(now - sent);
        } else {
          rejected++;
          note(`rejected: ${frame.code ?? ''} ${frame.reason ?? ''}`);
        }
        if (options.count !== undefined && acked >= options.count) return stop();
        device.ws.send(device.nextFrame(Date.now()));
      } else if (frame.type === 'error') {
        errors++;
        note(`error: ${frame.code ?? ''} ${frame.detail ?? ''}`);
        if (frame.id !== undefined && device.sentAt.delete(frame.id) && measuring) device.ws.send(device.nextFrame(Date.now()));
      }
      // `message` frames and others are not part of this benchmark.
    });
    device.ws.on('error', (err) => {
      errors++;
      note(`socket error: ${err.message}`);
    });
    device.ws.on('close', (code) => {
      if (measuring) {
        errors++;
        note(`connection closed with ${code}`);
      }
    });
  }

  start = performance.now();
  const timer = setTimeout(stop, options.durationMs ?? 10_000);
  for (const device of devices) for (let i = 0; i < options.window; i++) device.ws.send(device.nextFrame(Date.now()));
  await done;
  clearTimeout(timer);
  const elapsedMs = performance.now() - start;

  await Promise.all(
    devices.map(
      (d) =>
        new Promise<void>((resolve) => {
          if (d.ws.readyState === WebSocket.CLOSED) return resolve();
          d.ws.once('close', () => resolve());
          d.ws.close(1000);
          setTimeout(() => {
            d.ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    ),
  );

  return {
    devices: devices.length,
    window: options.window,
    elapsedMs: Math.round(elapsedMs),
    acked,
    rejected,
    errors,
    rate: Math.round((acked / elapsedMs) * 1000),
    latencyMs: latencies.summary(),
    connectMs: Math.round(connectMs),
    samples,
  };
}

function authenticate(ws: WebSocket, token: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      reject(new Error(`device connection failed: ${why}`));
    };
    const timer = setTimeout(() => fail('no welcome within 15 s'), 15_000);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', token, client: 'followme-bench/1' })));
    ws.on('error', (err) => fail(err.message));
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; code?: string; detail?: string };
      if (frame.type === 'welcome') {
        clearTimeout(timer);
        resolve();
      } else if (frame.type === 'error') fail(`${frame.code ?? ''} ${frame.detail ?? ''}`);
    });
  });
}

/** Runs `task` for every item with at most `limit` running at once. */
export async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Latency samples in a growing typed array (millions of samples cost tens of MB, not objects). */
export class SampleBuffer {
  private data = new Float64Array(1 << 16);
  private n = 0;

  push(v: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = v;
  }

  summary(): LatencySummary {
    if (this.n === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN };
    const sorted = this.data.subarray(0, this.n).sort();
    const at = (q: number): number => round2(sorted[Math.min(this.n - 1, Math.floor(q * this.n))]!);
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round2(sorted[this.n - 1]!) };
  }
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
