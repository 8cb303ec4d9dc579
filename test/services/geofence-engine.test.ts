import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import * as turf from '@turf/turf';
import geodesic from 'geographiclib-geodesic';
import { metresPerDegreeLat, metresPerDegreeLon, normalizeLon } from '../../src/core/geo.js';
import { parseFenceShape, type FenceShape } from '../../src/core/geometry.js';
import { decide, DEFAULT_HYSTERESIS, FenceIndex } from '../../src/services/geofence/engine.js';
import { randomLat, seededRandom } from '../support/random.js';

const WGS84 = geodesic.Geodesic.WGS84;
type Ring = [number, number][];

const southAfrica = (JSON.parse(readFileSync(new URL('../../../test/fixtures/south-africa-lesotho.geojson', import.meta.url), 'utf8')) as {
  features: Array<{ geometry: { type: 'Polygon'; coordinates: Ring[] } }>;
}).features[0]!.geometry;

function polygon(rings: Ring[]): FenceShape {
  return parseFenceShape({ type: 'Polygon', coordinates: rings }, undefined);
}

/** A random star-shaped ring around (lon, lat) with radii between rMin and rMax degrees. */
function starRing(random: () => number, lon: number, lat: number, n: number, rMin: number, rMax: number): Ring {
  const ring: Ring = [];
  for (let i = 0; i < n; i++) {
    const angle = ((i + random() * 0.9) / n) * 2 * Math.PI;
    const r = rMin + random() * (rMax - rMin);
    ring.push([lon + r * Math.cos(angle), lat + r * Math.sin(angle)]);
  }
  ring.push(ring[0]!);
  return ring;
}

/** Points to probe a ring with: its corners, points on and 1e-9° off its corners and edges. */
function boundaryProbes(random: () => number, rings: Ring[], out: [number, number][]): void {
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i++) {
      const [x1, y1] = ring[i]!;
      const [x2, y2] = ring[i + 1]!;
      const t = random();
      out.push([x1, y1], [x1 + t * (x2 - x1), y1 + t * (y2 - y1)], [(x1 + x2) / 2, (y1 + y2) / 2]);
      for (const d of [1e-9, -1e-9]) {
        out.push([x1 + d, y1], [x1, y1 + d], [x1 + t * (x2 - x1) + d, y1 + t * (y2 - y1)], [x1 + t * (x2 - x1), y1 + t * (y2 - y1) - d]);
      }
    }
  }
}

function agreeWithTurf(index: FenceIndex, id: string, rings: Ring[], points: [number, number][]): number {
  const turfPolygon = turf.polygon(rings);
  let onBoundary = 0;
  for (const [lon, lat] of points) {
    const ours = index.containing(lon, lat).includes(id);
    const theirs = turf.booleanPointInPolygon(turf.point([lon, lat]), turfPolygon);
    if (theirs && !turf.booleanPointInPolygon(turf.point([lon, lat]), turfPolygon, { ignoreBoundary: true })) onBoundary++;
    assert.equal(ours, theirs, `disagree at [${lon}, ${lat}]`);
  }
  return onBoundary;
}

