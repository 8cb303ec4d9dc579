/**
 * Fence shapes: parsing and validating GeoJSON (RFC 7946) into a FenceShape, and back.
 * Polygon edges are straight lines in longitude/latitude (as in GeoJSON tools such as turf).
 * A ring whose consecutive positions jump by more than 180° of longitude crosses the antimeridian;
 * a ring that winds once around the globe encloses the pole nearer to it (see docs/geofencing.md).
 */
import { AppError } from './errors.js';
import { deltaLon, distanceMetres, metresPerDegreeLat, metresPerDegreeLon } from './geo.js';

type Position = [number, number];

/**
 * A fence's area: a circle (centre [lon, lat], radius in metres), one or more polygons with holes,
 * or a corridor (every point within width / 2 metres of a line).
 */
export type FenceShape =
  | { kind: 'circle'; center: [number, number]; radius: number }
  | { kind: 'polygon'; polygons: [number, number][][][] }
  | { kind: 'corridor'; line: [number, number][]; width: number };

export type GeoJSONGeometry =
  | { type: 'Point'; coordinates: [number, number] }
  | { type: 'LineString'; coordinates: [number, number][] }
  | { type: 'Polygon'; coordinates: [number, number][][] }
  | { type: 'MultiPolygon'; coordinates: [number, number][][][] };

/** Largest circle radius accepted, metres. */
export const MAX_RADIUS = 1_000_000;
/** Largest corridor width accepted, metres (the corridor reaches half of it to each side of its line). */
export const MAX_WIDTH = 100_000;
/** Most positions a corridor's line may have. */
export const MAX_LINE_POSITIONS = 10_000;

/**
 * Parses a GeoJSON Point (with `radius` in metres), LineString (with `width` in metres: a corridor),
 * Polygon or MultiPolygon into a FenceShape. Rings come back closed, without repeated consecutive
 * positions, outer rings counter-clockwise and holes clockwise (RFC 7946 right-hand rule).
 * Throws AppError 'invalid_geometry' naming the field.
 */
export function parseFenceShape(
  geometry: unknown,
  radius: unknown,
  field = 'geometry',
  width: unknown = undefined,
  sizeFields: { radius: string; width: string } = { radius: siblingField(field, 'radius'), width: siblingField(field, 'width') },
): FenceShape {
  const radiusField = sizeFields.radius;
  const widthField = sizeFields.width;
  if (typeof geometry !== 'object' || geometry === null || Array.isArray(geometry)) {
    fail(field, `expected a GeoJSON geometry object, got ${describe(geometry)}`);
  }
  const g = geometry as Record<string, unknown>;
  const type = g['type'];
  const coordinates = g['coordinates'];
  if (type !== 'Point' && type !== 'LineString' && type !== 'Polygon' && type !== 'MultiPolygon') {
    fail(`${field}.type`, `expected "Point" (with a radius), "LineString" (with a width), "Polygon" or "MultiPolygon", got ${describe(type)}`);
  }
  const cf = `${field}.coordinates`;
  if (!Array.isArray(coordinates)) fail(cf, `expected an array of coordinates, got ${describe(coordinates)}`);
  if (type !== 'LineString' && width !== undefined && width !== null) {
    fail(widthField, `a width applies only to a LineString geometry (a corridor), got a width with a ${type}`);
  }
  if (type === 'LineString') {
    if (radius !== undefined && radius !== null) fail(radiusField, 'a radius applies only to a Point geometry, got a radius with a LineString; a corridor takes a width');
    return parseCorridor(coordinates, cf, width, widthField);
  }

  if (type === 'Point') {
    const center = parsePosition(coordinates, cf);
    if (radius === undefined || radius === null) {
      fail(radiusField, 'a Point fence needs a radius in metres (a positive number up to 1000000), got nothing');
    }
    if (typeof radius !== 'number' || !Number.isFinite(radius) || radius <= 0 || radius > MAX_RADIUS) {
      fail(radiusField, `expected a radius in metres greater than 0 and at most ${MAX_RADIUS}, got ${describe(radius)}`);
    }
    return { kind: 'circle', center, radius };
  }
  if (radius !== undefined && radius !== null) {
    fail(radiusField, `a radius applies only to a Point geometry, got a radius with a ${type}`);
  }
  if (type === 'Polygon') return { kind: 'polygon', polygons: [parsePolygon(coordinates, cf)] };
  if (coordinates.length === 0) fail(cf, 'expected at least one polygon, got an empty array');
  const polygons = coordinates.map((polygon, i) => {
    if (!Array.isArray(polygon)) fail(`${cf}[${i}]`, `expected a polygon (an array of rings), got ${describe(polygon)}`);
    return parsePolygon(polygon, `${cf}[${i}]`);
  });
  return { kind: 'polygon', polygons };
}

