import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AppError } from '../../src/core/errors.js';
import { parseFenceShape, preparePolygon, ringArea, shapeToGeoJSON, type FenceShape } from '../../src/core/geometry.js';

/** Asserts that parsing is refused with invalid_geometry at `field`, with a reason matching `reason`. */
function refuses(geometry: unknown, radius: unknown, field: string, reason: RegExp, root?: string): void {
  assert.throws(
    () => (root === undefined ? parseFenceShape(geometry, radius) : parseFenceShape(geometry, radius, root)),
    (e: unknown) => {
      assert.ok(e instanceof AppError, 'an AppError');
      assert.equal(e.code, 'invalid_geometry');
      assert.equal(e.status, 400);
      assert.equal(e.errors.length, 1);
      assert.equal(e.errors[0]!.field, field);
      assert.match(e.errors[0]!.reason, reason);
      assert.ok(e.message.startsWith(field));
      return true;
    },
  );
}

const square: [number, number][] = [
  [0, 0],
  [1, 0],
  [1, 1],
  [0, 1],
  [0, 0],
];

/** Parses with a width (a corridor's). */
function refusesCorridor(geometry: unknown, width: unknown, field: string, reason: RegExp, radius?: unknown): void {
  assert.throws(
    () => parseFenceShape(geometry, radius, 'fence.geometry', width),
    (e: unknown) => e instanceof AppError && e.code === 'invalid_geometry' && e.errors[0]!.field === field && reason.test(e.errors[0]!.reason),
  );
}

void describe('corridors (LineString with a width)', () => {
  void it('parses a LineString with a width in metres and gives it back', () => {
    const shape = parseFenceShape({ type: 'LineString', coordinates: [[13.37, 52.51], [13.38, 52.52], [13.38, 52.52], [13.39, 52.52, 40]] }, undefined, 'geometry', 30);
    assert.deepEqual(shape, { kind: 'corridor', line: [[13.37, 52.51], [13.38, 52.52], [13.39, 52.52]], width: 30 });
    assert.deepEqual(shapeToGeoJSON(shape), { geometry: { type: 'LineString', coordinates: [[13.37, 52.51], [13.38, 52.52], [13.39, 52.52]] }, width: 30 });
  });

  void it('refuses a corridor without a valid width, with too few positions, or with a radius', () => {
    const line = { type: 'LineString', coordinates: [[0, 0], [0.01, 0]] };
    refusesCorridor(line, undefined, 'fence.width', /needs a width in metres/);
    refusesCorridor(line, 0, 'fence.width', /greater than 0 and at most 100000, got 0/);
    refusesCorridor(line, '20', 'fence.width', /got "20"/);
    refusesCorridor(line, 100_001, 'fence.width', /got 100001/);
    refusesCorridor({ type: 'LineString', coordinates: [[0, 0]] }, 20, 'fence.geometry.coordinates', /at least 2 positions, got 1/);
    refusesCorridor({ type: 'LineString', coordinates: [[0, 0], [0, 0]] }, 20, 'fence.geometry.coordinates', /2 distinct positions/);
    refusesCorridor({ type: 'LineString', coordinates: [[0, 0], [0, 91]] }, 20, 'fence.geometry.coordinates[1]', /latitude must be within/);
    refusesCorridor(line, 20, 'fence.radius', /a corridor takes a width/, 5);
    refusesCorridor({ type: 'Point', coordinates: [0, 0] }, 20, 'fence.width', /only to a LineString/, 5);
  });
});

