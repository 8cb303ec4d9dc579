/**
 * Turns a decoded position object into a Fix. Lenient on purpose: it converts representations
 * (ISO or epoch times) and leaves judging values to the tracker's validate stage, so every
 * protocol gets the same checks and the same reasons.
 */
import type { Fix } from '../core/types.js';

/** Epoch ms from a number (epoch ms; or epoch seconds when below 1e11) or an ISO 8601 string; NaN when neither. */
export function parseTime(value: unknown): number {
  if (typeof value === 'number') return value < 1e11 && value > -1e11 ? value * 1000 : value;
  if (typeof value === 'string' && value.trim() !== '') {
    const text = value.trim();
    if (/^-?\d+(\.\d+)?$/.test(text)) return parseTime(Number(text));
    // ISO 8601 needs a zone; "yyyy-MM-dd HH:mm:ss" without one is read as UTC
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(' ', 'T')}Z`;
    return Date.parse(iso);
  }
  return Number.NaN;
}

/** The native protocol's fix object (docs/device-protocol.md, section 2) as a Fix. */
export function decodeNativeFix(raw: unknown): Fix {
  const o = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const fix: Fix = { time: parseTime(o.time), lon: o.lon as number, lat: o.lat as number };
  if (o.accuracy !== undefined) fix.accuracy = o.accuracy as number;
  if (o.altitude !== undefined) fix.altitude = o.altitude as number;
  if (o.speed !== undefined) fix.speed = o.speed as number;
  if (o.heading !== undefined) fix.heading = o.heading as number;
  if (o.battery !== undefined) fix.battery = o.battery as number;
  if (o.charging !== undefined) fix.charging = o.charging as boolean;
  return fix;
}