/** The GeoJSON form of a shape: a Point plus radius for circles, a LineString plus width for corridors, a Polygon or MultiPolygon otherwise. */
export function shapeToGeoJSON(shape: FenceShape): { geometry: GeoJSONGeometry; radius?: number; width?: number } {
  if (shape.kind === 'circle') {
    return { geometry: { type: 'Point', coordinates: [shape.center[0], shape.center[1]] }, radius: shape.radius };
  }
  if (shape.kind === 'corridor') {
    return { geometry: { type: 'LineString', coordinates: shape.line.map((p): Position => [p[0], p[1]]) }, width: shape.width };
  }
  const copy = shape.polygons.map((rings) => rings.map((ring) => ring.map((p): Position => [p[0], p[1]])));
  if (copy.length === 1) return { geometry: { type: 'Polygon', coordinates: copy[0]! } };
  return { geometry: { type: 'MultiPolygon', coordinates: copy } };
}

// ---------------------------------------------------------------------------------------------
// Prepared rings: the planar form the engine tests points against.

/** One polygon in the continuous longitude frame: rings as flat [x0, y0, x1, y1, …] closed arrays. */
export interface PreparedPolygon {
  rings: Float64Array[];
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  /** The polygon spans all 360° of longitude (a polar cap); its edges on the seam meridian are not boundary. */
  fullWrap: boolean;
}

/**
 * Unwraps a polygon's rings into one continuous longitude frame (antimeridian crossings shifted by
 * 360°, a ring winding around the globe closed along the nearer pole), with minX in [-180, 180).
 * Throws a plain Error with the reason when a ring cannot be unwrapped; parseFenceShape reports it.
 */
export function preparePolygon(rings: readonly (readonly (readonly number[])[])[]): PreparedPolygon {
  const prepared: Float64Array[] = [];
  let outerCentre = 0;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let r = 0; r < rings.length; r++) {
    const ring = unwrapRing(rings[r]!);
    if (typeof ring === 'string') throw new RingError(r, ring);
    let rMin = Infinity;
    let rMax = -Infinity;
    for (let i = 0; i < ring.length; i += 2) {
      rMin = Math.min(rMin, ring[i]!);
      rMax = Math.max(rMax, ring[i]!);
    }
    if (r === 0) {
      const k = Math.floor((rMin + 180) / 360);
      if (k !== 0) shiftX(ring, -360 * k);
      outerCentre = (rMin + rMax) / 2 - 360 * k;
    } else {
      const k = Math.round(((rMin + rMax) / 2 - outerCentre) / 360);
      if (k !== 0) shiftX(ring, -360 * k);
    }
    for (let i = 0; i < ring.length; i += 2) {
      minX = Math.min(minX, ring[i]!);
      maxX = Math.max(maxX, ring[i]!);
      minY = Math.min(minY, ring[i + 1]!);
      maxY = Math.max(maxY, ring[i + 1]!);
    }
    prepared.push(ring);
  }
  return { rings: prepared, minX, minY, maxX, maxY, fullWrap: maxX - minX >= 360 - 1e-9 };
}

/** Signed area (degrees², positive counter-clockwise) of a closed flat ring. */
export function ringArea(ring: Float64Array): number {
  let sum = 0;
  for (let i = 0; i + 3 < ring.length; i += 2) {
    sum += ring[i]! * ring[i + 3]! - ring[i + 2]! * ring[i + 1]!;
  }
  return sum / 2;
}