void describe('FenceIndex.containing', () => {
  void it('agrees with turf on 4000 points around a real South Africa outline with Lesotho as a hole, boundary counting as inside', () => {
    const index = new FenceIndex();
    index.upsert('za', parseFenceShape(southAfrica, undefined));
    const random = seededRandom(11);
    const points: [number, number][] = [];
    for (let i = 0; i < 3000; i++) points.push([16 + random() * 17.5, -35.5 + random() * 14]);
    for (let i = 0; i < 1000; i++) points.push([26.8 + random() * 3, -30.8 + random() * 2.4]); // around Lesotho
    boundaryProbes(random, southAfrica.coordinates, points);
    const onBoundary = agreeWithTurf(index, 'za', southAfrica.coordinates, points);
    assert.ok(onBoundary >= 92, `corners are on the boundary (saw ${onBoundary})`);
    assert.deepEqual(index.containing(28.03, -26.2), ['za'], 'Johannesburg');
    assert.deepEqual(index.containing(27.48, -29.4), [], 'Maseru, Lesotho, is in the hole');
  });

  void it('agrees with turf on 50 random polygons with holes, 400 points each plus their boundaries', () => {
    const random = seededRandom(12);
    for (let k = 0; k < 50; k++) {
      const lon = random() * 340 - 170;
      const lat = random() * 140 - 70;
      const rings = [starRing(random, lon, lat, 5 + Math.floor(random() * 60), 0.3, 1), starRing(random, lon, lat, 3 + Math.floor(random() * 10), 0.05, 0.25)];
      const index = new FenceIndex();
      index.upsert('p', polygon(rings));
      const points: [number, number][] = [];
      for (let i = 0; i < 400; i++) points.push([lon - 1.1 + random() * 2.2, lat - 1.1 + random() * 2.2]);
      boundaryProbes(random, rings, points);
      agreeWithTurf(index, 'p', rings, points);
    }
  });

  void it('agrees with GeographicLib on 4000 points against random circles from 10 m to 1000 km', () => {
    const random = seededRandom(13);
    for (let k = 0; k < 40; k++) {
      const lon = random() * 360 - 180;
      const lat = randomLat(random);
      const radius = 10 ** (1 + random() * 5);
      const index = new FenceIndex();
      index.upsert('c', { kind: 'circle', center: [lon, lat], radius });
      for (let i = 0; i < 100; i++) {
        const target = WGS84.Direct(lat, lon, random() * 360, radius * (0.8 + random() * 0.4));
        const s = WGS84.Inverse(lat, lon, target.lat2!, target.lon2!).s12!;
        if (Math.abs(s - radius) < 0.01) continue; // closer to the edge than either side's precision
        assert.equal(index.containing(target.lon2!, target.lat2!).length === 1, s <= radius, `r=${radius} s=${s}`);
        assert.ok(Math.abs(index.signedDistance('c', target.lon2!, target.lat2!) - (s - radius)) < 0.05 + radius * 1e-9);
      }
    }
  });

  void it('handles a fence across the antimeridian around Taveuni, Fiji', () => {
    const rings: Ring[] = [[[179.8, -16.6], [-179.8, -16.6], [-179.8, -17.0], [179.8, -17.0], [179.8, -16.6]]];
    const index = new FenceIndex();
    index.upsert('taveuni', polygon(rings));
    assert.deepEqual(index.containing(179.9, -16.8), ['taveuni']);
    assert.deepEqual(index.containing(-179.9, -16.8), ['taveuni']);
    assert.deepEqual(index.containing(180, -16.8), ['taveuni']);
    assert.deepEqual(index.containing(-180, -16.8), ['taveuni']);
    assert.deepEqual(index.containing(179.7, -16.8), []);
    assert.deepEqual(index.containing(-179.7, -16.8), []);
    assert.deepEqual(index.containing(0, -16.8), [], 'not the long way round');
    // Against turf on the same shape drawn continuously east of 180°.
    const continuous = turf.polygon([[[179.8, -16.6], [180.2, -16.6], [180.2, -17.0], [179.8, -17.0], [179.8, -16.6]]]);
    const random = seededRandom(14);
    for (let i = 0; i < 2000; i++) {
      const x = 179.6 + random() * 0.8;
      const y = -17.2 + random() * 0.8;
      assert.equal(index.containing(normalizeLon(x), y).length === 1, turf.booleanPointInPolygon([x, y], continuous), `at ${x}, ${y}`);
    }
    // 0.1° inside the east edge at 17°S: about 10.6 km.
    const d = index.signedDistance('taveuni', -179.9, -16.8);
    assert.ok(d < -10_000 && d > -11_000, `${d}`);
    const circle = new FenceIndex();
    circle.upsert('c', { kind: 'circle', center: [179.99, -16.8], radius: 5_000 });
    assert.deepEqual(circle.containing(-179.98, -16.8), ['c']);
    assert.deepEqual(circle.near(-179.9, -16.8, 7_000).map((n) => n.id), ['c']);
  });

  void it('handles a polar cap north of 85° and a circle around the South Pole', () => {
    const cap: Ring[] = [[[-180, 85], [-90, 85], [0, 85], [90, 85], [180, 85], [180, 90], [-180, 90], [-180, 85]]];
    const index = new FenceIndex();
    index.upsert('arctic', polygon(cap));
    index.upsert('antarctic', { kind: 'circle', center: [0, -90], radius: 500_000 });
    for (const lon of [-180, -179.999, -90, 0, 45.5, 179.999, 180]) {
      assert.deepEqual(index.containing(lon, 86), ['arctic'], `lon ${lon}`);
      assert.deepEqual(index.containing(lon, 85), ['arctic'], `boundary at lon ${lon}`);
      assert.deepEqual(index.containing(lon, 84.99), [], `lon ${lon}`);
      assert.deepEqual(index.containing(lon, -86), ['antarctic'], `lon ${lon}`);
      assert.deepEqual(index.containing(lon, -85), [], `lon ${lon}`);
    }
    assert.deepEqual(index.containing(17, 90), ['arctic']);
    assert.deepEqual(index.containing(17, -90), ['antarctic']);
    // Inside the cap the boundary is the 85th parallel, not the pole and not the 180° seam.
    const m = (lat: number): number => WGS84.Inverse(85, 0, lat, 0).s12!;
    for (const [lon, lat] of [[179.9999, 87], [0, 89.999], [-180, 86]] as const) {
      const d = index.signedDistance('arctic', lon, lat);
      assert.ok(Math.abs(-d - m(lat)) < m(lat) * 0.01, `${lon},${lat}: ${d} vs ${-m(lat)}`);
    }
    const random = seededRandom(15);
    for (let i = 0; i < 1000; i++) {
      const lon = random() * 360 - 180;
      const lat = -84 - random() * 6;
      const s = WGS84.Inverse(-90, 0, lat, lon).s12!;
      if (Math.abs(s - 500_000) < 0.01) continue;
      assert.equal(index.containing(lon, lat).includes('antarctic'), s <= 500_000);
    }
  });

  void it('answers like a linear scan with 10,000 fences indexed, for containing and near', () => {
    const random = seededRandom(16);
    const index = new FenceIndex();
    const shapes = new Map<string, { shape: FenceShape }>();
    for (let i = 0; i < 10_000; i++) {
      const lon = i % 100 === 0 ? 179.9 + random() * 0.2 - 0.1 : -10 + random() * 20;
      const lat = i % 333 === 0 ? 88 + random() * 2 : 40 + random() * 10;
      const id = `f${i}`;
      if (random() < 0.5) {
        const shape: FenceShape = { kind: 'circle', center: [normalizeLon(lon), lat], radius: 50 + random() * 50_000 };
        shapes.set(id, { shape });
        index.upsert(id, shape);
      } else {
        const rings = [starRing(random, lon, Math.min(lat, 89), 3 + Math.floor(random() * 20), 0.01, 0.4).map(([x, y]): [number, number] => [normalizeLon(x), y])];
        const shape = polygon(rings);
        shapes.set(id, { shape });
        index.upsert(id, shape);
      }
    }
    assert.equal(index.size, 10_000);
    for (let q = 0; q < 300; q++) {
      const lon = q % 10 === 0 ? normalizeLon(179.9 + random() * 0.2) : -10 + random() * 20;
      const lat = q % 7 === 0 ? 87 + random() * 3 : 40 + random() * 10;
      const margin = random() * 2_000;
      const inside: string[] = [];
      const near = new Map<string, number>();
      for (const id of shapes.keys()) {
        const d = index.signedDistance(id, lon, lat);
        if (d <= 0) inside.push(id);
        if (d <= margin) near.set(id, d);
      }
      assert.deepEqual(index.containing(lon, lat).sort(), inside.sort(), `containing at ${lon}, ${lat}`);
      const found = index.near(lon, lat, margin);
      assert.deepEqual(found.map((n) => n.id).sort(), [...near.keys()].sort(), `near at ${lon}, ${lat}`);
      for (const n of found) assert.equal(n.distance, near.get(n.id));
    }
  });
});

