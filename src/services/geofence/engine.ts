/**
 * The geofence engine: one tenant's fences in a spatial index, point queries, signed distances
 * and the accuracy-aware hysteresis that turns positions into enter/exit transitions.
 * Pure: no I/O, no clock, no bus. The geofence service owns persistence and presence state.
 */
import RBush from 'rbush';
import TinyQueue from 'tinyqueue';
import { notFound } from '../../core/errors.js';
import { arcFromChord, bboxAround, distanceMetres, metresPerDegreeLat, metresPerDegreeLon, MIN_RADIUS, normalizeLon, toEcef, type Ecef } from '../../core/geo.js';
import { det2, prepareLine, preparePolygon, type FenceShape, type PreparedPolygon } from '../../core/geometry.js';

/** How a fence resists flapping. Defaults: `{ exitMargin: 10, useAccuracy: true }`. */
export interface Hysteresis {
  /** Metres beyond the boundary (on top of the fix's accuracy) a device must be before it exits. Default 10. */
  exitMargin: number;
  /** Whether the fix's reported accuracy widens the band in which the state is kept. Default true. */
  useAccuracy: boolean;
}

export const DEFAULT_HYSTERESIS: Readonly<Hysteresis> = Object.freeze({ exitMargin: 10, useAccuracy: true });

export type Transition = 'enter' | 'exit';

/**
 * Whether a fix changes a device's state for one fence. A fix whose accuracy circle straddles the
 * boundary never flips the state: entering needs the whole circle inside (distance ≤ -accuracy),
 * exiting needs it outside by the exit margin (distance ≥ accuracy + exitMargin).
 */
export function decide(wasInside: boolean, signedDistance: number, accuracy: number | undefined, h: Hysteresis): Transition | null {
  const acc = h.useAccuracy && accuracy !== undefined && accuracy > 0 && Number.isFinite(accuracy) ? accuracy : 0;
  if (wasInside) return signedDistance >= acc + h.exitMargin ? 'exit' : null;
  return signedDistance <= -acc ? 'enter' : null;
}

/** How much of a box's spherical distance nearestBoundary counts as a lower bound of a circle's (see there). */
const BOUND_MARGIN = 0.98;
const RAD = Math.PI / 180;

/** Degrees from x to the interval [min, max] on a line (0 inside it). */
function gap(x: number, min: number, max: number): number {
  return x < min ? min - x : x > max ? x - max : 0;
}

/** Chords shorter than this become arcs directly (right to centimetres); longer ones go through distanceMetres. */
const CHORD_LIMIT = 150_000;

interface Fence {
  id: string;
  circle: boolean;
  /** A corridor's line in one continuous longitude frame, flat [x0, y0, x1, y1, …]; null otherwise. */
  line: Float64Array | null;
  /** Half a corridor's width, metres. */
  halfWidth: number;
  lon: number;
  lat: number;
  radius: number;
  /** Earth-centred coordinates of a circle's centre. */
  ecef: Ecef;
  polygons: PreparedPolygon[];
  boxes: Box[];
  hysteresis: Hysteresis;
  /** The query that last saw this fence, to report a fence with two boxes once. */
  stamp: number;
}

interface Box {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  fence: Fence;
}

interface Node {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  leaf: boolean;
  children: (Node | Box)[];
}

/** One tenant's fences, indexed: an R-tree over bounding boxes in front of the exact tests. */
export class FenceIndex {
  private readonly tree = new RBush<Box>();
  private readonly fences = new Map<string, Fence>();
  private readonly stack: Node[] = [];
  private readonly candidates: Fence[] = [];
  private readonly queryBox = [0, 0, 0, 0];
  private readonly point: Ecef = { x: 0, y: 0, z: 0 };
  private pointReady = false;
  private stamp = 0;

  get size(): number {
    return this.fences.size;
  }

  has(id: string): boolean {
    return this.fences.has(id);
  }