class RingError extends Error {
  constructor(
    readonly ring: number,
    reason: string,
  ) {
    super(reason);
  }
}

function shiftX(ring: Float64Array, dx: number): void {
  for (let i = 0; i < ring.length; i += 2) ring[i]! += dx;
}

/** Unwraps one closed ring (first position equal to the last) into a flat closed array, or returns why it cannot. */
function unwrapRing(ring: readonly (readonly number[])[]): Float64Array | string {
  const n = ring.length;
  const out: number[] = [];
  let offset = 0;
  let prevLon = ring[0]![0]!;
  let prevLat = ring[0]![1]!;
  let latSum = prevLat;
  out.push(prevLon, prevLat);
  for (let i = 1; i < n; i++) {
    const lon = ring[i]![0]!;
    const lat = ring[i]![1]!;
    // Along a pole every longitude is the same point: no antimeridian crossing there.
    if (!(Math.abs(lat) === 90 && Math.abs(prevLat) === 90)) {
      const d = lon - prevLon;
      if (d > 180) offset -= 360;
      else if (d < -180) offset += 360;
    }
    pushDistinct(out, lon + offset, lat);
    prevLon = lon;
    prevLat = lat;
    latSum += lat;
  }
  const winding = out[out.length - 2]! - out[0]!;
  if (winding !== 0) {
    if (Math.abs(winding) > 360 + 1e-9) return 'the ring winds around the globe more than once';
    // Once around the globe: the ring encloses the pole on its side of the equator.
    const pole = latSum / n >= 0 ? 90 : -90;
    pushDistinct(out, out[out.length - 2]!, pole);
    pushDistinct(out, out[0]!, pole);
    pushDistinct(out, out[0]!, out[1]!);
  }
  let minX = Infinity;
  let maxX = -Infinity;
  for (let i = 0; i < out.length; i += 2) {
    minX = Math.min(minX, out[i]!);
    maxX = Math.max(maxX, out[i]!);
  }
  if (maxX - minX > 360 + 1e-9) return `the ring spans ${(maxX - minX).toFixed(1)}° of longitude, more than the whole globe`;
  return Float64Array.from(out);
}

function pushDistinct(out: number[], x: number, y: number): void {
  if (out.length >= 2 && out[out.length - 2] === x && out[out.length - 1] === y) return;
  out.push(x, y);
}

// ---------------------------------------------------------------------------------------------
// Exact sign of a 2×2 determinant: the predicate the point-in-polygon test needs to agree with
// robust implementations (turf) exactly on the boundary.

const expansion = new Float64Array(4);
const SPLITTER = 134217729; // 2^27 + 1
const ERR_BOUND = 3.3306690738754716e-16;

/** A value with the exact sign of a·d − b·c (its magnitude is only approximate near zero). */
export function det2(a: number, b: number, c: number, d: number): number {
  const l = a * d;
  const r = b * c;
  const det = l - r;
  const bound = ERR_BOUND * (Math.abs(l) + Math.abs(r));
  if (det > bound || -det > bound) return det;
  let n = 0;
  n = grow(n, twoProductError(a, d, l));
  n = grow(n, -twoProductError(b, c, r));
  n = grow(n, l);
  n = grow(n, -r);
  for (let i = n - 1; i >= 0; i--) if (expansion[i] !== 0) return expansion[i]!;
  return 0;
}

function twoProductError(a: number, b: number, p: number): number {
  let c = SPLITTER * a;
  const aHi = c - (c - a);
  const aLo = a - aHi;
  c = SPLITTER * b;
  const bHi = c - (c - b);
  const bLo = b - bHi;
  return aLo * bLo - (p - aHi * bHi - aLo * bHi - aHi * bLo);
}

/** Adds b to the non-overlapping expansion held in `expansion[0..n)`, returns the new length. */
function grow(n: number, b: number): number {
  let q = b;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const e = expansion[i]!;
    const s = q + e;
    const bv = s - q;
    const av = s - bv;
    const err = q - av + (e - bv);
    q = s;
    if (err !== 0) expansion[m++] = err;
  }
  expansion[m++] = q;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Validation

function fail(field: string, reason: string): never {
  throw new AppError('invalid_geometry', `${field}: ${reason}`, [{ field, reason }]);
}

