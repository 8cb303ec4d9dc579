/**
 * The one interface every device protocol's decoder implements. A decoder only turns what arrived
 * (a request, a payload) into what it says: who the device claims to be, its fixes, and any
 * messages that are not positions. It never authenticates, stores or answers; the transport
 * (osmand-http.ts, owntracks-http.ts, owntracks-mqtt.ts) does that, through EdgeDeps, the same way
 * for every protocol.
 *
 * A decoder throws only AppError (validation_failed, malformed_json, unauthenticated for a payload
 * it cannot decrypt), and the fixes it returns never hold NaN: a value that cannot be read is left
 * out, or the input is refused. Judging values (ranges, time window) is the tracker's job.
 */
import type { Fix } from '../core/types.js';
import type { DeviceRegion, ReportedEvent } from '../services/geofence/index.js';

/** How a device names itself in one request or payload. */
export type DeviceClaim =
  /** A Follow Me device token (native protocol, OwnTracks HTTP Basic password). */
  | { kind: 'token'; token: string }
  /** A deployment-unique identifier (OsmAnd `id`, an OwnTracks topic's `USER/DEVICE`). */
  | { kind: 'uniqueId'; uniqueId: string };

/** A decoded message that is not a position (OwnTracks transition, waypoint, lwt, card, …). */
export interface DeviceEvent {
  /** The protocol's own name for it, e.g. `transition`. */
  type: string;
  /** Epoch ms, when the message says. */
  time?: number;
  /** The message's fields as the protocol sent them. */
  data: Record<string, unknown>;
}

export interface Decoded {
  /** Absent when the protocol carries the identity outside the payload (HTTP Basic, MQTT topic). */
  claim?: DeviceClaim;
  fixes: Fix[];
  events: DeviceEvent[];
  /** Regions the device defined itself (OwnTracks waypoints). */
  regions?: DeviceRegion[];
  /** Enters and exits the device reported for its regions (OwnTracks transitions). */
  reported?: ReportedEvent[];
}

export interface Decoder<Input> {
  /** Short protocol name, used in metrics and logs: `osmand`, `owntracks`. */
  readonly protocol: string;
  decode(input: Input): Decoded;
}

/** A finite number from a number or numeric text; undefined for anything else (never NaN). */
export function numberFrom(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

/** true/false from a boolean, `true`/`false`/`1`/`0` text or 1/0; undefined otherwise. */
export function booleanFrom(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === '1' || value === 'true') return true;
  if (value === 0 || value === '0' || value === 'false') return false;
  return undefined;
}

/** Sets the optional fields of a fix that have a value; keeps the object free of undefined keys. */
export function withOptional(fix: Fix, extra: Omit<Partial<Fix>, 'time' | 'lon' | 'lat'>): Fix {
  for (const [key, value] of Object.entries(extra) as [keyof Fix, Fix[keyof Fix]][]) {
    if (value !== undefined) (fix as unknown as Record<string, unknown>)[key] = value;
  }
  return fix;
}
