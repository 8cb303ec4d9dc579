/** Track simplification, trips and stops, and exports. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { exportTrack, simplify, tripsAndStops } from '../../src/services/tracker/history.js';
import { distanceMetres } from '../../src/core/geo.js';
import type { Position } from '../../src/core/types.js';

const t0 = 1_764_584_100_000;
const pos = (lon: number, lat: number, time: number, extra: Partial<Position> = {}): Position => ({ tenantId: 't', deviceId: 'd', lon, lat, time, receivedAt: time, late: false, ...extra });

/** Metres from p to the polyline through `line`, in a local projection (what simplify promises). */
function offLine(p: Position, line: Position[]): number {
  let best = Infinity;
  const k = 111_320 * Math.cos((p.lat * Math.PI) / 180);
  for (let i = 1; i < line.length; i++) {
    const a = line[i - 1]!;
    const b = line[i]!;
    const ax = (a.lon - p.lon) * k, ay = (a.lat - p.lat) * 110_574, bx = (b.lon - p.lon) * k, by = (b.lat - p.lat) * 110_574;
    const dx = bx - ax, dy = by - ay;
    const t = dx * dx + dy * dy === 0 ? 0 : Math.max(0, Math.min(1, -(ax * dx + ay * dy) / (dx * dx + dy * dy)));
    best = Math.min(best, Math.hypot(ax + t * dx, ay + t * dy));
  }
  return best;
}

describe('track history', () => {
  it('keeps every dropped position within the tolerance of the simplified track (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: -0.01, max: 0.01, noNaN: true }), fc.double({ min: -0.01, max: 0.01, noNaN: true })), { minLength: 3, maxLength: 200 }), fc.integer({ min: 1, max: 200 }), (steps, tolerance) => {
        let lon = 13.4, lat = 52.5;
        const track = steps.map(([dx, dy], i) => pos((lon += dx), (lat += dy), t0 + i * 1000));
        const simple = simplify(track, tolerance);
        assert.equal(simple[0], track[0]);
        assert.equal(simple.at(-1), track.at(-1));
        for (const p of track) assert.ok(offLine(p, simple) <= tolerance * 1.01 + 0.01, `off by ${offLine(p, simple)} m`);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('reduces a straight noisy line to its ends', () => {
    const track = Array.from({ length: 1000 }, (_, i) => pos(13.4 + i * 0.0001, 52.5 + ((i * 7919) % 3) * 0.000001, t0 + i * 1000));
    assert.equal(simplify(track, 5).length, 2);
  });

  it('finds two stops and the trip between them', () => {
    const track: Position[] = [];
    let time = t0;
    for (let i = 0; i < 10; i++) track.push(pos(13.4 + (i % 2) * 0.00005, 52.5, (time += 60_000))); // 10 min at home
    for (let i = 1; i <= 20; i++) track.push(pos(13.4 + i * 0.001, 52.5, (time += 30_000))); // 1.36 km drive in 10 min
    for (let i = 0; i < 6; i++) track.push(pos(13.42, 52.5 + (i % 2) * 0.00003, (time += 60_000))); // 6 min at work
    const { trips, stops } = tripsAndStops(track, 50, 3);
    assert.equal(stops.length, 2);
    assert.ok(stops[0]!.durationSeconds >= 540);
    assert.equal(trips.length, 1);
    const trip = trips[0]!;
    assert.ok(Math.abs(trip.distanceMetres - distanceMetres(13.4, 52.5, 13.42, 52.5)) < 100, `${trip.distanceMetres}`);
    assert.ok(trip.averageSpeed > 1 && trip.averageSpeed < 5);
  });

  it('exports GPX, KML, GeoJSON and CSV with every position', () => {
    const track = [pos(13.4, 52.5, t0, { altitude: 40, speed: 1.5 }), pos(13.41, 52.51, t0 + 1000)];
    const gpx = exportTrack(track, 'gpx', 'Van <12>');
    assert.equal(gpx.match(/<trkpt /g)?.length, 2);
    assert.match(gpx, /<name>Van &lt;12&gt;<\/name>/);
    assert.match(gpx, /<ele>40<\/ele><time>2025-12-01T10:15:00.000Z<\/time>/);
    assert.equal(exportTrack(track, 'kml', 'x').match(/<gx:coord>/g)?.length, 2);
    const geo = JSON.parse(exportTrack(track, 'geojson', 'x'));
    assert.deepEqual(geo.features[0].geometry.coordinates, [[13.4, 52.5, 40], [13.41, 52.51]]);
    const csv = exportTrack(track, 'csv', 'x').trim().split('\n');
    assert.equal(csv.length, 3);
    assert.equal(csv[1], '2025-12-01T10:15:00.000Z,13.4,52.5,,40,1.5,,,');
  });

  it('keeps a track across the antimeridian continuous when simplifying', () => {
    const track = Array.from({ length: 50 }, (_, i) => pos(((179.99 + i * 0.001 + 180) % 360) - 180, -17, t0 + i * 1000));
    assert.equal(simplify(track, 5).length, 2);
  });
});