function siblingField(field: string, name: string): string {
  const dot = field.lastIndexOf('.');
  return dot < 0 ? name : `${field.slice(0, dot + 1)}${name}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number') return String(value);
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function parsePosition(value: unknown, field: string): Position {
  if (!Array.isArray(value) || (value.length !== 2 && value.length !== 3)) {
    fail(field, `expected a position [longitude, latitude] (optionally with altitude), got ${describe(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      fail(field, `expected a position of two or three finite numbers, got ${describe(v)} at index ${i}`);
    }
  }
  const lon = value[0] as number;
  const lat = value[1] as number;
  if (lon < -180 || lon > 180) fail(field, `longitude must be within [-180, 180], got ${lon} (positions are [longitude, latitude])`);
  if (lat < -90 || lat > 90) fail(field, `latitude must be within [-90, 90], got ${lat} (positions are [longitude, latitude])`);
  return [lon, lat];
}

function parseCorridor(value: unknown[], field: string, width: unknown, widthField: string): FenceShape {
  if (value.length < 2) fail(field, `a LineString needs at least 2 positions, got ${value.length}`);
  if (value.length > MAX_LINE_POSITIONS) fail(field, `a corridor's line may have at most ${MAX_LINE_POSITIONS} positions, got ${value.length}`);
  const line: Position[] = [];
  for (let i = 0; i < value.length; i++) {
    const p = parsePosition(value[i], `${field}[${i}]`);
    const q = line[line.length - 1];
    if (!q || q[0] !== p[0] || q[1] !== p[1]) line.push(p);
  }
  if (line.length < 2) fail(field, 'a LineString needs at least 2 distinct positions, got only one repeated');
  if (width === undefined || width === null) {
    fail(widthField, `a LineString fence (a corridor) needs a width in metres (a positive number up to ${MAX_WIDTH}), got nothing`);
  }
  if (typeof width !== 'number' || !Number.isFinite(width) || width <= 0 || width > MAX_WIDTH) {
    fail(widthField, `expected a width in metres greater than 0 and at most ${MAX_WIDTH}, got ${describe(width)}`);
  }
  return { kind: 'corridor', line, width };
}

/**
 * A corridor's line in one continuous longitude frame (antimeridian crossings shifted by 360°), as a
 * flat [x0, y0, x1, y1, …] array, with its longitude/latitude extent.
 */
export function prepareLine(line: readonly (readonly number[])[]): { line: Float64Array; minX: number; minY: number; maxX: number; maxY: number } {
  const out = new Float64Array(line.length * 2);
  let offset = 0;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i < line.length; i++) {
    const lon = line[i]![0]!;
    const lat = line[i]![1]!;
    if (i > 0) {
      const d = lon - line[i - 1]![0]!;
      if (d > 180) offset -= 360;
      else if (d < -180) offset += 360;
    }
    out[2 * i] = lon + offset;
    out[2 * i + 1] = lat;
    minX = Math.min(minX, lon + offset);
    maxX = Math.max(maxX, lon + offset);
    minY = Math.min(minY, lat);
    maxY = Math.max(maxY, lat);
  }
  const k = Math.floor((minX + 180) / 360);
  if (k !== 0) {
    for (let i = 0; i < out.length; i += 2) out[i]! -= 360 * k;
    minX -= 360 * k;
    maxX -= 360 * k;
  }
  return { line: out, minX, minY, maxX, maxY };
}

