/**
 * Fences as the API sees them: the shape plus attributes (name, tags, metadata, whom it applies to,
 * schedule, enabled, hysteresis, dwell), their validation, their rows, and GeoJSON Features.
 */
import { AppError, invalid } from '../../core/errors.js';
import { parseFenceShape, shapeToGeoJSON, type FenceShape, type GeoJSONGeometry } from '../../core/geometry.js';
import { DEFAULT_HYSTERESIS, type Hysteresis } from './engine.js';
import { parseSchedule, type Schedule } from './schedule.js';
import type { GeofenceDB } from './schema.js';

/** Which devices a fence applies to: members of the groups (with sub-groups) and the devices named. */
export interface AppliesTo {
  groupIds: string[];
  deviceIds: string[];
}

export interface Fence {
  id: string;
  tenantId: string;
  name: string;
  geometry: GeoJSONGeometry;
  /** Metres, for a circle (Point geometry). */
  radius?: number;
  /** Metres, for a corridor (LineString geometry): the corridor reaches width / 2 to each side. */
  width?: number;
  tags: string[];
  metadata: Record<string, unknown>;
  /** null: every device of the tenant. */
  appliesTo: AppliesTo | null;
  /** null: always active. */
  schedule: Schedule | null;
  enabled: boolean;
  hysteresis: Hysteresis;
  /** A dwell event fires once a device has been inside this many minutes; null: no dwell events. */
  dwellMinutes: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface FenceInput {
  name?: unknown;
  geometry?: unknown;
  radius?: unknown;
  width?: unknown;
  tags?: unknown;
  metadata?: unknown;
  appliesTo?: unknown;
  schedule?: unknown;
  enabled?: unknown;
  hysteresis?: unknown;
  dwellMinutes?: unknown;
}

/** Largest metadata object accepted, as JSON bytes. */
export const MAX_METADATA_BYTES = 8192;
export const MAX_TAGS = 50;

type FenceColumns = Omit<GeofenceDB['fences'], 'id' | 'tenant_id' | 'created_at' | 'updated_at'>;

/**
 * Validates a whole fence (create, import) or the given fields of one (update, with `current`), and
 * returns the columns to store. `at` names the fields (e.g. "features[3].properties."), `geometryAt`
 * the geometry's path, so that an error points at the culprit.
 */
export function fenceColumns(input: FenceInput, at = '', current?: Fence, geometryAt = `${at}geometry`): Partial<FenceColumns> {
  const out: Partial<FenceColumns> = {};
  if (!current || input.name !== undefined) out.name = fenceName(input.name, `${at}name`);
  const shapeChanged = !current || input.geometry !== undefined || input.radius !== undefined || input.width !== undefined;
  if (shapeChanged) {
    const geometry = input.geometry ?? current?.geometry;
    const fromCurrent = input.geometry === undefined;
    const radius = input.radius !== undefined ? input.radius : fromCurrent ? current?.radius : undefined;
    const width = input.width !== undefined ? input.width : fromCurrent ? current?.width : undefined;
    const shape = parseFenceShape(geometry, radius, geometryAt, width, { radius: `${at}radius`, width: `${at}width` });
    const g = shapeToGeoJSON(shape);
    out.geometry = JSON.stringify(g.geometry);
    out.radius = g.radius ?? null;
    out.width = g.width ?? null;
  }
  if (!current || input.tags !== undefined) out.tags = JSON.stringify(tags(input.tags, `${at}tags`));
  if (!current || input.metadata !== undefined) out.metadata = JSON.stringify(metadata(input.metadata, `${at}metadata`));
  if (!current || input.appliesTo !== undefined) {
    const a = appliesTo(input.appliesTo, `${at}appliesTo`);
    out.applies_to = a ? JSON.stringify(a) : null;
  }
  if (!current || input.schedule !== undefined) {
    out.schedule = input.schedule === undefined || input.schedule === null ? null : JSON.stringify(parseSchedule(input.schedule, `${at}schedule`));
  }
  if (!current || input.enabled !== undefined) {
    if (input.enabled !== undefined && typeof input.enabled !== 'boolean') throw invalid(`${at}enabled`, `expected true or false, got ${JSON.stringify(input.enabled)}`);
    out.enabled = input.enabled === false ? 0 : 1;
  }
  if (!current || input.hysteresis !== undefined) out.hysteresis = JSON.stringify(hysteresis(input.hysteresis, `${at}hysteresis`, current?.hysteresis));
  if (!current || input.dwellMinutes !== undefined) out.dwell_minutes = dwellMinutes(input.dwellMinutes, `${at}dwellMinutes`);
  return out;
}

export function toFence(row: GeofenceDB['fences']): Fence {
  const fence: Fence = {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    geometry: JSON.parse(row.geometry) as GeoJSONGeometry,
    tags: JSON.parse(row.tags) as string[],
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    appliesTo: row.applies_to ? (JSON.parse(row.applies_to) as AppliesTo) : null,
    schedule: row.schedule ? (JSON.parse(row.schedule) as Schedule) : null,
    enabled: row.enabled === 1,
    hysteresis: row.hysteresis ? (JSON.parse(row.hysteresis) as Hysteresis) : { ...DEFAULT_HYSTERESIS },
    dwellMinutes: row.dwell_minutes,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
  if (row.radius !== null) fence.radius = row.radius;
  if (row.width !== null) fence.width = row.width;
  return fence;
}

/** The shape of a stored fence row: validated and normalised when it was stored, so read without checking again. */
export function shapeOf(row: Pick<GeofenceDB['fences'], 'geometry' | 'radius' | 'width'>): FenceShape {
  const g = JSON.parse(row.geometry) as GeoJSONGeometry;
  switch (g.type) {
    case 'Point':
      return { kind: 'circle', center: g.coordinates, radius: row.radius! };
    case 'LineString':
      return { kind: 'corridor', line: g.coordinates, width: row.width! };
    case 'Polygon':
      return { kind: 'polygon', polygons: [g.coordinates] };
    case 'MultiPolygon':
      return { kind: 'polygon', polygons: g.coordinates };
  }
}

/** A fence as a GeoJSON Feature: its id, geometry and every attribute under properties. */
export function toFeature(f: Fence): { type: 'Feature'; id: string; geometry: GeoJSONGeometry; properties: Record<string, unknown> } {
  const properties: Record<string, unknown> = { name: f.name, tags: f.tags, metadata: f.metadata };
  if (f.radius !== undefined) properties['radius'] = f.radius;
  if (f.width !== undefined) properties['width'] = f.width;
  Object.assign(properties, { appliesTo: f.appliesTo, schedule: f.schedule, enabled: f.enabled, hysteresis: f.hysteresis, dwellMinutes: f.dwellMinutes });
  return { type: 'Feature', id: f.id, geometry: f.geometry, properties };
}

/** Most features one import may hold. */
export const MAX_IMPORT_FEATURES = 10_000;

/**
 * Validates a FeatureCollection for import: every feature must be a valid fence, or the whole import
 * is refused; the error names the feature (`features[3].properties.name`, `features[3].geometry…`).
 */
export function importColumns(collection: unknown): Array<Partial<FenceColumns>> {
  if (typeof collection !== 'object' || collection === null || (collection as { type?: unknown }).type !== 'FeatureCollection') {
    throw invalid('type', 'expected a GeoJSON FeatureCollection ({ "type": "FeatureCollection", "features": [...] })');
  }
  const features = (collection as { features?: unknown }).features;
  if (!Array.isArray(features) || features.length === 0) throw invalid('features', 'expected a non-empty array of Features');
  if (features.length > MAX_IMPORT_FEATURES) throw invalid('features', `at most ${MAX_IMPORT_FEATURES} features per import, got ${features.length}`);
  return features.map((feature: unknown, i) => {
    const at = `features[${i}]`;
    if (typeof feature !== 'object' || feature === null || (feature as { type?: unknown }).type !== 'Feature') {
      throw invalid(at, 'expected a GeoJSON Feature ({ "type": "Feature", "geometry": ..., "properties": {...} })');
    }
    const { geometry, properties } = feature as { geometry?: unknown; properties?: unknown };
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
      throw invalid(`${at}.properties`, 'expected an object with at least a name');
    }
    return fenceColumns({ ...(properties as FenceInput), geometry }, `${at}.properties.`, undefined, `${at}.geometry`);
  });
}

function fenceName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(field, `must be a non-empty string, got ${JSON.stringify(value) ?? 'nothing'}`);
  if (value.length > 200) throw invalid(field, `must be at most 200 characters, got ${value.length}`);
  return value.trim();
}