void describe('parseFenceShape refuses', () => {
  void it('refuses a geometry that is not an object', () => {
    refuses(null, undefined, 'geometry', /expected a GeoJSON geometry object, got null/);
    refuses([1, 2], undefined, 'geometry', /got an array of 2/);
    refuses('POINT(1 2)', undefined, 'geometry', /got "POINT\(1 2\)"/);
  });

  void it('refuses an unknown geometry type, naming what arrived', () => {
    refuses({ type: 'MultiLineString', coordinates: [[[0, 0], [1, 1]]] }, undefined, 'geometry.type', /"LineString" \(with a width\), "Polygon" or "MultiPolygon", got "MultiLineString"/);
    refuses({ coordinates: [0, 0] }, 10, 'geometry.type', /got nothing/);
  });

  void it('refuses coordinates that are not an array', () => {
    refuses({ type: 'Polygon', coordinates: '0 0, 1 1' }, undefined, 'geometry.coordinates', /expected an array of coordinates/);
    refuses({ type: 'Point' }, 10, 'geometry.coordinates', /got nothing/);
  });

  void it('refuses a position that is not two or three finite numbers', () => {
    const ring = [...square];
    ring[3] = ['0', 1] as unknown as [number, number];
    refuses({ type: 'Polygon', coordinates: [ring] }, undefined, 'geometry.coordinates[0][3]', /two or three finite numbers, got "0" at index 0/);
    refuses({ type: 'Point', coordinates: [1] }, 10, 'geometry.coordinates', /expected a position \[longitude, latitude\].*got an array of 1/);
    refuses({ type: 'Point', coordinates: [1, 2, 3, 4] }, 10, 'geometry.coordinates', /got an array of 4/);
    refuses({ type: 'Point', coordinates: [1, Infinity] }, 10, 'geometry.coordinates', /finite numbers, got Infinity at index 1/);
  });

  void it('refuses a longitude outside [-180, 180] and a latitude outside [-90, 90]', () => {
    refuses({ type: 'Point', coordinates: [181, 0] }, 10, 'geometry.coordinates', /longitude must be within \[-180, 180\], got 181/);
    const ring = square.map((p) => [...p]);
    ring[2] = [1, 91];
    refuses({ type: 'Polygon', coordinates: [ring] }, undefined, 'geometry.coordinates[0][2]', /latitude must be within \[-90, 90\], got 91/);
  });

  void it('refuses a ring with fewer than 4 positions', () => {
    refuses({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] }, undefined, 'geometry.coordinates[0]', /at least 4 positions.*got 3/);
    refuses({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [1, 0], [0, 0]]] }, undefined, 'geometry.coordinates[0]', /at least 3 distinct corners, got 2/);
    refuses({ type: 'Polygon', coordinates: [] }, undefined, 'geometry.coordinates', /at least one ring/);
  });

  void it('refuses a polygon whose ring is not closed', () => {
    refuses({ type: 'Polygon', coordinates: [square.slice(0, 4)] }, undefined, 'geometry.coordinates[0]', /not closed: the first position \[0, 0\] differs from the last \[0, 1\]/);
  });

  void it('refuses a self-intersecting bowtie', () => {
    const bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]];
    refuses({ type: 'Polygon', coordinates: [bowtie] }, undefined, 'geometry.coordinates[0]', /crosses itself: the edge from position 0 meets the edge from position 2/);
  });

  void it('refuses a ring that touches itself at a corner or folds back on an edge', () => {
    const pinched = [[0, 0], [2, 0], [2, 2], [1, 0], [0, 2], [0, 0]]; // corner [1, 0] lies on the first edge
    refuses({ type: 'Polygon', coordinates: [pinched] }, undefined, 'geometry.coordinates[0]', /crosses itself/);
    const spike = [[0, 0], [2, 0], [3, 0], [1, 0], [1, 1], [0, 0]]; // goes out to [3, 0] and back
    refuses({ type: 'Polygon', coordinates: [spike] }, undefined, 'geometry.coordinates[0]', /crosses itself/);
  });

  void it('refuses a ring of collinear positions', () => {
    refuses({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [2, 0], [0, 0]]] }, undefined, 'geometry.coordinates[0]', /crosses itself|no area/);
  });

  void it('points into the right polygon, ring and position of a MultiPolygon', () => {
    const bad = [[10, 10], [11, 10], [11, 11], [10, 11], [10, 12]];
    refuses({ type: 'MultiPolygon', coordinates: [[square], [bad]] }, undefined, 'geometry.coordinates[1][0]', /not closed/);
    refuses({ type: 'MultiPolygon', coordinates: [[square], 'x'] }, undefined, 'geometry.coordinates[1]', /expected a polygon/);
    refuses({ type: 'MultiPolygon', coordinates: [] }, undefined, 'geometry.coordinates', /at least one polygon/);
  });

  void it('refuses a circle without a usable radius, pointing at radius', () => {
    const point = { type: 'Point', coordinates: [7.44, 46.95] };
    refuses(point, undefined, 'radius', /needs a radius/);
    refuses(point, 0, 'radius', /greater than 0 and at most 1000000, got 0/);
    refuses(point, -5, 'radius', /got -5/);
    refuses(point, 1_000_001, 'radius', /got 1000001/);
    refuses(point, Number.NaN, 'radius', /got NaN/);
    refuses(point, '100', 'radius', /got "100"/);
    refuses({ type: 'Polygon', coordinates: [square] }, 100, 'radius', /only to a Point/);
  });

  void it('names fields under the pointer it is given', () => {
    refuses({ type: 'Point', coordinates: [0, 0] }, undefined, 'fence.radius', /needs a radius/, 'fence.geometry');
    refuses({ type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] }, undefined, 'fence.geometry.coordinates[0]', /at least 4/, 'fence.geometry');
  });

  void it('refuses a ring that winds around the globe more than once', () => {
    const ring: [number, number][] = [];
    for (let lon = -180; lon <= 540; lon += 90) ring.push([((lon + 180) % 360) - 180, 80 + (lon + 180) / 1000]);
    ring.push(ring[0]!);
    refuses({ type: 'Polygon', coordinates: [ring] }, undefined, 'geometry.coordinates[0]', /more than once|more than the whole globe|crosses itself/);
  });
});