function parsePolygon(value: unknown[], field: string): Position[][] {
  if (value.length === 0) fail(field, 'expected at least one ring (the outer boundary), got an empty array');
  const rings: Position[][] = [];
  const origins: number[][] = [];
  for (let r = 0; r < value.length; r++) {
    const rf = `${field}[${r}]`;
    const raw: unknown = value[r];
    if (!Array.isArray(raw)) fail(rf, `expected a ring (an array of positions), got ${describe(raw)}`);
    const positions = raw.map((p: unknown, i) => parsePosition(p, `${rf}[${i}]`));
    if (positions.length < 4) fail(rf, `a ring needs at least 4 positions (3 corners and the first repeated), got ${positions.length}`);
    const first = positions[0]!;
    const last = positions[positions.length - 1]!;
    if (first[0] !== last[0] || first[1] !== last[1]) {
      fail(rf, `the ring is not closed: the first position [${first.join(', ')}] differs from the last [${last.join(', ')}]; repeat the first position at the end`);
    }
    // Repeated consecutive positions add nothing; drop them, remembering where each kept one came from.
    const ring: Position[] = [first];
    const origin: number[] = [0];
    for (let i = 1; i < positions.length; i++) {
      const p = positions[i]!;
      const q = ring[ring.length - 1]!;
      if (p[0] !== q[0] || p[1] !== q[1]) {
        ring.push(p);
        origin.push(i);
      }
    }
    if (ring.length < 4) fail(rf, `a ring needs at least 3 distinct corners, got ${ring.length - 1}`);
    rings.push(ring);
    origins.push(origin);
  }

  let prepared: PreparedPolygon;
  try {
    prepared = preparePolygon(rings);
  } catch (e) {
    if (e instanceof RingError) fail(`${field}[${e.ring}]`, e.message);
    throw e;
  }
  for (let r = 0; r < rings.length; r++) {
    const flat = prepared.rings[r]!;
    const crossing = findSelfIntersection(flat);
    if (crossing) {
      const o = origins[r]!;
      const at = (k: number): string => (k < o.length ? String(o[k]) : 'the closing edge');
      fail(
        `${field}[${r}]`,
        `the ring crosses itself: the edge from position ${at(crossing[0])} meets the edge from position ${at(crossing[1])}; a ring must be a simple closed line`,
      );
    }
    const area = ringArea(flat);
    if (area === 0) fail(`${field}[${r}]`, 'the ring encloses no area (its positions are collinear)');
    // Right-hand rule: outer ring counter-clockwise, holes clockwise. Reorient rather than refuse.
    if ((r === 0) !== (area > 0)) rings[r]!.reverse();
  }
  return rings;
}

/**
 * Finds two edges of a closed flat ring that touch or cross, other than neighbours sharing their
 * common corner; returns their starting corner indices. A sweep over edges sorted by their west end.
 */
export function findSelfIntersection(ring: Float64Array): [number, number] | null {
  const m = ring.length / 2 - 1; // edges
  const order = Array.from({ length: m }, (_, i) => i);
  const lo = (i: number): number => Math.min(ring[2 * i]!, ring[2 * i + 2]!);
  const hi = (i: number): number => Math.max(ring[2 * i]!, ring[2 * i + 2]!);
  order.sort((a, b) => lo(a) - lo(b));
  for (let oi = 0; oi < m; oi++) {
    const i = order[oi]!;
    const iHi = hi(i);
    const iyLo = Math.min(ring[2 * i + 1]!, ring[2 * i + 3]!);
    const iyHi = Math.max(ring[2 * i + 1]!, ring[2 * i + 3]!);
    for (let oj = oi + 1; oj < m; oj++) {
      const j = order[oj]!;
      if (lo(j) > iHi) break;
      const jyLo = Math.min(ring[2 * j + 1]!, ring[2 * j + 3]!);
      const jyHi = Math.max(ring[2 * j + 1]!, ring[2 * j + 3]!);
      if (jyLo > iyHi || jyHi < iyLo) continue;
      const a = Math.min(i, j);
      const b = Math.max(i, j);
      if (edgesConflict(ring, a, b, m)) return [a, b];
    }
  }
  return null;
}

