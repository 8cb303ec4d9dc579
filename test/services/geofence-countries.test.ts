/**
 * The engine against turf on real, complex outlines: Natural Earth 1:50m countries (world-atlas), with
 * holes (South Africa around Lesotho, Italy around San Marino and the Vatican), many parts (Indonesia,
 * Canada), and rings across the antimeridian and down to the pole (Russia, Fiji, Antarctica).
 *
 * How Natural Earth (as quantised by world-atlas) draws the antimeridian: parts are cut at ±180°, but
 * quantisation writes some 180° positions as -180°, so a ring can jump from 179.9° to -180° and run on
 * east of it. The engine reads such a jump as a crossing (docs/geofencing.md); the reference here is
 * turf on the same ring drawn continuously (longitudes shifted by 360° after each jump), asked about the
 * point at lon, lon + 360 and lon - 360. Antarctica comes as an outer ring around the pole at -89.999°
 * with the coast as a "hole" that also winds around the globe; both enclose the pole, so the continent
 * is what lies between them and the last 110 m around the pole are outside, for turf and for us.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as turf from '@turf/turf';
import { feature } from 'topojson-client';
import type { Topology, GeometryCollection } from 'topojson-specification';
import { parseFenceShape } from '../../src/core/geometry.js';
import { FenceIndex } from '../../src/services/geofence/engine.js';
import { seededRandom } from '../support/random.js';

type Ring = number[][];
const require = createRequire(import.meta.url);
const world = require('world-atlas/countries-50m.json') as Topology<{ countries: GeometryCollection<{ name: string }> }>;
const countries = new Map(
  (feature(world, world.objects.countries) as unknown as { features: Array<{ properties: { name: string }; geometry: { type: string; coordinates: unknown } }> }).features.map((f) => [f.properties.name, f.geometry]),
);

function polygonsOf(name: string): Ring[][] {
  const g = countries.get(name);
  assert.ok(g, `${name} is in world-atlas`);
  return g.type === 'Polygon' ? [g.coordinates as Ring[]] : (g.coordinates as Ring[][]);
}

/** The reference: each ring drawn continuously across the antimeridian, each polygon moved to start in [-180, 180). */
function referencePolygons(polygons: Ring[][]): ReturnType<typeof turf.polygon>[] {
  return polygons.map((rings) => {
    const unwrapped = rings.map((ring) => {
      let offset = 0;
      const out = ring.map((p, i) => {
        if (i > 0) {
          const d = p[0]! - ring[i - 1]![0]!;
          if (d > 180) offset -= 360;
          else if (d < -180) offset += 360;
        }
        return [p[0]! + offset, p[1]!];
      });
      // A ring that winds once around the globe (Antarctica's) encloses the pole on its side: close it there.
      const first = out[0]!;
      const last = out[out.length - 1]!;
      if (last[0] !== first[0]) {
        const pole = out.reduce((s, p) => s + p[1]!, 0) < 0 ? -90 : 90;
        out.push([last[0]!, pole], [first[0]!, pole], [first[0]!, first[1]!]);
      }
      return out;
    });
    // The outer ring starts in [-180, 180); each hole goes to the copy (±360°) nearest the outer ring.
    const centre = (r: number[][]): number => (Math.min(...r.map((p) => p[0]!)) + Math.max(...r.map((p) => p[0]!))) / 2;
    const k = Math.floor((Math.min(...unwrapped[0]!.map((p) => p[0]!)) + 180) / 360);
    const outerCentre = centre(unwrapped[0]!) - 360 * k;
    return turf.polygon(
      unwrapped.map((r, i) => {
        const shift = i === 0 ? k : Math.round((centre(r) - outerCentre) / 360);
        return shift === 0 ? r : r.map((p) => [p[0]! - 360 * shift, p[1]!]);
      }),
    );
  });
}

function referenceContains(reference: ReturnType<typeof turf.polygon>[], lon: number, lat: number): boolean {
  return reference.some((poly) => [lon, lon + 360, lon - 360].some((x) => turf.booleanPointInPolygon([x, lat], poly)));
}

