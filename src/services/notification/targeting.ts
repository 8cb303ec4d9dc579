/** Whom a message is for: validating a target, and the area test against last known positions. */
import { invalid } from '../../core/errors.js';
import { parseFenceShape, shapeContains, type FenceShape } from '../../core/geometry.js';
import { CHANNELS, type ChannelName } from './channels/index.js';

/** Whom a message is for. Devices, users and groups are expanded by the client service; fences by the geofence service; areas against the tracker's last known positions. */
export interface Target {
  deviceIds?: string[] | undefined;
  userIds?: string[] | undefined;
  groupIds?: string[] | undefined;
  /** Everyone inside these fences now. */
  fenceIds?: string[] | undefined;
  /** Everyone whose last known position is inside this area drawn for the message (GeoJSON Polygon/MultiPolygon, or Point with radius). */
  area?: { geometry: unknown; radius?: number | undefined; width?: number | undefined } | undefined;
  /** With `area`: only positions fresher than this many minutes count. */
  maxAgeMinutes?: number | undefined;
  /** The tenant's responders (notification settings). */
  responders?: boolean | undefined;
}

/** A last known position, as the tracker reports it. */
export interface KnownPosition {
  deviceId: string;
  lon: number;
  lat: number;
  time: number;
}

const ID_LISTS = ['deviceIds', 'userIds', 'groupIds', 'fenceIds'] as const;

/** Checks a target's shape and area; throws validation errors naming the field. */
export function normalizeTarget(target: unknown, field = 'target'): Target {
  if (!target || typeof target !== 'object') throw invalid(field, 'must be an object with deviceIds, userIds, groupIds, fenceIds or area');
  const t = target as Record<string, unknown>;
  const out: Target = {};
  for (const key of ID_LISTS) {
    const value = t[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(`${field}.${key}`, 'must be an array of ids');
    out[key] = [...new Set(value as string[])];
  }
  if (t.area !== undefined) {
    const area = t.area as Record<string, unknown> | null;
    if (!area || typeof area !== 'object') throw invalid(`${field}.area`, 'must be { geometry, radius?, width? } with a GeoJSON Polygon, MultiPolygon, Point (with radius in metres) or LineString (with width in metres)');
    parseFenceShape(area.geometry, area.radius, `${field}.area.geometry`, area.width);
    out.area = { geometry: area.geometry };
    if (area.radius !== undefined) out.area.radius = area.radius as number;
    if (area.width !== undefined) out.area.width = area.width as number;
  }
  if (t.maxAgeMinutes !== undefined) {
    if (typeof t.maxAgeMinutes !== 'number' || !(t.maxAgeMinutes > 0)) throw invalid(`${field}.maxAgeMinutes`, 'must be a number of minutes greater than 0');
    if (!out.area) throw invalid(`${field}.maxAgeMinutes`, 'applies only together with an area');
    out.maxAgeMinutes = t.maxAgeMinutes;
  }
  if (t.responders !== undefined) {
    if (typeof t.responders !== 'boolean') throw invalid(`${field}.responders`, 'must be true (the tenant\'s responders) or false');
    if (t.responders) out.responders = true;
  }
  if (!ID_LISTS.some((k) => (out[k]?.length ?? 0) > 0) && !out.area && !out.responders) throw invalid(field, 'names nobody: give at least one of deviceIds, userIds, groupIds, fenceIds, area, responders');
  return out;
}

/** The parsed shape of a target's area. */
export function areaShape(target: Target, field = 'target'): FenceShape | undefined {
  return target.area ? parseFenceShape(target.area.geometry, target.area.radius, `${field}.area.geometry`, target.area.width) : undefined;
}

/** The devices whose last known position lies in the shape (and is fresh enough, when asked). */
export function devicesInArea(shape: FenceShape, positions: KnownPosition[], maxAgeMinutes: number | undefined, now = Date.now()): string[] {
  const oldest = maxAgeMinutes === undefined ? -Infinity : now - maxAgeMinutes * 60_000;
  return positions.filter((p) => p.time >= oldest && shapeContains(shape, p.lon, p.lat)).map((p) => p.deviceId);
}

/** Checks a list of channel names; default in-app only. */
export function normalizeChannels(value: unknown): ChannelName[] {
  if (value === undefined) return ['app'];
  if (!Array.isArray(value) || value.length === 0) throw invalid('channels', `must be a non-empty array of ${CHANNELS.join(', ')}`);
  for (const [i, c] of value.entries()) {
    if (!(CHANNELS as readonly unknown[]).includes(c)) throw invalid(`channels[${i}]`, `must be one of ${CHANNELS.join(', ')}, got ${JSON.stringify(c)}`);
  }
  return [...new Set(value as ChannelName[])];
}