function edgesConflict(ring: Float64Array, i: number, j: number, m: number): boolean {
  const ax = ring[2 * i]!, ay = ring[2 * i + 1]!, bx = ring[2 * i + 2]!, by = ring[2 * i + 3]!;
  const cx = ring[2 * j]!, cy = ring[2 * j + 1]!, dx = ring[2 * j + 2]!, dy = ring[2 * j + 3]!;
  if (j === i + 1) {
    // Neighbours share b == c: they conflict only if they fold back over each other.
    return orient(ax, ay, bx, by, dx, dy) === 0 && (onSegment(ax, ay, bx, by, dx, dy) || onSegment(cx, cy, dx, dy, ax, ay));
  }
  if (i === 0 && j === m - 1) {
    // The closing edge and the first edge share a == d.
    return orient(cx, cy, dx, dy, bx, by) === 0 && (onSegment(cx, cy, dx, dy, bx, by) || onSegment(ax, ay, bx, by, cx, cy));
  }
  const o1 = orient(ax, ay, bx, by, cx, cy);
  const o2 = orient(ax, ay, bx, by, dx, dy);
  const o3 = orient(cx, cy, dx, dy, ax, ay);
  const o4 = orient(cx, cy, dx, dy, bx, by);
  if (o1 * o2 < 0 && o3 * o4 < 0) return true;
  return (
    (o1 === 0 && onSegment(ax, ay, bx, by, cx, cy)) ||
    (o2 === 0 && onSegment(ax, ay, bx, by, dx, dy)) ||
    (o3 === 0 && onSegment(cx, cy, dx, dy, ax, ay)) ||
    (o4 === 0 && onSegment(cx, cy, dx, dy, bx, by))
  );
}

/** Sign (-1, 0, 1) of the turn a → b → c. */
function orient(ax: number, ay: number, bx: number, by: number, cx: number, cy: number): number {
  return Math.sign(det2(bx - ax, by - ay, cx - ax, cy - ay));
}

/** Whether p, known to be collinear with a–b, lies on the closed segment a–b. */
function onSegment(ax: number, ay: number, bx: number, by: number, px: number, py: number): boolean {
  return px >= Math.min(ax, bx) && px <= Math.max(ax, bx) && py >= Math.min(ay, by) && py <= Math.max(ay, by);
}

/**
 * Whether (lon, lat) lies inside or on the boundary of a shape: a circle by geodesic distance,
 * polygons by an even-odd test in the shape's continuous longitude frame (the antimeridian and
 * polar caps handled as in the geofence engine).
 */
export function shapeContains(shape: FenceShape, lon: number, lat: number): boolean {
  if (shape.kind === 'circle') return distanceMetres(shape.center[0], shape.center[1], lon, lat) <= shape.radius;
  if (shape.kind === 'corridor') return corridorDistance(shape.line, lon, lat) <= shape.width / 2;
  for (const polygon of shape.polygons) {
    const prepared = preparePolygon(polygon);
    if (lat < prepared.minY || lat > prepared.maxY) continue;
    for (const x of [lon, lon + 360, lon - 360]) {
      if (x >= prepared.minX && x <= prepared.maxX && evenOdd(prepared.rings, x, lat)) return true;
    }
  }
  return false;
}

/** Metres from (lon, lat) to the nearest point of a line, in a local projection at the point (right at corridor scale). */
function corridorDistance(line: [number, number][], lon: number, lat: number): number {
  const mx = metresPerDegreeLon(lat);
  const my = metresPerDegreeLat(lat);
  let best = Infinity;
  for (let i = 0; i + 1 < line.length; i++) {
    const ax = deltaLon(lon, line[i]![0]) * mx, ay = (line[i]![1] - lat) * my;
    const bx = deltaLon(lon, line[i + 1]![0]) * mx, by = (line[i + 1]![1] - lat) * my;
    const dx = bx - ax, dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / len2));
    best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy));
  }
  return best;
}

/** Even-odd crossing test over all rings; a point on an edge counts as inside. */
function evenOdd(rings: Float64Array[], x: number, y: number): boolean {
  let inside = false;
  for (const ring of rings) {
    for (let i = 0; i + 3 < ring.length; i += 2) {
      const x1 = ring[i]!, y1 = ring[i + 1]!, x2 = ring[i + 2]!, y2 = ring[i + 3]!;
      const cross = det2(x2 - x1, x - x1, y2 - y1, y - y1);
      if (cross === 0 && x >= Math.min(x1, x2) && x <= Math.max(x1, x2) && y >= Math.min(y1, y2) && y <= Math.max(y1, y2)) return true;
      if (y1 > y !== y2 > y && x < x1 + ((y - y1) * (x2 - x1)) / (y2 - y1)) inside = !inside;
    }
  }
  return inside;
}