  /** Adds a fence or replaces the one with this id. The shape is trusted to come from parseFenceShape. */
  upsert(id: string, shape: FenceShape, hysteresis?: Partial<Hysteresis>): void {
    this.remove(id);
    const fence = buildFence(id, shape, hysteresis);
    for (const box of fence.boxes) this.tree.insert(box);
    this.fences.set(id, fence);
  }

  /**
   * Adds many fences at once, building the R-tree in bulk (rbush `load`: several times faster than
   * one upsert each, and a better tree). Ids already present are replaced.
   */
  load(entries: Iterable<{ id: string; shape: FenceShape; hysteresis?: Partial<Hysteresis> | undefined }>): void {
    const boxes: Box[] = [];
    for (const e of entries) {
      this.remove(e.id);
      const fence = buildFence(e.id, e.shape, e.hysteresis);
      this.fences.set(e.id, fence);
      for (const box of fence.boxes) boxes.push(box);
    }
    this.tree.load(boxes);
  }

  /** Ids of every indexed fence. */
  ids(): IterableIterator<string> {
    return this.fences.keys();
  }

  /**
   * The same answer as `containing`, found by testing every fence's boxes and then its exact shape:
   * what an engine without a spatial index does. The baseline for tests and benchmarks.
   */
  scan(lon: number, lat: number): string[] {
    lon = normalizeLon(lon);
    this.begin();
    const out: string[] = [];
    for (const fence of this.fences.values()) {
      let hit = false;
      for (let b = 0; b < fence.boxes.length; b++) if (intersects(fence.boxes[b]!, lon, lat, lon, lat)) hit = true;
      if (hit && this.contains(fence, lon, lat)) out.push(fence.id);
    }
    return out;
  }

  /** Removes a fence; unknown ids are ignored. */
  remove(id: string): void {
    const fence = this.fences.get(id);
    if (!fence) return;
    for (const box of fence.boxes) this.tree.remove(box);
    this.fences.delete(id);
  }

  /** Ids of the fences containing the point; a point on a boundary is inside. */
  containing(lon: number, lat: number): string[] {
    lon = normalizeLon(lon);
    this.begin();
    this.collect(lon, lat, lon, lat);
    const out: string[] = [];
    for (let i = 0; i < this.candidates.length; i++) {
      const fence = this.candidates[i]!;
      if (this.contains(fence, lon, lat)) out.push(fence.id);
    }
    return out;
  }

  /**
   * Metres from the point to the fence's boundary: negative inside, positive outside.
   * Circles: geodesic distance to the centre minus the radius. Polygons: distance to the nearest
   * edge in a local projection with the ellipsoid's metres per degree at the point's latitude.
   */
  signedDistance(id: string, lon: number, lat: number): number {
    const fence = this.fences.get(id);
    if (!fence) throw notFound('fence', id);
    this.begin();
    return this.distance(fence, normalizeLon(lon), lat);
  }

  /** Every fence whose signed distance is at most `marginMetres` (inside, or outside within the margin). */
  near(lon: number, lat: number, marginMetres: number): Array<{ id: string; distance: number }> {
    lon = normalizeLon(lon);
    this.begin();
    const b = bboxAround(lon, lat, Math.max(0, marginMetres), this.queryBox);
    const minX = b[0]!, minY = b[1]!, maxX = b[2]!, maxY = b[3]!;
    this.collect(Math.max(minX, -180), minY, Math.min(maxX, 180), maxY);
    if (minX < -180) this.collect(minX + 360, minY, 180, maxY);
    if (maxX > 180) this.collect(-180, minY, maxX - 360, maxY);
    const out: Array<{ id: string; distance: number }> = [];
    for (let i = 0; i < this.candidates.length; i++) {
      const fence = this.candidates[i]!;
      const distance = this.distance(fence, lon, lat);
      if (distance <= marginMetres) out.push({ id: fence.id, distance });
    }
    return out;
  }

