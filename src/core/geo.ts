/**
 * Geodesy on the WGS84 ellipsoid, sized for geofencing: right to a millimetre at fence
 * scale, cheap enough to run for every position. Longitudes and latitudes are degrees,
 * distances are metres. Nothing here allocates per call.
 */

/** WGS84 semi-major axis, metres. */
export const WGS84_A = 6378137;
/** WGS84 flattening. */
export const WGS84_F = 1 / 298.257223563;
/** WGS84 semi-minor axis, metres. */
export const WGS84_B = WGS84_A * (1 - WGS84_F);
const E2 = WGS84_F * (2 - WGS84_F);
const RAD = Math.PI / 180;

/** Smallest radius of curvature on the ellipsoid (meridional, at the equator): metres per radian, conservatively. */
export const MIN_RADIUS = WGS84_A * (1 - E2);
/** Mean radius (IUGG R1), for the rare fallback only. */
const MEAN_RADIUS = 6371008.8;

/**
 * Below this chord length the chord-to-arc conversion is right to a few centimetres
 * (the error grows as e²·c³/(24R²): 0.9 mm at 50 km, 4 cm at 150 km); beyond it Vincenty takes over.
 */
const CHORD_LIMIT = 150_000;

/** Wraps a longitude into [-180, 180]; values already in range (including ±180) are returned unchanged. */
export function normalizeLon(lon: number): number {
  if (lon >= -180 && lon <= 180) return lon;
  const wrapped = (((lon + 180) % 360) + 360) % 360 - 180;
  return wrapped;
}

/** Difference lon2 - lon1 wrapped into [-180, 180]. */
export function deltaLon(lon1: number, lon2: number): number {
  let d = lon2 - lon1;
  if (d > 180) d -= 360 * Math.ceil((d - 180) / 360);
  else if (d < -180) d += 360 * Math.ceil((-180 - d) / 360);
  return d;
}

/** Metres per degree of latitude at this latitude (the meridional radius of curvature M, per degree). */
export function metresPerDegreeLat(lat: number): number {
  const s = Math.sin(lat * RAD);
  const w = 1 - E2 * s * s;
  return ((WGS84_A * (1 - E2)) / (w * Math.sqrt(w))) * RAD;
}

/** Metres per degree of longitude at this latitude (prime-vertical radius N times cos φ, per degree). */
export function metresPerDegreeLon(lat: number): number {
  const s = Math.sin(lat * RAD);
  const c = Math.cos(lat * RAD);
  return ((WGS84_A / Math.sqrt(1 - E2 * s * s)) * Math.max(c, 0)) * RAD;
}

/**
 * A point on the ellipsoid surface in Earth-centred Cartesian coordinates (metres).
 * Reused by callers that test one point against many centres: compute once, compare many.
 */
export interface Ecef {
  x: number;
  y: number;
  z: number;
}

/** Writes the Earth-centred Cartesian coordinates of (lon, lat) into `out` and returns it. */
export function toEcef(lon: number, lat: number, out: Ecef): Ecef {
  const phi = lat * RAD;
  const lambda = lon * RAD;
  const sphi = Math.sin(phi);
  const cphi = Math.cos(phi);
  const n = WGS84_A / Math.sqrt(1 - E2 * sphi * sphi);
  out.x = n * cphi * Math.cos(lambda);
  out.y = n * cphi * Math.sin(lambda);
  out.z = n * (1 - E2) * sphi;
  return out;
}

/**
 * Geodesic length for a straight chord `chord` between two surface points, using the
 * Gaussian radius of curvature at their mean latitude (chord → arc of a circle of that radius).
 */
export function arcFromChord(chord: number, meanLat: number): number {
  const s = Math.sin(meanLat * RAD);
  const w = 1 - E2 * s * s;
  // Gaussian radius sqrt(M·N) = a·sqrt(1-e²)/w
  const r = (WGS84_A * Math.sqrt(1 - E2)) / w;
  const x = chord / (2 * r);
  return x >= 1 ? Math.PI * r : 2 * r * Math.asin(x);
}

const scratchA: Ecef = { x: 0, y: 0, z: 0 };
const scratchB: Ecef = { x: 0, y: 0, z: 0 };

/**
 * Geodesic distance in metres between two points on the WGS84 ellipsoid.
 * Short distances (fence scale) come from the exact Cartesian chord turned into an arc,
 * which has no trouble with the antimeridian or the poles; long ones from Vincenty's
 * inverse formula, with a spherical fallback for the nearly antipodal pairs where it does not converge.
 */
export function distanceMetres(lon1: number, lat1: number, lon2: number, lat2: number): number {
  toEcef(lon1, lat1, scratchA);
  toEcef(lon2, lat2, scratchB);
  const dx = scratchA.x - scratchB.x;
  const dy = scratchA.y - scratchB.y;
  const dz = scratchA.z - scratchB.z;
  const chord = Math.sqrt(dx * dx + dy * dy + dz * dz);
  if (chord < CHORD_LIMIT) return arcFromChord(chord, (lat1 + lat2) / 2);
  const v = vincenty(lon1, lat1, lon2, lat2);
  return Number.isNaN(v) ? greatCircle(lon1, lat1, lon2, lat2) : v;
}

