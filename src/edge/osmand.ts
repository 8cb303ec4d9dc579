/**
 * The OsmAnd protocol decoder (Traccar Client app, many trackers): one HTTP request carries one
 * position, in the query string (GET or POST), in a form body, or in the JSON body that newer
 * Traccar Client versions send. docs/device-protocols.md lists every field and its unit.
 */
import { AppError, invalid } from '../core/errors.js';
import type { Fix } from '../core/types.js';
import { booleanFrom, numberFrom, withOptional, type Decoded, type Decoder } from './decoder.js';
import { parseTime } from './fix.js';

export interface OsmandRequest {
  /** The raw query string, without the `?`. */
  query: string;
  /** The raw body ('' when none). */
  body: string;
  contentType?: string | undefined;
  /** Arrival time, epoch ms: the fix time when the request names none. */
  receivedAt: number;
}

export type SpeedUnit = 'knots' | 'kmh' | 'mps';

const TO_MPS: Record<SpeedUnit, number> = { knots: 1852 / 3600, kmh: 1 / 3.6, mps: 1 };
/** A typical GPS user range error: HDOP × this ≈ horizontal accuracy in metres. */
const HDOP_TO_METRES = 5;
const MAX_ID = 128;

export class OsmandDecoder implements Decoder<OsmandRequest> {
  readonly protocol = 'osmand';

  constructor(private readonly speedUnit: SpeedUnit = 'knots') {}

  decode(input: OsmandRequest): Decoded {
    const body = input.body.trim();
    if (body.startsWith('{') || /json/i.test(input.contentType ?? '')) return this.decodeJson(body, input);
    const params = new URLSearchParams(input.query);
    // A form body (or a body of query text) adds to the query string; the query string wins.
    if (body !== '') for (const [key, value] of new URLSearchParams(body)) if (!params.has(key)) params.set(key, value);
    return this.decodeParams(params, input.receivedAt);
  }

  private decodeParams(params: URLSearchParams, receivedAt: number): Decoded {
    const uniqueId = deviceId(params.get('id') ?? params.get('deviceid'));
    let lat: number | undefined;
    let lon: number | undefined;
    const location = params.get('location');
    if (location !== null) {
      const [a, b, ...rest] = location.split(',');
      lat = numberFrom(a);
      lon = numberFrom(b);
      if (lat === undefined || lon === undefined || rest.length > 0) throw invalid('location', `must be "lat,lon" in degrees, got ${JSON.stringify(location.slice(0, 60))}`);
    } else {
      lat = numberFrom(params.get('lat') ?? undefined);
      lon = numberFrom(params.get('lon') ?? undefined);
      if (lat === undefined) throw invalid('lat', `must be a number of degrees (or send location=lat,lon), got ${describe(params.get('lat'))}`);
      if (lon === undefined) throw invalid('lon', `must be a number of degrees, got ${describe(params.get('lon'))}`);
    }
    const stamp = params.get('timestamp');
    const time = stamp === null || stamp.trim() === '' ? receivedAt : parseTime(stamp);
    if (!Number.isFinite(time)) throw invalid('timestamp', `must be epoch seconds, epoch milliseconds, ISO 8601 or "yyyy-MM-dd HH:mm:ss", got ${describe(stamp)}`);
    const speed = numberFrom(params.get('speed') ?? undefined);
    const accuracy = numberFrom(params.get('accuracy') ?? undefined);
    const hdop = numberFrom(params.get('hdop') ?? undefined);
    const fix = withOptional({ time, lon, lat }, {
      speed: speed === undefined ? undefined : speed * TO_MPS[this.speedUnit],
      heading: heading(numberFrom(params.get('bearing') ?? params.get('heading') ?? undefined)),
      altitude: numberFrom(params.get('altitude') ?? undefined),
      accuracy: accuracy ?? (hdop === undefined ? undefined : hdop * HDOP_TO_METRES),
      battery: numberFrom(params.get('batt') ?? params.get('battery') ?? undefined),
      charging: booleanFrom(params.get('charge') ?? undefined),
    });
    return { claim: { kind: 'uniqueId', uniqueId }, fixes: [fix], events: [] };
  }

