/** shapeContains, the point test the notification service uses for drawn areas, checked against turf. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as turf from '@turf/turf';
import { parseFenceShape, shapeContains } from '../../src/core/geometry.js';

const hall = { type: 'Polygon', coordinates: [[[13.40, 52.52], [13.41, 52.52], [13.41, 52.53], [13.405, 52.525], [13.40, 52.53], [13.40, 52.52]]] } as const;
const withHole = { type: 'Polygon', coordinates: [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [4, 6], [6, 6], [6, 4], [4, 4]]] } as const;

describe('shapeContains', () => {
  it('agrees with turf.booleanPointInPolygon on random points around a concave polygon and a polygon with a hole', () => {
    for (const geometry of [hall, withHole]) {
      const shape = parseFenceShape(geometry, undefined);
      const [minX, minY, maxX, maxY] = turf.bbox(geometry as never);
      fc.assert(
        fc.property(fc.double({ min: minX! - 0.01, max: maxX! + 0.01, noNaN: true }), fc.double({ min: minY! - 0.01, max: maxY! + 0.01, noNaN: true }), (lon, lat) => {
          assert.equal(shapeContains(shape, lon, lat), turf.booleanPointInPolygon([lon, lat], geometry as never), `at ${lon}, ${lat}`);
        }),
        { numRuns: 2000, seed: 42 },
      );
    }
  });

  it('counts a point on an edge or a vertex as inside, as turf does', () => {
    const shape = parseFenceShape(withHole, undefined);
    assert.equal(shapeContains(shape, 5, 0), true);
    assert.equal(shapeContains(shape, 10, 10), true);
    assert.equal(shapeContains(shape, 4, 5), true, 'on the hole boundary');
    assert.equal(shapeContains(shape, 5, 5), false, 'inside the hole');
  });

  it('tests a circle by geodesic distance, agreeing with turf.distance away from the rim', () => {
    const shape = parseFenceShape({ type: 'Point', coordinates: [13.3777, 52.5163] }, 500);
    fc.assert(
      fc.property(fc.double({ min: 13.36, max: 13.39, noNaN: true }), fc.double({ min: 52.51, max: 52.523, noNaN: true }), (lon, lat) => {
        const metres = turf.distance([13.3777, 52.5163], [lon, lat], { units: 'meters' });
        if (Math.abs(metres - 500) < 5) return; // turf uses a sphere; near the rim the ellipsoid decides
        assert.equal(shapeContains(shape, lon, lat), metres <= 500);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('handles a polygon across the antimeridian', () => {
    const shape = parseFenceShape({ type: 'Polygon', coordinates: [[[179, -17], [-179, -17], [-179, -16], [179, -16], [179, -17]]] }, undefined);
    assert.equal(shapeContains(shape, 179.5, -16.5), true);
    assert.equal(shapeContains(shape, -179.5, -16.5), true);
    assert.equal(shapeContains(shape, 178.5, -16.5), false);
    assert.equal(shapeContains(shape, 0, -16.5), false);
  });
});