void describe('FenceIndex bookkeeping', () => {
  void it('replaces a fence on upsert and forgets it on remove', () => {
    const index = new FenceIndex();
    index.upsert('a', { kind: 'circle', center: [0, 0], radius: 100 });
    assert.ok(index.has('a'));
    assert.deepEqual(index.containing(0, 0), ['a']);
    index.upsert('a', { kind: 'circle', center: [10, 10], radius: 100 });
    assert.equal(index.size, 1);
    assert.deepEqual(index.containing(0, 0), []);
    assert.deepEqual(index.containing(10, 10), ['a']);
    index.remove('a');
    index.remove('never-there');
    assert.equal(index.size, 0);
    assert.equal(index.has('a'), false);
    assert.deepEqual(index.containing(10, 10), []);
    assert.throws(() => index.signedDistance('a', 0, 0), /fence a does not exist/);
  });

  void it('measures the signed distance to a polygon edge in metres', () => {
    const index = new FenceIndex();
    // A 0.02° square in Bern; the point is 0.001° of latitude south of its south edge.
    index.upsert('sq', polygon([[[7.43, 46.94], [7.45, 46.94], [7.45, 46.96], [7.43, 46.96], [7.43, 46.94]]]));
    const want = WGS84.Inverse(46.939, 7.44, 46.94, 7.44).s12!;
    assert.ok(Math.abs(index.signedDistance('sq', 7.44, 46.939) - want) < 0.01);
    assert.ok(Math.abs(index.signedDistance('sq', 7.44, 46.941) + WGS84.Inverse(46.941, 7.44, 46.94, 7.44).s12!) < 0.01);
    const east = WGS84.Inverse(46.95, 7.449, 46.95, 7.45).s12!;
    assert.ok(Math.abs(index.signedDistance('sq', 7.449, 46.95) + east) < 0.01, 'inside, near the east edge');
    assert.ok(Math.abs(index.signedDistance('sq', 7.45, 46.95)) < 1e-6, 'on the edge');
  });
});