  /**
   * Metres from the point to the nearest fence boundary, inside or out, if one is within `within`:
   * what `near` would give as the smallest |distance|, without measuring every fence near. A
   * best-first walk of the R-tree by a lower bound of each box's distance (the boxes of a fence hold
   * it, so no fence in a box is nearer than the box) measures fences nearest first and stops once the
   * next box is farther than the nearest boundary found. With 1,000 fences in a city that is a few
   * exact distances per fix rather than hundreds (docs/benchmarks.md, ingest).
   */
  nearestBoundary(lon: number, lat: number, within: number): number | undefined {
    lon = normalizeLon(lon);
    this.begin();
    // Two lower bounds of the distance to anything in a box. Polygons and corridors measure in the
    // local projection at the point's latitude, where the box's own distance bounds them exactly.
    // Circles measure on the ellipsoid: the haversine of the smallest latitude gap and longitude gap
    // on a sphere of the ellipsoid's smallest radius bounds them (less a margin), also near a pole,
    // where the projection's longitude scale says nothing about a short way across.
    const kx = metresPerDegreeLon(lat);
    const ky = metresPerDegreeLat(lat);
    const cosLat = Math.cos(lat * RAD);
    const bound = (b: { minX: number; minY: number; maxX: number; maxY: number }, circle: boolean | undefined) => {
      const dy = lat < b.minY ? b.minY - lat : lat > b.maxY ? lat - b.maxY : 0;
      const dx = Math.min(gap(lon, b.minX, b.maxX), gap(lon + 360, b.minX, b.maxX), gap(lon - 360, b.minX, b.maxX));
      if (dx === 0 && dy === 0) return 0;
      const projected = Math.hypot(dx * kx, dy * ky);
      if (circle === false) return projected;
      const sy = Math.sin((dy * RAD) / 2);
      const sx = Math.sin((Math.min(dx, 180) * RAD) / 2);
      const cosBox = Math.cos(Math.max(Math.abs(b.minY), Math.abs(b.maxY)) * RAD);
      const spherical = 2 * MIN_RADIUS * Math.asin(Math.min(1, Math.sqrt(sy * sy + cosLat * cosBox * sx * sx))) * BOUND_MARGIN;
      return circle ? spherical : Math.min(projected, spherical);
    };
    const root = this.tree.toJSON() as Node;
    if (root.children.length === 0) return undefined;
    const queue = new TinyQueue<{ d: number; node?: Node; box?: Box }>([{ d: 0, node: root }], (a, b) => a.d - b.d);
    let best = within;
    let found: number | undefined;
    while (queue.length > 0) {
      const { d, node, box } = queue.pop()!;
      if (d > best) break;
      if (box) {
        const fence = box.fence;
        if (fence.stamp === this.stamp) continue; // its other box came first
        fence.stamp = this.stamp;
        const distance = Math.abs(this.distance(fence, lon, lat));
        if (distance <= best) {
          best = distance;
          found = distance;
        }
        continue;
      }
      for (const child of node!.children) {
        const lower = node!.leaf ? bound(child, (child as Box).fence.circle) : bound(child, undefined);
        if (lower > best) continue;
        queue.push(node!.leaf ? { d: lower, box: child as Box } : { d: lower, node: child as Node });
      }
    }
    return found;
  }

