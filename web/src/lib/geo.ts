/** Small geodesy for drawing: circles as polygons, distances, point-in-polygon. Metre-accurate at fence scale. */
import type { LonLat } from './types';

const R = 6_371_008.8;
const rad = (d: number) => (d * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

export function distance([lon1, lat1]: LonLat, [lon2, lat2]: LonLat): number {
  const dLat = rad(lat2 - lat1);
  const dLon = rad(lon2 - lon1);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** The point at `metres` from `from` on `bearing` (degrees). */
export function destination([lon, lat]: LonLat, metres: number, bearing: number): LonLat {
  const d = metres / R;
  const b = rad(bearing);
  const lat2 = Math.asin(Math.sin(rad(lat)) * Math.cos(d) + Math.cos(rad(lat)) * Math.sin(d) * Math.cos(b));
  const lon2 = rad(lon) + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(rad(lat)), Math.cos(d) - Math.sin(rad(lat)) * Math.sin(lat2));
  return [((deg(lon2) + 540) % 360) - 180, deg(lat2)];
}

/** A circle as a closed ring of `steps` positions (counter-clockwise, as RFC 7946 wants outer rings). */
export function circleRing(center: LonLat, radius: number, steps = 64): LonLat[] {
  const ring: LonLat[] = [];
  for (let i = 0; i < steps; i++) ring.push(destination(center, radius, 360 - (i * 360) / steps));
  ring.push(ring[0]!);
  return ring;
}

/** The centre and radius of a ring drawn as a circle (terra-draw's circle mode draws a polygon). */
export function circleOf(ring: LonLat[]): { center: LonLat; radius: number } {
  const points = ring.slice(0, -1);
  const center: LonLat = [points.reduce((s, p) => s + p[0], 0) / points.length, points.reduce((s, p) => s + p[1], 0) / points.length];
  const radius = points.reduce((s, p) => s + distance(center, p), 0) / points.length;
  return { center: [round(center[0]), round(center[1])], radius: Math.round(radius) };
}

export const round = (n: number, digits = 6) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Metres per CSS pixel at a zoom and latitude in MapLibre (512-pixel tiles). */
export const metresPerPixel = (zoom: number, lat: number) => (40_075_016.7 * Math.cos(rad(lat))) / (512 * 2 ** zoom);