void describe('hysteresis', () => {
  void it('enters only with the whole accuracy circle inside and exits only beyond accuracy plus margin', () => {
    const h = DEFAULT_HYSTERESIS;
    assert.deepEqual(h, { exitMargin: 10, useAccuracy: true });
    assert.equal(decide(false, -20, 20, h), 'enter');
    assert.equal(decide(false, -19.9, 20, h), null);
    assert.equal(decide(false, 0, undefined, h), 'enter');
    assert.equal(decide(false, 0.1, undefined, h), null);
    assert.equal(decide(true, 30, 20, h), 'exit');
    assert.equal(decide(true, 29.9, 20, h), null);
    assert.equal(decide(true, 10, undefined, h), 'exit');
    assert.equal(decide(true, -100, 20, h), null);
    assert.equal(decide(false, 100, 20, h), null);
    assert.equal(decide(false, -1, 50, { exitMargin: 0, useAccuracy: false }), 'enter');
    assert.equal(decide(true, 0, 50, { exitMargin: 0, useAccuracy: false }), 'exit');
  });

  void it('reports exits before enters, exits from far-away fences, and nothing for removed ones', () => {
    const index = new FenceIndex();
    index.upsert('home', { kind: 'circle', center: [7.44, 46.95], radius: 200 });
    index.upsert('work', { kind: 'circle', center: [8.54, 47.37], radius: 200 }, { exitMargin: 50 });
    const moved = index.evaluate(8.54, 47.37, 10, new Set(['home', 'gone']));
    assert.deepEqual(
      moved.map((t) => [t.fenceId, t.type]),
      [['home', 'exit'], ['work', 'enter']],
    );
    assert.ok(moved[0]!.distance > 90_000);
    assert.ok(Math.abs(moved[1]!.distance + 200) < 0.01);
    assert.deepEqual(index.evaluate(8.54, 47.37, 10, new Set(['work'])), []);
    // 220 m from work's centre with 15 m accuracy: 20 m out, inside the 15 + 50 band: stays inside.
    const lat = 47.37 + 220 / metresPerDegreeLat(47.37);
    assert.deepEqual(index.evaluate(8.54, lat, 15, new Set(['work'])), []);
  });

  const fences: Record<string, { shape: FenceShape; lon: number; lat: number; inward: number }> = {
    // inward: the bearing (degrees from north) that crosses the boundary going in, at the probe point.
    circle: { shape: { kind: 'circle', center: [7.44, 46.95], radius: 300 }, lon: 7.44, lat: 46.95 - 300 / metresPerDegreeLat(46.95), inward: 0 },
    square: { shape: polygon([[[7.43, 46.94], [7.45, 46.94], [7.45, 46.96], [7.43, 46.96], [7.43, 46.94]]]), lon: 7.44, lat: 46.94, inward: 0 },
    taveuni: { shape: polygon([[[179.8, -16.6], [-179.8, -16.6], [-179.8, -17.0], [179.8, -17.0], [179.8, -16.6]]]), lon: -179.8, lat: -16.8, inward: 270 },
  };

  /** A point `metres` along `bearing` from (lon, lat), plus noise of `noise` metres along `noiseBearing`. */
  function offset(lon: number, lat: number, bearing: number, metres: number, noiseBearing: number, noise: number): [number, number] {
    const b = (bearing * Math.PI) / 180;
    const nb = (noiseBearing * Math.PI) / 180;
    const north = metres * Math.cos(b) + noise * Math.cos(nb);
    const east = metres * Math.sin(b) + noise * Math.sin(nb);
    return [normalizeLon(lon + east / metresPerDegreeLon(lat)), lat + north / metresPerDegreeLat(lat)];
  }

  for (const [name, fence] of Object.entries(fences)) {
    void it(`gives at most one enter and no exit for a noisy device crossing the ${name} boundary once (property)`, () => {
      const fix = fc.record({ accuracy: fc.double({ min: 0, max: 60, noNaN: true }), noise: fc.double({ min: 0, max: 1, noNaN: true }), dir: fc.double({ min: 0, max: 360, noNaN: true }) });
      fc.assert(
        fc.property(fc.array(fix, { minLength: 2, maxLength: 80 }), fc.boolean(), fc.double({ min: 0, max: 30, noNaN: true }), (fixes, goingIn, exitMargin) => {
          const index = new FenceIndex();
          index.upsert('f', fence.shape, { exitMargin });
          const inside = new Set<string>(goingIn ? [] : ['f']);
          let enters = 0;
          let exits = 0;
          fixes.forEach((f, i) => {
            // The true path runs straight from 150 m on one side to 150 m on the other.
            const along = -150 + (300 * i) / (fixes.length - 1);
            const bearing = goingIn ? fence.inward : fence.inward + 180;
            const [lon, lat] = offset(fence.lon, fence.lat, bearing, along, f.dir, f.noise * f.accuracy);
            for (const t of index.evaluate(lon, lat, f.accuracy, inside)) {
              if (t.type === 'enter') {
                enters++;
                inside.add(t.fenceId);
              } else {
                exits++;
                inside.delete(t.fenceId);
              }
            }
          });
          return goingIn ? enters <= 1 && exits === 0 : exits <= 1 && enters === 0;
        }),
        { seed: 424242, numRuns: 400 },
      );
    });
  }

  void it('flips a stationary noisy device near a boundary at most once (property)', () => {
    const fence = fences['square']!;
    fc.assert(
      fc.property(
        fc.double({ min: -60, max: 60, noNaN: true }),
        fc.boolean(),
        fc.array(fc.record({ accuracy: fc.double({ min: 0, max: 60, noNaN: true }), noise: fc.double({ min: 0, max: 1, noNaN: true }), dir: fc.double({ min: 0, max: 360, noNaN: true }) }), { minLength: 1, maxLength: 100 }),
        (along, startInside, fixes) => {
          const index = new FenceIndex();
          index.upsert('f', fence.shape);
          const inside = new Set<string>(startInside ? ['f'] : []);
          let flips = 0;
          for (const f of fixes) {
            const [lon, lat] = offset(fence.lon, fence.lat, fence.inward, along, f.dir, f.noise * f.accuracy);
            for (const t of index.evaluate(lon, lat, f.accuracy, inside)) {
              flips++;
              if (t.type === 'enter') inside.add(t.fenceId);
              else inside.delete(t.fenceId);
            }
          }
          return flips <= 1;
        },
      ),
      { seed: 777, numRuns: 500 },
    );
  });
});