function tags(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_TAGS) throw invalid(field, `expected an array of at most ${MAX_TAGS} strings`);
  value.forEach((t: unknown, i) => {
    if (typeof t !== 'string' || t.length === 0 || t.length > 100) throw invalid(`${field}[${i}]`, `expected a string of 1 to 100 characters, got ${JSON.stringify(t)}`);
  });
  return [...new Set(value as string[])];
}

function metadata(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'expected a JSON object');
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_METADATA_BYTES) throw invalid(field, `must be at most ${MAX_METADATA_BYTES} bytes as JSON, got ${bytes}`);
  return value as Record<string, unknown>;
}

function appliesTo(value: unknown, field: string): AppliesTo | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'expected { groupIds?, deviceIds? } or null for every device');
  const v = value as Record<string, unknown>;
  const ids = (name: 'groupIds' | 'deviceIds'): string[] => {
    const list = v[name];
    if (list === undefined) return [];
    if (!Array.isArray(list) || list.length > 1000 || list.some((id) => typeof id !== 'string' || id.length === 0)) {
      throw invalid(`${field}.${name}`, 'expected an array of at most 1000 ids');
    }
    return [...new Set(list as string[])];
  };
  const out = { groupIds: ids('groupIds'), deviceIds: ids('deviceIds') };
  if (out.groupIds.length === 0 && out.deviceIds.length === 0) throw invalid(field, 'names no group and no device; leave appliesTo out (or null) to apply to every device');
  return out;
}