  /**
   * Traccar Client's JSON: `{ "device_id": "…", "location": { "timestamp": ISO, "coords": { "latitude",
   * "longitude", "accuracy", "speed" (m/s), "heading", "altitude" }, "battery": { "level" (0–1),
   * "is_charging" }, "is_moving", "odometer", … } }`. `location` may also be an array (a batch).
   */
  private decodeJson(body: string, input: OsmandRequest): Decoded {
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new AppError('malformed_json', 'the body is not valid JSON; send the Traccar Client JSON, a form, or the position in the query string');
    }
    if (!isObject(value)) throw invalid('body', 'must be a JSON object with device_id and location');
    if (value.location === undefined) {
      // A flat JSON object with the query string's names (some trackers send that).
      const params = new URLSearchParams(input.query);
      for (const [key, v] of Object.entries(value)) if (!params.has(key) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) params.set(key, String(v));
      return this.decodeParams(params, input.receivedAt);
    }
    const uniqueId = deviceId(typeof value.device_id === 'string' || typeof value.device_id === 'number' ? String(value.device_id) : new URLSearchParams(input.query).get('id'));
    const locations = Array.isArray(value.location) ? value.location : [value.location];
    if (locations.length === 0 || locations.length > 1000) throw invalid('location', `must hold 1 to 1000 locations, got ${locations.length}`);
    const fixes = locations.map((location, i) => jsonFix(location, locations.length > 1 ? `location[${i}]` : 'location', input.receivedAt));
    return { claim: { kind: 'uniqueId', uniqueId }, fixes, events: [] };
  }
}

function jsonFix(location: unknown, at: string, receivedAt: number): Fix {
  if (!isObject(location) || !isObject(location.coords)) throw invalid(`${at}.coords`, 'must be an object with latitude and longitude');
  const c = location.coords;
  const lat = numberFrom(c.latitude);
  const lon = numberFrom(c.longitude);
  if (lat === undefined) throw invalid(`${at}.coords.latitude`, `must be a number of degrees, got ${describe(c.latitude)}`);
  if (lon === undefined) throw invalid(`${at}.coords.longitude`, `must be a number of degrees, got ${describe(c.longitude)}`);
  const time = location.timestamp === undefined ? receivedAt : parseTime(location.timestamp);
  if (!Number.isFinite(time)) throw invalid(`${at}.timestamp`, `must be an ISO 8601 time or epoch milliseconds, got ${describe(location.timestamp)}`);
  const battery = isObject(location.battery) ? location.battery : {};
  const level = numberFrom(battery.level);
  const speed = numberFrom(c.speed);
  const accuracy = numberFrom(c.accuracy);
  // The app reports -1 for "unknown" speed, heading and battery level.
  return withOptional({ time, lon, lat }, {
    speed: speed !== undefined && speed >= 0 ? speed : undefined,
    heading: heading(numberFrom(c.heading)),
    altitude: numberFrom(c.altitude),
    accuracy: accuracy !== undefined && accuracy >= 0 ? accuracy : undefined,
    battery: level !== undefined && level >= 0 ? Math.round(level * 1000) / 10 : undefined,
    charging: booleanFrom(battery.is_charging),
  });
}

function deviceId(value: string | null | undefined): string {
  if (value === null || value === undefined || value.trim() === '') {
    throw invalid('id', 'is required: send the device identifier as id (or deviceid); in Traccar Client it is "Device identifier"');
  }
  const id = value.trim();
  if (id.length > MAX_ID) throw invalid('id', `must be at most ${MAX_ID} characters, got ${id.length}`);
  return id;
}

/** Degrees in [0, 360): 360 is north as well; negative values mean "unknown" and are left out. */
function heading(value: number | undefined): number | undefined {
  if (value === undefined || value < 0) return undefined;
  return value % 360;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  return JSON.stringify(typeof value === 'string' ? value.slice(0, 60) : value) ?? String(value);
}