describe('nearest boundary', () => {
  /** Places: a city, both sides of the antimeridian, next to both poles, the equator. */
  const PLACES: [number, number][] = [[13.4, 52.5], [179.97, -16.6], [-179.96, 65.9], [30, 89.97], [-120, -89.96], [0, 0]];

  it('is the smallest |distance| of every fence near, with fences measured nearest first (circles, polygons, corridors; the antimeridian and the poles)', () => {
    const random = seededRandom(31);
    let compared = 0;
    let found = 0;
    for (const [lon, lat] of PLACES) {
      const index = new FenceIndex();
      const polar = Math.abs(lat) > 89;
      const spread = polar ? 0.02 : 0.05; // degrees of latitude; near a pole, any longitude: the short way is across it
      const at = () => [polar ? random() * 360 - 180 : normalizeLon(lon + (random() - 0.5) * spread * 2), Math.max(-89.999, Math.min(89.999, lat + (random() - 0.5) * spread))] as [number, number];
      for (let i = 0; i < 300; i++) {
        const [x, y] = at();
        const kind = i % 3;
        if (kind === 0) index.upsert(`c${i}`, { kind: 'circle', center: [x, y], radius: 5 + random() * 300 });
        else if (kind === 1 && Math.abs(y) < 89.9) index.upsert(`p${i}`, polygon([starRing(random, x, y, 5 + Math.floor(random() * 6), 0.0005, 0.003).map(([px, py]) => [normalizeLon(px), py] as [number, number])]));
        else {
          const [x2, y2] = at();
          index.upsert(`l${i}`, parseFenceShape({ type: 'LineString', coordinates: [[x, y], [x2, y2]] }, undefined, 'geometry', 10 + random() * 40));
        }
      }
      for (let q = 0; q < 200; q++) {
        const [x, y] = at();
        for (const within of [50, 1000, 5000, 200_000]) {
          const brute = index.near(x, y, within).map((n) => Math.abs(n.distance)).filter((d) => d <= within);
          const expected = brute.length ? Math.min(...brute) : undefined;
          const actual = index.nearestBoundary(x, y, within);
          assert.equal(actual, expected, `nearest boundary at ${x}, ${y} within ${within} m`);
          compared++;
          if (actual !== undefined) found++;
        }
      }
    }
    assert.equal(compared, PLACES.length * 200 * 4);
    assert.ok(found > compared / 2, `most probes have a boundary within reach (${found} of ${compared})`);
  });

  it('is undefined for an empty index and when nothing is within reach', () => {
    const index = new FenceIndex();
    assert.equal(index.nearestBoundary(13.4, 52.5, 5000), undefined);
    index.upsert('c', { kind: 'circle', center: [13.4, 52.5], radius: 100 });
    assert.equal(index.nearestBoundary(13.6, 52.5, 5000), undefined, 'about 13.5 km away');
    assert.ok(Math.abs(index.nearestBoundary(13.4, 52.5, 5000)! - 100) < 0.01, 'at the centre: the radius');
  });

  it('finds the boundary across a pole, where degrees of longitude are metres', () => {
    // From (180, 89.99): a circle across the pole at (0, 89.99) is about 2.2 km away, one on this
    // side at (180, 89.96) about 3.3 km. In the projection at 89.99° the first one's box is 180° of
    // longitude away, about 3.5 km: a bound from it alone would have skipped the nearer circle.
    const index = new FenceIndex();
    index.upsert('across', { kind: 'circle', center: [0, 89.99], radius: 10 });
    index.upsert('this-side', { kind: 'circle', center: [180, 89.96], radius: 10 });
    const expected = Math.min(...index.near(180, 89.99, 5000).map((n) => Math.abs(n.distance)));
    assert.ok(expected > 2100 && expected < 2300, `across the pole: ${expected} m`);
    assert.equal(index.nearestBoundary(180, 89.99, 5000), expected);
  });
});
