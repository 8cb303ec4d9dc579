import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import geodesic from 'geographiclib-geodesic';
import { bboxAround, deltaLon, destination, distanceMetres, normalizeLon } from '../../src/core/geo.js';
import { randomLat, seededRandom } from '../support/random.js';

const WGS84 = geodesic.Geodesic.WGS84;

function reference(lon1: number, lat1: number, lon2: number, lat2: number): number {
  return WGS84.Inverse(lat1, lon1, lat2, lon2).s12!;
}

/** A pair of points `metres` apart, starting at (lon, lat) on a random bearing. */
function pairAt(lon: number, lat: number, bearing: number, metres: number): [number, number, number, number] {
  const r = WGS84.Direct(lat, lon, bearing, metres);
  return [lon, lat, r.lon2!, r.lat2!];
}

function worstError(pairs: Array<[number, number, number, number]>): { abs: number; rel: number } {
  let abs = 0;
  let rel = 0;
  for (const [lon1, lat1, lon2, lat2] of pairs) {
    const want = reference(lon1, lat1, lon2, lat2);
    const err = Math.abs(distanceMetres(lon1, lat1, lon2, lat2) - want);
    abs = Math.max(abs, err);
    if (want > 0) rel = Math.max(rel, err / want);
  }
  return { abs, rel };
}

void describe('distanceMetres', () => {
  void it('agrees with GeographicLib within a centimetre on 5000 random pairs up to 50 km apart', () => {
    const random = seededRandom(1);
    const pairs = Array.from({ length: 5000 }, () => pairAt(random() * 360 - 180, randomLat(random), random() * 360, random() * 50_000));
    const { abs } = worstError(pairs);
    assert.ok(abs <= 0.01, `worst error ${abs} m`);
  });

  void it('agrees with GeographicLib within a millimetre at street scale (up to 2 km)', () => {
    const random = seededRandom(2);
    const pairs = Array.from({ length: 3000 }, () => pairAt(random() * 360 - 180, randomLat(random), random() * 360, random() * 2_000));
    assert.ok(worstError(pairs).abs <= 0.001);
  });

  void it('agrees with GeographicLib to 1e-4 relative on 3000 long pairs up to 10,000 km', () => {
    const random = seededRandom(3);
    const pairs = Array.from({ length: 3000 }, () =>
      pairAt(random() * 360 - 180, randomLat(random), random() * 360, 50_000 + random() * 9_950_000),
    );
    const { rel } = worstError(pairs);
    assert.ok(rel <= 1e-4, `worst relative error ${rel}`);
  });

  void it('measures across the antimeridian as the short way round', () => {
    const random = seededRandom(4);
    const pairs: Array<[number, number, number, number]> = [];
    for (let i = 0; i < 2000; i++) {
      const lat = random() * 160 - 80;
      pairs.push([179.5 + random() * 0.5, lat, -180 + random() * 0.5, lat + (random() - 0.5) * 0.2]);
    }
    assert.ok(worstError(pairs).abs <= 0.01);
    assert.ok(Math.abs(distanceMetres(180, 0, -180, 0)) < 1e-6, '180 and -180 are the same meridian');
    assert.ok(Math.abs(distanceMetres(179.9, -17, -179.9, -17) - reference(179.9, -17, -179.9, -17)) < 0.01);
  });

  void it('is right near and at the poles, whatever the longitudes say', () => {
    const random = seededRandom(5);
    const pairs: Array<[number, number, number, number]> = [];
    for (let i = 0; i < 2000; i++) {
      const north = random() < 0.5 ? 1 : -1;
      pairs.push(pairAt(random() * 360 - 180, north * (89.5 + random() * 0.5), random() * 360, random() * 50_000));
      pairs.push([random() * 360 - 180, north * 90, random() * 360 - 180, north * (89.6 + random() * 0.4)]);
    }
    assert.ok(worstError(pairs).abs <= 0.01);
    assert.ok(distanceMetres(0, 90, 137, 90) < 1e-6, 'the pole is one point at every longitude');
    assert.ok(Math.abs(distanceMetres(0, 89, 180, 89) - reference(0, 89, 180, 89)) < 0.01, 'over the pole');
  });

  void it('stays within half a percent for nearly antipodal points', () => {
    const random = seededRandom(6);
    for (let i = 0; i < 500; i++) {
      const lat = random() * 10 - 5;
      const lon = random() * 360 - 180;
      const lon2 = normalizeLon(lon + 179.5 + random());
      const lat2 = -lat + random() - 0.5;
      const want = reference(lon, lat, lon2, lat2);
      assert.ok(Math.abs(distanceMetres(lon, lat, lon2, lat2) - want) / want < 5e-3);
    }
  });
});

void describe('normalizeLon and deltaLon', () => {
  void it('wraps longitudes into [-180, 180] and keeps in-range values as they are', () => {
    assert.equal(normalizeLon(180), 180);
    assert.equal(normalizeLon(-180), -180);
    assert.equal(normalizeLon(190), -170);
    assert.equal(normalizeLon(-190), 170);
    assert.equal(normalizeLon(540), -180);
    assert.equal(normalizeLon(725), 5);
  });

  void it('takes the short way round for longitude differences', () => {
    assert.equal(deltaLon(179, -179), 2);
    assert.equal(deltaLon(-179, 179), -2);
    assert.equal(deltaLon(10, 20), 10);
  });
});

void describe('bboxAround and destination', () => {
  void it('returns a box holding every point within the distance, in any direction', () => {
    const random = seededRandom(7);
    const box = [0, 0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const lon = random() * 360 - 180;
      const lat = randomLat(random);
      const metres = random() < 0.5 ? random() * 5_000 : random() * 1_000_000;
      bboxAround(lon, lat, metres, box);
      const r = WGS84.Direct(lat, lon, random() * 360, metres * random());
      const lat2 = r.lat2!;
      let lon2 = r.lon2!;
      assert.ok(lat2 >= box[1]! && lat2 <= box[3]!, `lat ${lat2} outside ${box.join(',')}`);
      // The box's longitudes are unwrapped: try the point's copies.
      if (lon2 < box[0]!) lon2 += 360;
      if (lon2 > box[2]!) lon2 -= 360;
      assert.ok(lon2 >= box[0]! && lon2 <= box[2]!, `lon ${lon2} outside ${box.join(',')}`);
    }
  });

  void it('spans every longitude when a pole is within reach', () => {
    const north = bboxAround(10, 89.99, 5_000);
    assert.equal(north[0], -180);
    assert.equal(north[2], 180);
    assert.equal(north[3], 90);
    const south = bboxAround(0, -90, 1_000);
    assert.equal(south[0], -180);
    assert.equal(south[1], -90);
    assert.equal(south[2], 180);
  });

  void it('lands a destination point at the asked distance, across the antimeridian too', () => {
    const random = seededRandom(8);
    for (let i = 0; i < 2000; i++) {
      const lon = random() < 0.3 ? 179.99 : random() * 360 - 180;
      const lat = random() * 170 - 85;
      const metres = random() * 5_000;
      const [lon2, lat2] = destination(lon, lat, random() * 360, metres);
      assert.ok(lon2! >= -180 && lon2! <= 180);
      assert.ok(Math.abs(distanceMetres(lon, lat, lon2!, lat2!) - metres) <= 0.5 + metres * 1e-4);
    }
  });
});
