/**
 * What operators do with a track: simplify it for the map (Douglas–Peucker), cut it into trips and
 * stops, and export it (GPX, KML, GeoJSON, CSV). Pure functions over positions in time order.
 */
import { distanceMetres, metresPerDegreeLat, metresPerDegreeLon } from '../../core/geo.js';
import type { Position } from '../../core/types.js';

/**
 * Douglas–Peucker: keeps the positions needed so that the track stays within `tolerance` metres of
 * the original. Works in a local metric projection; iterative, so long tracks cannot overflow the stack.
 */
export function simplify(track: Position[], tolerance: number): Position[] {
  if (track.length < 3 || tolerance <= 0) return track;
  const lat0 = track.reduce((sum, p) => sum + p.lat, 0) / track.length;
  const kx = metresPerDegreeLon(lat0);
  const ky = metresPerDegreeLat(lat0);
  const lon0 = track[0]!.lon;
  // unwrap longitudes so a track across the antimeridian stays continuous
  const xs: number[] = [];
  let shift = 0;
  track.forEach((p, i) => {
    if (i > 0) {
      const d = p.lon + shift - (track[i - 1]!.lon + shift);
      if (d > 180) shift -= 360;
      else if (d < -180) shift += 360;
    }
    xs.push((p.lon + shift - lon0) * kx);
  });
  const ys = track.map((p) => (p.lat - lat0) * ky);
  const keep = new Uint8Array(track.length);
  keep[0] = keep[track.length - 1] = 1;
  const stack: [number, number][] = [[0, track.length - 1]];
  while (stack.length > 0) {
    const [a, b] = stack.pop()!;
    let worst = -1;
    let worstDistance = tolerance;
    for (let i = a + 1; i < b; i++) {
      const d = segmentDistance(xs[i]!, ys[i]!, xs[a]!, ys[a]!, xs[b]!, ys[b]!);
      if (d > worstDistance) {
        worst = i;
        worstDistance = d;
      }
    }
    if (worst >= 0) {
      keep[worst] = 1;
      stack.push([a, worst], [worst, b]);
    }
  }
  return track.filter((_, i) => keep[i] === 1);
}

function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length2));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export interface Stop {
  start: number;
  end: number;
  lon: number;
  lat: number;
  durationSeconds: number;
  positions: number;
}

export interface Trip {
  start: number;
  end: number;
  from: { lon: number; lat: number };
  to: { lon: number; lat: number };
  distanceMetres: number;
  durationSeconds: number;
  averageSpeed: number;
  maxSpeed: number;
  positions: number;
}

/**
 * Stops: the device stayed within `radius` metres of where it arrived for at least `minMinutes`.
 * Trips: the movement between stops (and before the first and after the last).
 */
export function tripsAndStops(track: Position[], radius: number, minMinutes: number): { trips: Trip[]; stops: Stop[] } {
  const stops: Stop[] = [];
  const ranges: [number, number][] = [];
  let i = 0;
  while (i < track.length) {
    let j = i + 1;
    while (j < track.length && distanceMetres(track[i]!.lon, track[i]!.lat, track[j]!.lon, track[j]!.lat) <= radius) j++;
    const span = track[j - 1]!.time - track[i]!.time;
    if (span >= minMinutes * 60_000) {
      const members = track.slice(i, j);
      stops.push({
        start: track[i]!.time,
        end: track[j - 1]!.time,
        lon: members.reduce((s, p) => s + p.lon, 0) / members.length,
        lat: members.reduce((s, p) => s + p.lat, 0) / members.length,
        durationSeconds: Math.round(span / 1000),
        positions: members.length,
      });
      ranges.push([i, j - 1]);
      i = j;
    } else i++;
  }
  const trips: Trip[] = [];
  const addTrip = (a: number, b: number) => {
    if (b <= a) return;
    let distance = 0;
    let maxSpeed = 0;
    for (let k = a + 1; k <= b; k++) {
      const d = distanceMetres(track[k - 1]!.lon, track[k - 1]!.lat, track[k]!.lon, track[k]!.lat);
      distance += d;
      const dt = (track[k]!.time - track[k - 1]!.time) / 1000;
      maxSpeed = Math.max(maxSpeed, track[k]!.speed ?? (dt > 0 ? d / dt : 0));
    }
    const duration = (track[b]!.time - track[a]!.time) / 1000;
    trips.push({
      start: track[a]!.time,
      end: track[b]!.time,
      from: { lon: track[a]!.lon, lat: track[a]!.lat },
      to: { lon: track[b]!.lon, lat: track[b]!.lat },
      distanceMetres: Math.round(distance),
      durationSeconds: Math.round(duration),
      averageSpeed: duration > 0 ? Math.round((distance / duration) * 100) / 100 : 0,
      maxSpeed: Math.round(maxSpeed * 100) / 100,
      positions: b - a + 1,
    });
  };
  let cursor = 0;
  for (const [a, b] of ranges) {
    addTrip(cursor, a);
    cursor = b;
  }
  addTrip(cursor, track.length - 1);
  return { trips: trips.filter((t) => t.distanceMetres > radius), stops };
}

export const EXPORT_FORMATS = {
  gpx: 'application/gpx+xml',
  kml: 'application/vnd.google-earth.kml+xml',
  geojson: 'application/geo+json',
  csv: 'text/csv',
} as const;

export type ExportFormat = keyof typeof EXPORT_FORMATS;

const xml = (text: string) => text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
const iso = (ms: number) => new Date(ms).toISOString();

/** A track in one of the export formats, as text. */
export function exportTrack(track: Position[], format: ExportFormat, name: string): string {
  switch (format) {
    case 'gpx':
      return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="Follow Me" xmlns="http://www.topografix.com/GPX/1/1">',
        `<trk><name>${xml(name)}</name><trkseg>`,
        ...track.map((p) => `<trkpt lat="${p.lat}" lon="${p.lon}">${p.altitude !== undefined ? `<ele>${p.altitude}</ele>` : ''}<time>${iso(p.time)}</time></trkpt>`),
        '</trkseg></trk>',
        '</gpx>',
        '',
      ].join('\n');
    case 'kml':
      return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">',
        `<Document><name>${xml(name)}</name><Placemark><name>${xml(name)}</name><gx:Track>`,
        ...track.map((p) => `<when>${iso(p.time)}</when>`),
        ...track.map((p) => `<gx:coord>${p.lon} ${p.lat} ${p.altitude ?? 0}</gx:coord>`),
        '</gx:Track></Placemark></Document>',
        '</kml>',
        '',
      ].join('\n');
    case 'geojson':
      return JSON.stringify({
        type: 'FeatureCollection',
        features: [
          {
            type: 'Feature',
            properties: { name, times: track.map((p) => iso(p.time)) },
            geometry: { type: 'LineString', coordinates: track.map((p) => (p.altitude !== undefined ? [p.lon, p.lat, p.altitude] : [p.lon, p.lat])) },
          },
        ],
      });
    case 'csv': {
      const header = 'time,lon,lat,accuracy,altitude,speed,heading,battery,charging';
      const cell = (v: unknown) => (v === undefined ? '' : String(v));
      return [header, ...track.map((p) => [iso(p.time), p.lon, p.lat, p.accuracy, p.altitude, p.speed, p.heading, p.battery, p.charging].map(cell).join(','))].join('\n') + '\n';
    }
  }
}
