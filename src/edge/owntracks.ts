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
  if (m._type !== 'location') {
    const event: DeviceEvent = { type: m._type, data: m };
    if (time !== undefined) event.time = time;
    return { fixes: [], events: [event] };
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
