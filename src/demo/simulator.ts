/**
 * Moves simulated devices along the demo routes and speaks the native device protocol for them,
 * so that a demo shows live positions, fence events and the whole message delivery cycle.
 * Given a seed, every device's movement, noise and battery are reproducible.
 */
import { distanceMetres } from '../core/geo.js';
import type { Logger } from '../core/log.js';
import { mulberry32 } from '../core/random.js';
import { demoRoutes, type DemoRoute, type LonLat, type TravelMode } from './city.js';
import { DeviceClient, DeviceClientError, type MessageFrame, type WireFix } from './device-client.js';

/** Typical speeds in m/s. */
export const MODE_SPEED: Readonly<Record<TravelMode, number>> = { walk: 1.4, bike: 4.5, car: 9 };

export { mulberry32 };

const EARTH_RADIUS_M = 6_371_008.8;
const DEG = Math.PI / 180;

/** Distance in metres between two [lon, lat] points (WGS84, src/core/geo.ts). */
export function distanceMeters(a: LonLat, b: LonLat): number {
  return distanceMetres(a[0], a[1], b[0], b[1]);
}

/** Initial bearing from a to b, degrees clockwise from north in [0, 360). */
export function bearingDegrees(a: LonLat, b: LonLat): number {
  const φ1 = a[1] * DEG;
  const φ2 = b[1] * DEG;
  const Δλ = (b[0] - a[0]) * DEG;
  const y = Math.sin(Δλ) * Math.cos(φ2);
  const x = Math.cos(φ1) * Math.sin(φ2) - Math.sin(φ1) * Math.cos(φ2) * Math.cos(Δλ);
  return ((Math.atan2(y, x) / DEG) % 360 + 360) % 360;
}

/** Moves a point by metres east and north (local flat approximation, fine for tens of metres). */
function offsetMeters(p: LonLat, east: number, north: number): LonLat {
  return [p[0] + east / (EARTH_RADIUS_M * Math.cos(p[1] * DEG)) / DEG, p[1] + north / EARTH_RADIUS_M / DEG];
}

/** Distance in metres from p to the nearest point of a polyline (flat approximation around p). */
export function distanceToPath(p: LonLat, path: LonLat[]): number {
  const kx = EARTH_RADIUS_M * Math.cos(p[1] * DEG) * DEG;
  const ky = EARTH_RADIUS_M * DEG;
  let best = Infinity;
  for (let i = 1; i < path.length; i++) {
    const ax = (path[i - 1]![0] - p[0]) * kx;
    const ay = (path[i - 1]![1] - p[1]) * ky;
    const bx = (path[i]![0] - p[0]) * kx;
    const by = (path[i]![1] - p[1]) * ky;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2));
    best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy));
  }
  return best;
}