/** Vincenty's inverse formula on WGS84; NaN when it does not converge (nearly antipodal points). */
export function vincenty(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const f = WGS84_F;
  const l = deltaLon(lon1, lon2) * RAD;
  const u1 = Math.atan((1 - f) * Math.tan(lat1 * RAD));
  const u2 = Math.atan((1 - f) * Math.tan(lat2 * RAD));
  const sinU1 = Math.sin(u1);
  const cosU1 = Math.cos(u1);
  const sinU2 = Math.sin(u2);
  const cosU2 = Math.cos(u2);
  let lambda = l;
  let sinSigma = 0;
  let cosSigma = 0;
  let sigma = 0;
  let cos2Alpha = 0;
  let cos2SigmaM = 0;
  let converged = false;
  for (let i = 0; i < 200; i++) {
    const sinL = Math.sin(lambda);
    const cosL = Math.cos(lambda);
    const t1 = cosU2 * sinL;
    const t2 = cosU1 * sinU2 - sinU1 * cosU2 * cosL;
    sinSigma = Math.sqrt(t1 * t1 + t2 * t2);
    if (sinSigma === 0) return 0;
    cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    sigma = Math.atan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
    cos2Alpha = 1 - sinAlpha * sinAlpha;
    cos2SigmaM = cos2Alpha !== 0 ? cosSigma - (2 * sinU1 * sinU2) / cos2Alpha : 0;
    const c = (f / 16) * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha));
    const previous = lambda;
    lambda = l + (1 - c) * f * sinAlpha * (sigma + c * sinSigma * (cos2SigmaM + c * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
    if (Math.abs(lambda - previous) < 1e-12) {
      converged = true;
      break;
    }
    if (Math.abs(lambda) > Math.PI) break;
  }
  if (!converged) return NaN;
  const b = WGS84_B;
  const uSq = (cos2Alpha * (WGS84_A * WGS84_A - b * b)) / (b * b);
  const bigA = 1 + (uSq / 16384) * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)));
  const bigB = (uSq / 1024) * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)));
  const deltaSigma =
    bigB *
    sinSigma *
    (cos2SigmaM +
      (bigB / 4) *
        (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
          (bigB / 6) * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
  return b * bigA * (sigma - deltaSigma);
}

/** Haversine distance on the mean sphere; relative error up to about 0.5 %. */
export function greatCircle(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const p1 = lat1 * RAD;
  const p2 = lat2 * RAD;
  const sdp = Math.sin((p2 - p1) / 2);
  const sdl = Math.sin((deltaLon(lon1, lon2) * RAD) / 2);
  const h = sdp * sdp + Math.cos(p1) * Math.cos(p2) * sdl * sdl;
  return 2 * MEAN_RADIUS * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * A bounding box [minLon, minLat, maxLon, maxLat] in degrees that surely contains every point
 * within `metres` of (lon, lat). Longitudes are not wrapped: minLon may be below -180 or
 * maxLon above 180 when the box crosses the antimeridian; when a pole is within reach the box
 * spans every longitude, [-180, 180]. Written into `out` to avoid allocation.
 */
export function bboxAround(lon: number, lat: number, metres: number, out: number[] = [0, 0, 0, 0]): number[] {
  // Angular radius on a sphere of the smallest curvature radius, plus slack: never too small.
  const theta = (metres / MIN_RADIUS) * 1.001 + 1e-9;
  const thetaDeg = theta / RAD;
  const minLat = lat - thetaDeg;
  const maxLat = lat + thetaDeg;
  if (maxLat >= 90 || minLat <= -90 || theta >= Math.PI / 2) {
    out[0] = -180;
    out[1] = Math.max(-90, minLat);
    out[2] = 180;
    out[3] = Math.min(90, maxLat);
    return out;
  }
  // Widest longitude reach of a spherical cap of angular radius theta centred at lat.
  const ratio = Math.sin(theta) / Math.cos(lat * RAD);
  if (ratio >= 1) {
    out[0] = -180;
    out[2] = 180;
  } else {
    const dLon = Math.asin(ratio) / RAD;
    out[0] = lon - dLon;
    out[2] = lon + dLon;
  }
  out[1] = minLat;
  out[3] = maxLat;
  return out;
}

/**
 * The point `metres` away from (lon, lat) along the initial bearing `bearing` (degrees clockwise
 * from north), on the ellipsoid by a local projection: right to centimetres up to a few kilometres,
 * approximate beyond. Written into `out` as [lon, lat] with lon wrapped into [-180, 180].
 */
export function destination(lon: number, lat: number, bearing: number, metres: number, out: number[] = [0, 0]): number[] {
  const b = bearing * RAD;
  const dy = metres * Math.cos(b);
  const dx = metres * Math.sin(b);
  // Half step then full step with the scale at the midpoint (second-order accurate).
  const midLat = lat + dy / metresPerDegreeLat(lat) / 2;
  let lat2 = lat + dy / metresPerDegreeLat(midLat);
  const kx = metresPerDegreeLon(midLat);
  let lon2 = kx > 0 ? lon + dx / kx : lon;
  if (lat2 > 90) {
    lat2 = 180 - lat2;
    lon2 += 180;
  } else if (lat2 < -90) {
    lat2 = -180 - lat2;
    lon2 += 180;
  }
  out[0] = normalizeLon(lon2);
  out[1] = lat2;
  return out;
}
