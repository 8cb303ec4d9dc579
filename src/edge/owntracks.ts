/**
 * The OwnTracks decoder: one JSON message of the OwnTracks app (HTTP body or MQTT payload), plain or
 * encrypted. `location` becomes a Fix; `transition`, `waypoint(s)`, `lwt`, `card`, `status` and any
 * other `_type` become events. Who sent it is not in the payload: HTTP Basic auth or the MQTT topic
 * says that, so the transports fill the claim.
 *
 * Encryption (`{"_type":"encrypted","data":…}`) is libsodium's secretbox: `data` is
 * base64(nonce (24 bytes) ‖ ciphertext), the key is the passphrase's UTF-8 bytes, zero-padded or cut
 * to 32 bytes, as the apps derive it.
 */
import type { Friend } from './deps.js';
import type { Position } from '../core/types.js';
import type { DeviceRegion, ReportedEvent } from '../services/geofence/index.js';
import sodium from 'libsodium-wrappers';
import { AppError, invalid } from '../core/errors.js';
import { numberFrom, withOptional, type Decoded, type Decoder, type DeviceEvent } from './decoder.js';

await sodium.ready;

export interface OwntracksPayload {
  /** The message as it arrived. */
  payload: string | Buffer;
  /** The device's encryption passphrase, when one is set; needed only for `_type: encrypted`. */
  key?: string | null | undefined;
}

const NONCE_BYTES = 24;
const MAC_BYTES = 16;

export class OwntracksDecoder implements Decoder<OwntracksPayload> {
  readonly protocol = 'owntracks';

  decode(input: OwntracksPayload): Decoded {
    const text = typeof input.payload === 'string' ? input.payload : input.payload.toString('utf8');
    let message = parseMessage(text);
    if (message._type === 'encrypted') message = parseMessage(decrypt(message, input.key), true);
    return decodeMessage(message);
  }
}

/** Whether a payload is encrypted, so a transport looks the key up only when it is needed. */
export function looksEncrypted(payload: string | Buffer): boolean {
  return /"_type"\s*:\s*"encrypted"/.test(typeof payload === 'string' ? payload : payload.toString('utf8', 0, 200));
}

/** The key OwnTracks derives from a passphrase: its UTF-8 bytes, zero-padded or cut to 32 bytes. */
export function owntracksKey(passphrase: string): Uint8Array {
  const key = new Uint8Array(sodium.crypto_secretbox_KEYBYTES);
  key.set(new TextEncoder().encode(passphrase).subarray(0, key.length));
  return key;
}

/** Encrypts a message as the app does (for tests, and for sending to devices that expect it). */
export function encryptOwntracks(message: object, passphrase: string): { _type: 'encrypted'; data: string } {
  const nonce = sodium.randombytes_buf(NONCE_BYTES);
  const box = sodium.crypto_secretbox_easy(new TextEncoder().encode(JSON.stringify(message)), nonce, owntracksKey(passphrase));
  const data = new Uint8Array(nonce.length + box.length);
  data.set(nonce);
  data.set(box, nonce.length);
  return { _type: 'encrypted', data: Buffer.from(data).toString('base64') };
}

function parseMessage(text: string, decrypted = false): Record<string, unknown> & { _type: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('malformed_json', decrypted ? 'the decrypted payload is not valid JSON' : 'the payload is not valid JSON; OwnTracks sends one JSON object with a _type');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('_type', 'the payload must be a JSON object with a _type');
  const message = value as Record<string, unknown>;
  if (typeof message._type !== 'string' || message._type === '') throw invalid('_type', `must name the message type (location, transition, …), got ${JSON.stringify(message._type) ?? 'nothing'}`);
  if (decrypted && message._type === 'encrypted') throw invalid('_type', 'an encrypted payload must not contain another encrypted payload');
  return message as Record<string, unknown> & { _type: string };
}

function decrypt(message: Record<string, unknown>, passphrase: string | null | undefined): string {
  if (!passphrase) throw new AppError('unauthenticated', 'the payload is encrypted but no OwnTracks key is set for this device; set the same key as in the app (owntracksKey)');
  if (typeof message.data !== 'string') throw invalid('data', 'an encrypted payload needs data: base64 of nonce and ciphertext');
  const data = Buffer.from(message.data, 'base64');
  if (data.length < NONCE_BYTES + MAC_BYTES) throw invalid('data', `is ${data.length} bytes; nonce and ciphertext need at least ${NONCE_BYTES + MAC_BYTES}`);
  let plain: Uint8Array;
  try {
    plain = sodium.crypto_secretbox_open_easy(data.subarray(NONCE_BYTES), data.subarray(0, NONCE_BYTES), owntracksKey(passphrase));
  } catch {
    throw new AppError('unauthenticated', 'the payload cannot be decrypted: the app\'s encryption key differs from the one set for this device');
  }
  return Buffer.from(plain).toString('utf8');
}