void describe('parseFenceShape accepts', () => {
  void it('accepts a circle and drops the altitude', () => {
    assert.deepEqual(parseFenceShape({ type: 'Point', coordinates: [7.44, 46.95, 540] }, 250), { kind: 'circle', center: [7.44, 46.95], radius: 250 });
    assert.deepEqual(parseFenceShape({ type: 'Point', coordinates: [0, -90] }, 1_000_000), { kind: 'circle', center: [0, -90], radius: 1_000_000 });
  });

  void it('accepts a polygon with holes and orients it to the right-hand rule', () => {
    const clockwise = [...square].reverse();
    const hole = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4], [0.2, 0.2]]; // counter-clockwise: wrong for a hole
    const shape = parseFenceShape({ type: 'Polygon', coordinates: [clockwise, hole] }, null);
    assert.equal(shape.kind, 'polygon');
    const rings = (shape as Extract<FenceShape, { kind: 'polygon' }>).polygons[0]!;
    const prepared = preparePolygon(rings);
    assert.ok(ringArea(prepared.rings[0]!) > 0, 'outer ring counter-clockwise');
    assert.ok(ringArea(prepared.rings[1]!) < 0, 'hole clockwise');
  });

  void it('accepts a MultiPolygon and gives it back as GeoJSON', () => {
    const other = square.map(([x, y]): [number, number] => [x + 5, y + 5]);
    const shape = parseFenceShape({ type: 'MultiPolygon', coordinates: [[square], [other]] }, undefined);
    assert.equal(shape.kind, 'polygon');
    const out = shapeToGeoJSON(shape);
    assert.equal(out.geometry.type, 'MultiPolygon');
    assert.equal(out.radius, undefined);
    assert.deepEqual(parseFenceShape(out.geometry, undefined), shape, 'round trip');
    assert.deepEqual(shapeToGeoJSON({ kind: 'circle', center: [1, 2], radius: 3 }), { geometry: { type: 'Point', coordinates: [1, 2] }, radius: 3 });
    assert.equal(shapeToGeoJSON(parseFenceShape({ type: 'Polygon', coordinates: [square] }, undefined)).geometry.type, 'Polygon');
  });

  void it('accepts a polygon crossing the antimeridian as the continuous shape', () => {
    // Taveuni, Fiji: straddles 180°.
    const ring = [[179.8, -16.6], [-179.8, -16.6], [-179.8, -17.0], [179.8, -17.0], [179.8, -16.6]];
    const shape = parseFenceShape({ type: 'Polygon', coordinates: [ring] }, undefined);
    const prepared = preparePolygon((shape as Extract<FenceShape, { kind: 'polygon' }>).polygons[0]!);
    assert.ok(Math.abs(prepared.maxX - prepared.minX - 0.4) < 1e-9, `0.4° wide, got ${prepared.minX}..${prepared.maxX}`);
    assert.equal(prepared.fullWrap, false);
  });

  void it('accepts a polar cap given along a latitude line and closed along the pole', () => {
    const cap = [[-180, 85], [-90, 85], [0, 85], [90, 85], [180, 85], [180, 90], [-180, 90], [-180, 85]];
    const shape = parseFenceShape({ type: 'Polygon', coordinates: [cap] }, undefined);
    const prepared = preparePolygon((shape as Extract<FenceShape, { kind: 'polygon' }>).polygons[0]!);
    assert.equal(prepared.fullWrap, true);
    assert.equal(prepared.minY, 85);
    assert.equal(prepared.maxY, 90);
  });

  void it('accepts a ring that only follows a latitude line around the globe, enclosing the nearer pole', () => {
    const south = [[0, -80], [-90, -80], [180, -80], [90, -80], [0, -80]];
    const prepared = preparePolygon((parseFenceShape({ type: 'Polygon', coordinates: [south] }, undefined) as Extract<FenceShape, { kind: 'polygon' }>).polygons[0]!);
    assert.equal(prepared.fullWrap, true);
    assert.equal(prepared.minY, -90);
    assert.equal(prepared.maxY, -80);
  });

  void it('accepts any star-shaped polygon (property)', () => {
    const star = fc
      .record({
        lon: fc.double({ min: -179, max: 179, noNaN: true }),
        lat: fc.double({ min: -80, max: 80, noNaN: true }),
        parts: fc.array(fc.record({ jitter: fc.double({ min: 0, max: 0.9, noNaN: true }), r: fc.double({ min: 0.001, max: 0.5, noNaN: true }) }), {
          minLength: 3,
          maxLength: 60,
        }),
      })
      .map(({ lon, lat, parts }) => {
        const n = parts.length;
        const ring = parts.map(({ jitter, r }, i): [number, number] => {
          const angle = ((i + jitter) / n) * 2 * Math.PI;
          return [lon + r * Math.cos(angle), lat + r * Math.sin(angle)];
        });
        ring.push(ring[0]!);
        return ring;
      });
    fc.assert(
      fc.property(star, (ring) => {
        const shape = parseFenceShape({ type: 'Polygon', coordinates: [ring] }, undefined);
        return shape.kind === 'polygon' && shape.polygons[0]![0]!.length === ring.length;
      }),
      { seed: 20240601, numRuns: 500 },
    );
  });
});