/** A standard normal deviate from a uniform source (Box–Muller). */
function gaussian(random: () => number): number {
  const u = 1 - random(); // (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** A fix the model produces: every optional field of the protocol is filled in. */
export interface SimulatedFix extends WireFix {
  time: number;
  accuracy: number;
  speed: number;
  heading: number;
  altitude: number;
  battery: number;
  charging: boolean;
}

/** GPS error decorrelates over about half a minute (multipath, satellite geometry), it is not white noise. */
const NOISE_CORRELATION_S = 30;
/** Accuracy is the 68 % radius; for a 2-D normal error with per-axis σ that radius is 1.51 σ. */
const ACCURACY_PER_SIGMA = Math.sqrt(-2 * Math.log(1 - 0.68));
/** Berlin lies about 35 m above sea level, and the geoid about 39 m above the ellipsoid there. */
const ELLIPSOID_ALTITUDE_M = 74;
/** Percent per hour. */
const DRAIN: Readonly<Record<TravelMode, number>> = { walk: 4, bike: 5, car: 3 };
const CHARGE_PER_HOUR = 40;

/**
 * One device's movement along a route, back and forth, with realistic GPS error and battery.
 * Pure: it depends only on the route, the random source and the time steps it is given.
 */
export class DeviceModel {
  readonly route: DemoRoute;
  private readonly random: () => number;
  private readonly cumulative: number[];
  /** Route length in metres. */
  readonly length: number;
  /** Distance travelled along the out-and-back cycle, in [0, 2 × length). */
  private s: number;
  private speedFactor: number;
  private accuracy: number;
  private noiseEast = 0;
  private noiseNorth = 0;
  private battery: number;
  private charging = false;

  constructor(route: DemoRoute, random: () => number) {
    this.route = route;
    this.random = random;
    this.cumulative = [0];
    for (let i = 1; i < route.path.length; i++) this.cumulative.push(this.cumulative[i - 1]! + distanceMeters(route.path[i - 1]!, route.path[i]!));
    this.length = this.cumulative[this.cumulative.length - 1]!;
    this.s = random() * 2 * this.length;
    this.speedFactor = 0.85 + random() * 0.3;
    this.accuracy = 5 + random() * 20;
    const sigma = this.accuracy / ACCURACY_PER_SIGMA;
    this.noiseEast = gaussian(random) * sigma;
    this.noiseNorth = gaussian(random) * sigma;
    this.battery = 30 + random() * 70;
  }

  /** Current speed over ground in m/s (without noise). */
  get speed(): number {
    return MODE_SPEED[this.route.mode] * this.speedFactor;
  }

  /** Where the device really is (no GPS error). */
  truePosition(): LonLat {
    return this.locate().point;
  }

  /** Advances by `dtMs` and reports the fix a phone would take at `time` (epoch ms). */
  step(dtMs: number, time: number): SimulatedFix {
    const dt = Math.max(0, dtMs) / 1000;
    const r = this.random;
    // Speed drifts slowly around the typical one for the mode.
    this.speedFactor = clamp(this.speedFactor + gaussian(r) * 0.05 * Math.sqrt(dt), 0.7, 1.3);
    this.s = (this.s + this.speed * dt) % (2 * this.length);

    // Accuracy wanders between 5 and 25 m; the position error is a correlated process consistent with it.
    this.accuracy = clamp(this.accuracy + gaussian(r) * 0.5 * Math.sqrt(dt), 5, 25);
    const sigma = this.accuracy / ACCURACY_PER_SIGMA;
    const rho = Math.exp(-dt / NOISE_CORRELATION_S);
    const fresh = Math.sqrt(1 - rho * rho) * sigma;
    this.noiseEast = rho * this.noiseEast + fresh * gaussian(r);
    this.noiseNorth = rho * this.noiseNorth + fresh * gaussian(r);
    // Receivers reject wild outliers themselves; keep the error within 3 σ (≤ 50 m).
    const magnitude = Math.hypot(this.noiseEast, this.noiseNorth);
    if (magnitude > 3 * sigma) {
      this.noiseEast *= (3 * sigma) / magnitude;
      this.noiseNorth *= (3 * sigma) / magnitude;
    }

    const hours = dt / 3600;
    if (this.charging) {
      this.battery = Math.min(100, this.battery + CHARGE_PER_HOUR * hours);
      if (this.battery >= 95) this.charging = false;
    } else {
      this.battery = Math.max(0, this.battery - DRAIN[this.route.mode] * hours * (0.8 + r() * 0.4));
      if (this.battery <= 15) this.charging = true;
    }

    const { point, heading } = this.locate();
    const [lon, lat] = offsetMeters(point, this.noiseEast, this.noiseNorth);
    return {
      time,
      lon: round(lon, 6),
      lat: round(lat, 6),
      accuracy: round(this.accuracy, 1),
      speed: round(Math.max(0, this.speed * (1 + gaussian(r) * 0.05)), 2),
      heading: round((((heading + gaussian(r) * 3) % 360) + 360) % 360, 1) % 360,
      altitude: round(ELLIPSOID_ALTITUDE_M + gaussian(r) * 0.8 * this.accuracy, 1),
      battery: Math.round(this.battery),
      charging: this.charging,
    };
  }

  /** The point at the current distance, walking out along the path and then back. */
  private locate(): { point: LonLat; heading: number } {
    const forward = this.s < this.length;
    const d = forward ? this.s : 2 * this.length - this.s;
    const path = this.route.path;
    let i = 1;
    while (i < path.length - 1 && this.cumulative[i]! < d) i++;
    const a = path[i - 1]!;
    const b = path[i]!;
    const segment = this.cumulative[i]! - this.cumulative[i - 1]!;
    const t = segment === 0 ? 0 : (d - this.cumulative[i - 1]!) / segment;
    const point: LonLat = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
    return { point, heading: forward ? bearingDegrees(a, b) : bearingDegrees(b, a) };
  }
}

function round(v: number, digits: number): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

export interface SimulatorOptions {
  /** `ws://host:port/device/v1` */
  url: string;
  /** One device token per simulated device. */
  tokens: string[];
  /** Makes movement, noise and behaviour reproducible; random when absent. */
  seed?: number;
  /** Mean time between fixes (default 5,000 ms; each interval is jittered by ±20 %). */
  intervalMs?: number;
  routes?: DemoRoute[];
  logger?: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** How long the simulated person takes to open, and then to answer, a message (default 1–4 s each). */
  reactionMs?: { min: number; max: number };
  /** Passed to each DeviceClient (tests use short back-off). */
  backoff?: { initialMs?: number; maxMs?: number };
}

interface SimulatedDevice {
  index: number;
  model: DeviceModel;
  client: DeviceClient;
  /** Movement and noise; kept apart from `behaviour` so that message traffic does not change the track. */
  movement: () => number;
  behaviour: () => number;
  timer: NodeJS.Timeout | null;
  stopped: boolean;
}

/** Runs N simulated devices against a Follow Me server. */
export class Simulator {
  private readonly options: SimulatorOptions;
  private readonly intervalMs: number;
  private readonly devices: SimulatedDevice[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = false;

  constructor(options: SimulatorOptions) {
    if (options.tokens.length === 0) throw new Error('Simulator needs at least one device token');
    const routes = options.routes ?? demoRoutes;
    if (routes.length === 0) throw new Error('Simulator needs at least one route');
    this.options = options;
    this.intervalMs = options.intervalMs ?? 5000;
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    options.tokens.forEach((token, index) => {
      const movement = mulberry32(seed + Math.imul(index + 1, 0x9e3779b9));
      const behaviour = mulberry32(seed ^ Math.imul(index + 1, 0x85ebca6b));
      const client = new DeviceClient({
        url: options.url,
        token,
        client: 'followme-simulator/1',
        random: behaviour,
        ...(options.logger ? { logger: options.logger } : {}),
        ...(options.backoff ? { backoff: options.backoff } : {}),
      });
      const model = new DeviceModel(routes[index % routes.length]!, movement);
      this.devices.push({ index, model, client, movement, behaviour, timer: null, stopped: false });
    });
  }

  /** How many devices this simulator moves. */
  get size(): number {
    return this.devices.length;
  }

  /** Connects every device and starts reporting; returns at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const device of this.devices) {
      device.client.onMessage((message) => this.react(device, message));
      device.client.connect().catch((err: Error) => this.retire(device, err));
      // Spread the first fixes over one interval so the server does not see them all at once.
      this.schedule(device, device.behaviour() * this.intervalMs);
    }
  }

  /** Stops every device and closes its connection. */
  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const device of this.devices) {
      device.stopped = true;
      device.timer = null;
    }
    await Promise.all(this.devices.map((d) => d.client.close()));
  }

  private schedule(device: SimulatedDevice, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      device.timer = null;
      this.report(device, delayMs);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
    device.timer = timer;
  }

  private report(device: SimulatedDevice, elapsedMs: number): void {
    if (device.stopped) return;
    // The model advances by the scheduled interval, not the measured one, so a seed fixes the track.
    const fix = device.model.step(elapsedMs, Date.now());
    device.client.send(fix).then(
      (result) => {
        if (result.status === 'rejected') this.options.logger?.warn({ device: device.index, result }, 'simulated fix rejected');
      },
      (err: Error) => this.retire(device, err),
    );
    this.schedule(device, this.intervalMs * (0.8 + device.behaviour() * 0.4));
  }

  /** Reads the message after a moment, then acknowledges it (with the first option, if any). */
  private react(device: SimulatedDevice, message: MessageFrame): void {
    const { min, max } = this.options.reactionMs ?? { min: 1000, max: 4000 };
    const pause = (): number => min + device.behaviour() * (max - min);
    const later = (delay: number, action: () => void): void => {
      if (device.stopped) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!device.stopped) action();
      }, delay);
      timer.unref();
      this.timers.add(timer);
    };
    const failed = (err: Error): void => {
      if (!(err instanceof DeviceClientError && err.code === 'closed')) this.options.logger?.warn({ device: device.index, deliveryId: message.deliveryId, err: err.message }, 'receipt failed');
    };
    later(pause(), () => {
      device.client.receipt(message.deliveryId, 'read').catch(failed);
      later(pause(), () => {
        device.client.receipt(message.deliveryId, 'acknowledged', message.options?.[0]).catch(failed);
      });
    });
  }

  /** A device whose token is refused (or whose client closed) stops moving. */
  private retire(device: SimulatedDevice, err: Error): void {
    if (err instanceof DeviceClientError && err.code === 'closed') return;
    if (device.stopped) return;
    device.stopped = true;
    if (device.timer) {
      clearTimeout(device.timer);
      this.timers.delete(device.timer);
      device.timer = null;
    }
    this.options.logger?.warn({ device: device.index, err: err.message }, 'simulated device stopped');
  }
}