function decodeMessage(m: Record<string, unknown> & { _type: string }): Decoded {
  const tst = numberFrom(m.tst);
  const time = tst === undefined ? undefined : tst * 1000;
  // a number JSON allows can still overflow to ±Infinity in milliseconds
  if (time !== undefined && !Number.isFinite(time)) throw invalid('tst', `must be epoch seconds, got ${JSON.stringify(m.tst)}`);
  if (m._type !== 'location') {
    const event: DeviceEvent = { type: m._type, data: m };
    if (time !== undefined) event.time = time;
    const decoded: Decoded = { fixes: [], events: [event] };
    if (m._type === 'waypoint') decoded.regions = [region(m, '')];
    if (m._type === 'waypoints') {
      if (!Array.isArray(m.waypoints)) throw invalid('waypoints', `must be an array of waypoint objects, got ${JSON.stringify(m.waypoints) ?? 'nothing'}`);
      decoded.regions = m.waypoints.map((w: unknown, i) => {
        if (typeof w !== 'object' || w === null) throw invalid(`waypoints[${i}]`, 'must be a waypoint object');
        return region(w as Record<string, unknown>, `waypoints[${i}].`);
      });
    }
    if (m._type === 'transition') decoded.reported = [transition(m, time)];
    return decoded;
  }
  const lat = numberFrom(m.lat);
  const lon = numberFrom(m.lon);
  if (lat === undefined) throw invalid('lat', `must be a number of degrees, got ${JSON.stringify(m.lat) ?? 'nothing'}`);
  if (lon === undefined) throw invalid('lon', `must be a number of degrees, got ${JSON.stringify(m.lon) ?? 'nothing'}`);
  if (time === undefined) throw invalid('tst', `must be the fix time in epoch seconds, got ${JSON.stringify(m.tst) ?? 'nothing'}`);
  const vel = numberFrom(m.vel);
  const cog = numberFrom(m.cog);
  const bs = numberFrom(m.bs);
  const fix = withOptional({ time, lon, lat }, {
    accuracy: numberFrom(m.acc),
    altitude: numberFrom(m.alt),
    speed: vel === undefined || vel < 0 ? undefined : vel / 3.6,
    heading: cog === undefined || cog < 0 ? undefined : cog % 360,
    battery: numberFrom(m.batt),
    // bs: 0 unknown, 1 unplugged, 2 charging, 3 full (still plugged in)
    charging: bs === 1 ? false : bs === 2 || bs === 3 ? true : undefined,
  });
  return { fixes: [fix], events: [] };
}

/** A region from an OwnTracks waypoint: `desc`, `lat`, `lon`, `rad` (m); keyed by `rid`, or by `tst` (its creation time) from apps that send no rid. */
function region(w: Record<string, unknown>, at: string): DeviceRegion {
  const lat = degrees(w.lat, `${at}lat`, 90);
  const lon = degrees(w.lon, `${at}lon`, 180);
  const rad = numberFrom(w.rad);
  if (rad === undefined || rad <= 0) throw invalid(`${at}rad`, `must be the region's radius in metres, above 0 (beacon regions are not kept), got ${JSON.stringify(w.rad) ?? 'nothing'}`);
  const key = regionKey(w);
  if (key === undefined) throw invalid(`${at}rid`, 'a waypoint needs rid (or tst) to be told apart from the others');
  const desc = typeof w.desc === 'string' && w.desc.trim() !== '' ? w.desc.trim() : `Region ${key}`;
  return { key, name: desc.slice(0, 200), lon, lat, radius: rad };
}

/** The event of an OwnTracks transition: `event` enter/leave for the region `rid` (or `wtst`, the waypoint's creation time). */
function transition(t: Record<string, unknown>, time: number | undefined): ReportedEvent {
  if (t.event !== 'enter' && t.event !== 'leave') throw invalid('event', `must be "enter" or "leave", got ${JSON.stringify(t.event) ?? 'nothing'}`);
  const lat = degrees(t.lat, 'lat', 90);
  const lon = degrees(t.lon, 'lon', 180);
  if (time === undefined) throw invalid('tst', `must be the time of the transition in epoch seconds, got ${JSON.stringify(t.tst) ?? 'nothing'}`);
  const key = typeof t.rid === 'string' && t.rid !== '' ? t.rid : numberFrom(t.wtst)?.toString();
  if (key === undefined) throw invalid('rid', 'a transition needs rid (or wtst) to name its region');
  const report: ReportedEvent = { key, type: t.event === 'enter' ? 'enter' : 'exit', time, lon, lat };
  const acc = numberFrom(t.acc);
  if (acc !== undefined && acc >= 0) report.accuracy = acc;
  if (typeof t.desc === 'string' && t.desc.trim() !== '') report.name = t.desc.trim().slice(0, 200);
  return report;
}

function degrees(value: unknown, field: string, limit: 90 | 180): number {
  const n = numberFrom(value);
  if (n === undefined || n < -limit || n > limit) throw invalid(field, `must be a number of degrees from -${limit} to ${limit}, got ${JSON.stringify(value) ?? 'nothing'}`);
  return n;
}

function regionKey(w: Record<string, unknown>): string | undefined {
  if (typeof w.rid === 'string' && w.rid !== '') return w.rid;
  return numberFrom(w.tst)?.toString();
}

/** How OwnTracks shows a followed person: two letters on the map and their newest position (vel in km/h, as the app sends it). */
export function toFriend(name: string, p: Position): Friend {
  const words = name.split(/\s+/).filter(Boolean);
  const initials = (words.length > 1 ? words.map((w) => w[0]!).join('') : name).slice(0, 2).toUpperCase();
  const location: Friend['location'] = { lat: p.lat, lon: p.lon, tst: Math.floor(p.time / 1000) };
  if (p.accuracy !== undefined) location.acc = Math.round(p.accuracy);
  if (p.altitude !== undefined) location.alt = Math.round(p.altitude);
  if (p.speed !== undefined) location.vel = Math.round(p.speed * 3.6);
  if (p.heading !== undefined) location.cog = Math.round(p.heading);
  if (p.battery !== undefined) location.batt = Math.round(p.battery);
  return { tid: initials, name, location };
}

/** The `location` message the app shows a friend by. */
export function friendLocation(friend: Friend): object {
  return { _type: 'location', tid: friend.tid, ...friend.location };
}

/** The `card` message that names a friend (OwnTracks reads it from `…/info` in MQTT mode). */
export function friendCard(friend: Friend): object {
  return { _type: 'card', tid: friend.tid, name: friend.name };
}