  /**
   * The transitions one fix causes, given the fences the device is inside now: exits first, then enters.
   * Fences in `insideNow` that are not indexed yield nothing (the service settles those); fences for
   * which `active` says false yield nothing either (their state is frozen).
   */
  evaluate(
    lon: number,
    lat: number,
    accuracy: number | undefined,
    insideNow: ReadonlySet<string> | ReadonlyMap<string, unknown>,
    active?: (fenceId: string) => boolean,
  ): Array<{ fenceId: string; type: Transition; distance: number; hysteresis: Hysteresis }> {
    lon = normalizeLon(lon);
    const out: Array<{ fenceId: string; type: Transition; distance: number; hysteresis: Hysteresis }> = [];
    this.begin();
    // Exits: every fence the device is marked inside, however far away it is now.
    for (const id of insideNow.keys()) {
      const fence = this.fences.get(id);
      if (!fence || (active && !active(id))) continue;
      const distance = this.distance(fence, lon, lat);
      if (decide(true, distance, accuracy, fence.hysteresis) === 'exit') out.push({ fenceId: id, type: 'exit', distance, hysteresis: fence.hysteresis });
    }
    // Enters need distance ≤ -accuracy ≤ 0, i.e. the point itself inside: the fences whose box holds
    // the point are all the candidates (what near() with any margin ≥ 0 would add can only stay put).
    this.collect(lon, lat, lon, lat);
    for (let i = 0; i < this.candidates.length; i++) {
      const fence = this.candidates[i]!;
      if (insideNow.has(fence.id) || (active && !active(fence.id))) continue;
      const distance = this.distance(fence, lon, lat);
      if (decide(false, distance, accuracy, fence.hysteresis) === 'enter') out.push({ fenceId: fence.id, type: 'enter', distance, hysteresis: fence.hysteresis });
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------

  private begin(): void {
    this.stamp++;
    this.pointReady = false;
    this.candidates.length = 0;
  }

  /** Appends to `candidates` each fence with a box intersecting the query box, once per query. */
  private collect(minX: number, minY: number, maxX: number, maxY: number): void {
    const stack = this.stack;
    stack.length = 0;
    const root = this.tree.toJSON() as Node;
    if (root.children.length === 0 || !intersects(root, minX, minY, maxX, maxY)) return;
    stack.push(root);
    while (stack.length > 0) {
      const node = stack.pop()!;
      const children = node.children;
      for (let i = 0; i < children.length; i++) {
        const child = children[i]!;
        if (!intersects(child, minX, minY, maxX, maxY)) continue;
        if (node.leaf) {
          const fence = (child as Box).fence;
          if (fence.stamp !== this.stamp) {
            fence.stamp = this.stamp;
            this.candidates.push(fence);
          }
        } else {
          stack.push(child as Node);
        }
      }
    }
  }

  private contains(fence: Fence, lon: number, lat: number): boolean {
    if (fence.line) return lineDistance(fence.line, lon, lat) <= fence.halfWidth;
    if (fence.circle) {
      const chord = this.chordTo(fence, lon, lat);
      if (chord > fence.radius) return false; // an arc is never shorter than its chord
      return this.circleDistance(fence, lon, lat, chord) <= fence.radius;
    }
    return polygonsContain(fence.polygons, lon, lat);
  }

  private distance(fence: Fence, lon: number, lat: number): number {
    if (fence.line) return lineDistance(fence.line, lon, lat) - fence.halfWidth;
    if (fence.circle) return this.circleDistance(fence, lon, lat, this.chordTo(fence, lon, lat)) - fence.radius;
    const d = polygonsEdgeDistance(fence.polygons, lon, lat);
    return polygonsContain(fence.polygons, lon, lat) ? -d : d;
  }

  private chordTo(fence: Fence, lon: number, lat: number): number {
    if (!this.pointReady) {
      toEcef(lon, lat, this.point);
      this.pointReady = true;
    }
    const dx = this.point.x - fence.ecef.x;
    const dy = this.point.y - fence.ecef.y;
    const dz = this.point.z - fence.ecef.z;
    return Math.sqrt(dx * dx + dy * dy + dz * dz);
  }

  private circleDistance(fence: Fence, lon: number, lat: number, chord: number): number {
    if (chord < CHORD_LIMIT) return arcFromChord(chord, (lat + fence.lat) / 2);
    return distanceMetres(fence.lon, fence.lat, lon, lat);
  }
}

function buildFence(id: string, shape: FenceShape, hysteresis: Partial<Hysteresis> | undefined): Fence {
  const fence: Fence = {
    id,
    circle: shape.kind === 'circle',
    line: null,
    halfWidth: 0,
    lon: 0,
    lat: 0,
    radius: 0,
    ecef: { x: 0, y: 0, z: 0 },
    polygons: [],
    boxes: [],
    hysteresis: { ...DEFAULT_HYSTERESIS, ...definedOnly(hysteresis) },
    stamp: 0,
  };
  if (shape.kind === 'circle') {
    fence.lon = shape.center[0];
    fence.lat = shape.center[1];
    fence.radius = shape.radius;
    toEcef(fence.lon, fence.lat, fence.ecef);
    const b = bboxAround(fence.lon, fence.lat, fence.radius);
    addBoxes(fence, b[0]!, b[1]!, b[2]!, b[3]!);
  } else if (shape.kind === 'corridor') {
    const p = prepareLine(shape.line);
    fence.line = p.line;
    fence.halfWidth = shape.width / 2;
    // Widen the line's box by half the width, with the longitude reach at its most poleward latitude.
    const poleward = Math.abs(p.maxY) > Math.abs(p.minY) ? p.maxY : p.minY;
    const b = bboxAround(0, poleward, fence.halfWidth);
    const dLat = (b[3]! - b[1]!) / 2;
    if (b[2]! - b[0]! >= 360) addBoxes(fence, -180, Math.max(-90, p.minY - dLat), 180, Math.min(90, p.maxY + dLat));
    else addBoxes(fence, p.minX + b[0]!, Math.max(-90, p.minY - dLat), p.maxX + b[2]!, Math.min(90, p.maxY + dLat));
  } else {
    for (const rings of shape.polygons) {
      const p = preparePolygon(rings);
      fence.polygons.push(p);
      if (p.fullWrap) addBoxes(fence, -180, p.minY, 180, p.maxY);
      else addBoxes(fence, p.minX, p.minY, p.maxX, p.maxY);
    }
  }
  return fence;
}

function definedOnly(h: Partial<Hysteresis> | undefined): Partial<Hysteresis> {
  const out: Partial<Hysteresis> = {};
  if (h?.exitMargin !== undefined) {
    if (!(h.exitMargin >= 0) || !Number.isFinite(h.exitMargin)) throw new RangeError(`exitMargin must be a finite number ≥ 0, got ${h.exitMargin}`);
    out.exitMargin = h.exitMargin;
  }
  if (h?.useAccuracy !== undefined) out.useAccuracy = h.useAccuracy;
  return out;
}

/** Adds the boxes for [minX, maxX] × [minY, maxY], split in two where it runs past ±180°. */
function addBoxes(fence: Fence, minX: number, minY: number, maxX: number, maxY: number): void {
  if (maxX - minX >= 360) {
    fence.boxes.push({ minX: -180, minY, maxX: 180, maxY, fence });
  } else if (minX < -180) {
    fence.boxes.push({ minX: minX + 360, minY, maxX: 180, maxY, fence }, { minX: -180, minY, maxX, maxY, fence });
  } else if (maxX > 180) {
    fence.boxes.push({ minX, minY, maxX: 180, maxY, fence }, { minX: -180, minY, maxX: maxX - 360, maxY, fence });
  } else {
    fence.boxes.push({ minX, minY, maxX, maxY, fence });
  }
}

function intersects(b: { minX: number; minY: number; maxX: number; maxY: number }, minX: number, minY: number, maxX: number, maxY: number): boolean {
  return b.minX <= maxX && b.minY <= maxY && b.maxX >= minX && b.maxY >= minY;
}

/** Whether (lon, lat), lon in [-180, 180], is inside or on the boundary of any of the polygons. */
function polygonsContain(polygons: PreparedPolygon[], lon: number, lat: number): boolean {
  for (let p = 0; p < polygons.length; p++) {
    const poly = polygons[p]!;
    if (lat < poly.minY || lat > poly.maxY) continue;
    // The polygon lives in [minX, maxX] with minX in [-180, 180): the point may sit there as lon or lon + 360.
    if (lon >= poly.minX && lon <= poly.maxX && pointInRings(poly.rings, lon, lat) >= 0) return true;
    const shifted = lon + 360;
    if (shifted <= poly.maxX && pointInRings(poly.rings, shifted, lat) >= 0) return true;
  }
  return false;
}

/**
 * Even-odd point-in-polygon over all rings of one polygon: 1 inside, 0 on the boundary, -1 outside.
 * The crossing rule of Hao et al. (2018), with an exact sign for the edge test so that points on
 * an edge are recognised exactly.
 */
function pointInRings(rings: Float64Array[], x: number, y: number): number {
  let k = 0;
  for (let r = 0; r < rings.length; r++) {
    const ring = rings[r]!;
    let u1 = ring[0]! - x;
    let v1 = ring[1]! - y;
    for (let i = 2; i < ring.length; i += 2) {
      const u2 = ring[i]! - x;
      const v2 = ring[i + 1]! - y;
      if (v1 === 0 && v2 === 0) {
        if ((u2 <= 0 && u1 >= 0) || (u1 <= 0 && u2 >= 0)) return 0;
      } else if ((v2 >= 0 && v1 <= 0) || (v2 <= 0 && v1 >= 0)) {
        const f = det2(u2, u1, v2, v1); // sign of u2·v1 − u1·v2
        if (f === 0) return 0;
        if ((f > 0 && v2 > 0 && v1 <= 0) || (f < 0 && v2 <= 0 && v1 > 0)) k++;
      }
      u1 = u2;
      v1 = v2;
    }
  }
  return k % 2 === 1 ? 1 : -1;
}

/** Metres from (lon, lat) to the nearest real edge of the polygons, in a local projection at lat. */
function polygonsEdgeDistance(polygons: PreparedPolygon[], lon: number, lat: number): number {
  const kx = metresPerDegreeLon(lat);
  const ky = metresPerDegreeLat(lat);
  let best = Infinity;
  for (let p = 0; p < polygons.length; p++) {
    const poly = polygons[p]!;
    for (let r = 0; r < poly.rings.length; r++) {
      const ring = poly.rings[r]!;
      for (let i = 0; i + 3 < ring.length; i += 2) {
        const x1 = ring[i]!, y1 = ring[i + 1]!, x2 = ring[i + 2]!, y2 = ring[i + 3]!;
        // Along a pole every longitude is one point; on a full-wrap polygon's seam meridian the
        // edges are the cut, not the boundary.
        if (y1 === y2 && (y1 === 90 || y1 === -90)) continue;
        if (poly.fullWrap && x1 === x2 && (x1 === poly.minX || x1 === poly.maxX)) continue;
        const d2 = segmentDistance2(x1, y1, x2, y2, lon, lat, kx, ky);
        if (d2 < best) best = d2;
      }
    }
  }
  return Math.sqrt(best);
}

/** Metres from (lon, lat) to the nearest point of a corridor's line, in a local projection at lat. */
function lineDistance(line: Float64Array, lon: number, lat: number): number {
  const kx = metresPerDegreeLon(lat);
  const ky = metresPerDegreeLat(lat);
  let best = Infinity;
  for (let i = 0; i + 3 < line.length; i += 2) {
    const d2 = segmentDistance2(line[i]!, line[i + 1]!, line[i + 2]!, line[i + 3]!, lon, lat, kx, ky);
    if (d2 < best) best = d2;
  }
  return Math.sqrt(best);
}

/**
 * Squared metres from (lon, lat) to the segment (x1, y1)–(x2, y2), in a local projection with kx, ky
 * metres per degree; the segment is moved by whole turns of 360° to the copy nearest the point.
 */
function segmentDistance2(x1: number, y1: number, x2: number, y2: number, lon: number, lat: number, kx: number, ky: number): number {
  let d1 = x1 - lon;
  d1 -= 360 * Math.round(d1 / 360);
  const ax = d1 * kx;
  const ay = (y1 - lat) * ky;
  const bx = (d1 + (x2 - x1)) * kx;
  const by = (y2 - lat) * ky;
  const ex = bx - ax;
  const ey = by - ay;
  const len2 = ex * ex + ey * ey;
  let t = len2 > 0 ? -(ax * ex + ay * ey) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const cx = ax + t * ex;
  const cy = ay + t * ey;
  return cx * cx + cy * cy;
}