/** Random points over the outline's extent, plus every vertex, points 1e-9° beside vertices and on and beside edges. */
function probes(polygons: Ring[][], random: () => number, randomCount: number, edgeEvery: number): [number, number][] {
  const out: [number, number][] = [];
  const rings = polygons.flat();
  const all = rings.flat();
  const south = Math.min(...all.map((p) => p[1]!));
  const north = Math.max(...all.map((p) => p[1]!));
  const west = Math.min(...all.map((p) => p[0]!));
  const east = Math.max(...all.map((p) => p[0]!));
  for (let i = 0; i < randomCount; i++) out.push([west + random() * (east - west), south + random() * (north - south)]);
  let k = 0;
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      if (k++ % edgeEvery !== 0) continue;
      const [x1, y1] = ring[i] as [number, number];
      const [x2, y2] = ring[i + 1] as [number, number];
      if (Math.abs(x2 - x1) > 180) continue; // the jump itself is not an edge anyone draws
      const t = random();
      out.push([x1, y1], [x1 + 1e-9, y1], [x1, y1 - 1e-9], [(x1 + x2) / 2, (y1 + y2) / 2], [x1 + t * (x2 - x1), y1 + t * (y2 - y1) + 1e-9], [x1 + t * (x2 - x1) - 1e-9, y1 + t * (y2 - y1)]);
    }
  }
  return out.filter(([x, y]) => x >= -180 && x <= 180 && y >= -90 && y <= 90);
}

const cases: Array<{ name: string; random: number; edgeEvery: number; inside?: [number, number][]; outside?: [number, number][] }> = [
  { name: 'South Africa', random: 1500, edgeEvery: 1, inside: [[28.03, -26.2]], outside: [[27.48, -29.4]] },
  { name: 'Lesotho', random: 300, edgeEvery: 1, inside: [[27.48, -29.4]] },
  { name: 'Italy', random: 1500, edgeEvery: 1, inside: [[12.4964, 41.9028]], outside: [[12.4578, 43.9424]] },
  { name: 'San Marino', random: 200, edgeEvery: 1, inside: [[12.4578, 43.9424]] },
  { name: 'Indonesia', random: 2000, edgeEvery: 3, inside: [[106.8456, -6.2088]] },
  { name: 'Canada', random: 2000, edgeEvery: 6, inside: [[-75.6972, 45.4215]] },
  { name: 'Russia', random: 2500, edgeEvery: 4, inside: [[37.6173, 55.7558], [-179.5, 68.5], [179.9, 68.9]] },
  { name: 'Fiji', random: 1500, edgeEvery: 1, inside: [[178.0, -17.8]] },
  { name: 'Antarctica', random: 2500, edgeEvery: 4, inside: [[0, -85], [-180, -88], [180, -88], [179.999, -89.99]] },
  { name: 'United States of America', random: 2000, edgeEvery: 5, inside: [[-77.0369, 38.9072], [-149.9, 61.2]] },
  { name: 'Kiribati', random: 500, edgeEvery: 1 },
];

void describe('FenceIndex against turf on Natural Earth country outlines', () => {
  let total = 0;
  for (const c of cases) {
    void it(`agrees with turf on ${c.name}`, () => {
      const polygons = polygonsOf(c.name);
      const index = new FenceIndex();
      index.upsert('c', parseFenceShape({ type: 'MultiPolygon', coordinates: polygons }, undefined));
      const reference = referencePolygons(polygons);
      const random = seededRandom(c.name.length * 7919);
      const points = probes(polygons, random, c.random, c.edgeEvery);
      let inside = 0;
      for (const [lon, lat] of points) {
        const ours = index.containing(lon, lat).length === 1;
        assert.equal(ours, referenceContains(reference, lon, lat), `${c.name} at [${lon}, ${lat}]`);
        assert.equal(index.scan(lon, lat).length === 1, ours, 'the linear scan agrees');
        if (ours) inside++;
      }
      for (const p of c.inside ?? []) assert.equal(index.containing(p[0], p[1]).length, 1, `${c.name} contains ${p}`);
      for (const p of c.outside ?? []) assert.equal(index.containing(p[0], p[1]).length, 0, `${c.name} does not contain ${p}`);
      assert.ok(inside > 0 && inside < points.length, 'both answers occur');
      total += points.length;
    });
  }
  void it('probed thousands of points in all', () => assert.ok(total > 20_000, `${total}`));
});