function hysteresis(value: unknown, field: string, current: Hysteresis | undefined): Hysteresis {
  const base = current ?? DEFAULT_HYSTERESIS;
  if (value === undefined || value === null) return { ...DEFAULT_HYSTERESIS };
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'expected { exitMargin?, useAccuracy? }');
  const v = value as Record<string, unknown>;
  const exitMargin = v['exitMargin'] ?? base.exitMargin;
  const useAccuracy = v['useAccuracy'] ?? base.useAccuracy;
  if (typeof exitMargin !== 'number' || !Number.isFinite(exitMargin) || exitMargin < 0 || exitMargin > 10_000) {
    throw invalid(`${field}.exitMargin`, `expected metres from 0 to 10000, got ${JSON.stringify(exitMargin)}`);
  }
  if (typeof useAccuracy !== 'boolean') throw invalid(`${field}.useAccuracy`, `expected true or false, got ${JSON.stringify(useAccuracy)}`);
  return { exitMargin, useAccuracy };
}

function dwellMinutes(value: unknown, field: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_080) {
    throw invalid(field, `expected whole minutes from 1 to 10080 (a week), or null, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Re-throws an AppError with its field paths prefixed, for errors raised below a known path. */
export function prefixed(e: unknown, prefix: string): unknown {
  if (!(e instanceof AppError)) return e;
  const errors = e.errors.map((p) => ({ field: `${prefix}${p.field}`, reason: p.reason }));
  return new AppError(e.code, errors[0] ? `${errors[0].field}: ${errors[0].reason}` : e.message, errors);
}
