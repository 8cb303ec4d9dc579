/**
 * MapLibre set-up shared by the map screens (loaded lazily: MapLibre is most of the bundle).
 * Without a configured style (FOLLOWME_MAP_STYLE_URL) the base map is bundled and needs no
 * network: country outlines from world-atlas and a graticule on a plain background.
 */
import * as maplibregl from 'maplibre-gl';
import type { GeoJSONSource, Map as MLMap, StyleSpecification } from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
// MapLibre's worker is a separate, self-contained module file: emitted as a hashed asset and pointed at.
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { feature } from 'topojson-client';
import type { Topology } from 'topojson-specification';
import countries110m from 'world-atlas/countries-110m.json';
import type { Fence, LonLat, Position } from './types';
import { circleRing, metresPerPixel } from './geo';

maplibregl.setWorkerUrl(workerUrl);

export { maplibregl };
export type { MLMap, GeoJSONSource };

export const BERLIN: LonLat = [13.39, 52.515];

function graticule(step: number, [lon0, lat0, lon1, lat1]: [number, number, number, number]): GeoJSON.FeatureCollection {
  const features: GeoJSON.Feature[] = [];
  const line = (coordinates: LonLat[]): GeoJSON.Feature => ({ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates } });
  for (let lon = Math.ceil(lon0 / step) * step; lon <= lon1; lon += step) features.push(line([[lon, lat0], [lon, lat1]]));
  for (let lat = Math.ceil(lat0 / step) * step; lat <= lat1; lat += step) features.push(line([[lon0, lat], [lon1, lat]]));
  return { type: 'FeatureCollection', features };
}

/** The bundled offline style: background, land, country borders, graticules (1° everywhere, 0.01° near `near`). */
export function offlineStyle(near: LonLat = BERLIN): StyleSpecification {
  const topology = countries110m as unknown as Topology;
  const land = feature(topology, topology.objects.countries!) as unknown as GeoJSON.FeatureCollection;
  const [lon, lat] = near;
  return {
    version: 8,
    sources: {
      land: { type: 'geojson', data: land },
      graticule: { type: 'geojson', data: graticule(1, [-180, -85, 180, 85]) },
      fine: { type: 'geojson', data: graticule(0.01, [lon - 1.5, lat - 1, lon + 1.5, lat + 1]) },
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#dfe9ef' } },
      { id: 'land', type: 'fill', source: 'land', paint: { 'fill-color': '#f4f3ee' } },
      { id: 'fine', type: 'line', source: 'fine', minzoom: 11, paint: { 'line-color': '#d6d3c8', 'line-width': 0.6 } },
      { id: 'graticule', type: 'line', source: 'graticule', paint: { 'line-color': '#c9c5b8', 'line-width': 0.8 } },
      { id: 'borders', type: 'line', source: 'land', paint: { 'line-color': '#9b978b', 'line-width': 1 } },
    ],
  };
}

export function createMap(container: HTMLElement, styleUrl: string | null, center: LonLat = BERLIN, zoom = 11.5): MLMap {
  const map = new maplibregl.Map({ container, style: styleUrl ?? offlineStyle(center), center, zoom, attributionControl: false, fadeDuration: 0 });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.getCanvas().setAttribute('aria-label', 'Map');
  return map;
}

/** Fences as drawable features: circles as polygons, corridors as lines with their width in pixels at zoom 0. */
export function fenceFeatures(fences: Fence[]): GeoJSON.FeatureCollection {
  const features: GeoJSON.Feature[] = [];
  for (const f of fences) {
    const properties = { id: f.id, name: f.name, enabled: f.enabled };
    const g = f.geometry;
    if (g.type === 'Point') features.push({ type: 'Feature', properties: { ...properties, kind: 'circle' }, geometry: { type: 'Polygon', coordinates: [circleRing(g.coordinates as LonLat, f.radius ?? 0)] } });
    else if (g.type === 'LineString') {
      const lat = (g.coordinates as LonLat[])[0]?.[1] ?? 0;
      features.push({ type: 'Feature', properties: { ...properties, kind: 'corridor', w0: (f.width ?? 0) / metresPerPixel(0, lat) }, geometry: g as GeoJSON.LineString });
    } else features.push({ type: 'Feature', properties: { ...properties, kind: 'polygon' }, geometry: g as GeoJSON.Polygon });
  }
  return { type: 'FeatureCollection', features };
}

export function addFenceLayers(map: MLMap, fences: Fence[]): void {
  map.addSource('fences', { type: 'geojson', data: fenceFeatures(fences) });
  const area = ['==', ['geometry-type'], 'Polygon'] as maplibregl.FilterSpecification;
  map.addLayer({ id: 'fence-fill', type: 'fill', source: 'fences', filter: area, paint: { 'fill-color': ['case', ['get', 'enabled'], '#7c3aed', '#888'], 'fill-opacity': 0.12 } });
  map.addLayer({ id: 'fence-outline', type: 'line', source: 'fences', filter: area, paint: { 'line-color': ['case', ['get', 'enabled'], '#6d28d9', '#666'], 'line-width': 2 } });
  map.addLayer({
    id: 'fence-corridor', type: 'line', source: 'fences', filter: ['==', ['geometry-type'], 'LineString'],
    layout: { 'line-cap': 'round', 'line-join': 'round' },
    paint: { 'line-color': '#7c3aed', 'line-opacity': 0.25, 'line-width': ['interpolate', ['exponential', 2], ['zoom'], 0, ['get', 'w0'], 24, ['*', ['get', 'w0'], 2 ** 24]] },
  });
}

export function setFences(map: MLMap, fences: Fence[]): void {
  void (map.getSource('fences') as GeoJSONSource | undefined)?.setData(fenceFeatures(fences));
}

/** Status colours (also in the legend): moving, stopped, offline, unknown; low battery gets a red ring. */
export const STATUS_COLOURS = { moving: '#15803d', stopped: '#1d4ed8', offline: '#6b7280', unknown: '#a8a29e' } as const;
export type StatusKey = keyof typeof STATUS_COLOURS;

export interface DevicePoint { id: string; name: string; position: Position; status: StatusKey; lowBattery: boolean }

export function deviceFeatures(points: Iterable<DevicePoint>): GeoJSON.FeatureCollection {
  const features: GeoJSON.Feature[] = [];
  for (const p of points) features.push({ type: 'Feature', id: undefined, properties: { id: p.id, name: p.name, status: p.status, low: p.lowBattery }, geometry: { type: 'Point', coordinates: [p.position.lon, p.position.lat] } });
  return { type: 'FeatureCollection', features };
}

/** Devices as one clustered GeoJSON source: smooth with tens of thousands of devices (no DOM marker per device). */
export function addDeviceLayers(map: MLMap): void {
  map.addSource('devices', { type: 'geojson', data: { type: 'FeatureCollection', features: [] }, cluster: true, clusterRadius: 45, clusterMaxZoom: 14 });
  map.addLayer({
    id: 'clusters', type: 'circle', source: 'devices', filter: ['has', 'point_count'],
    paint: { 'circle-color': '#0b4f6c', 'circle-opacity': 0.85, 'circle-radius': ['step', ['get', 'point_count'], 14, 10, 18, 100, 24, 1000, 30], 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 },
  });
  map.addLayer({
    id: 'device', type: 'circle', source: 'devices', filter: ['!', ['has', 'point_count']],
    paint: {
      'circle-radius': 7,
      'circle-color': ['match', ['get', 'status'], 'moving', STATUS_COLOURS.moving, 'stopped', STATUS_COLOURS.stopped, 'offline', STATUS_COLOURS.offline, STATUS_COLOURS.unknown],
      'circle-stroke-color': ['case', ['get', 'low'], '#dc2626', '#ffffff'],
      'circle-stroke-width': ['case', ['get', 'low'], 3, 2],
    },
  });
}

/** Cluster counts as a few DOM labels (the bundled style has no font glyphs), only for clusters on screen. */
export function clusterLabels(map: MLMap): () => void {
  const markers = new Map<number, maplibregl.Marker>();
  const update = () => {
    const seen = new Set<number>();
    for (const f of map.queryRenderedFeatures({ layers: ['clusters'] })) {
      const id = f.properties.cluster_id as number;
      if (seen.has(id)) continue;
      seen.add(id);
      let marker = markers.get(id);
      if (!marker) {
        const el = document.createElement('span');
        el.className = 'cluster-label';
        el.textContent = String(f.properties.point_count_abbreviated ?? f.properties.point_count);
        el.setAttribute('aria-hidden', 'true');
        marker = new maplibregl.Marker({ element: el }).setLngLat((f.geometry as GeoJSON.Point).coordinates as LonLat).addTo(map);
        markers.set(id, marker);
      } else marker.setLngLat((f.geometry as GeoJSON.Point).coordinates as LonLat);
    }
    for (const [id, m] of markers) if (!seen.has(id)) { m.remove(); markers.delete(id); }
  };
  let frame = 0;
  const schedule = () => { cancelAnimationFrame(frame); frame = requestAnimationFrame(update); };
  map.on('moveend', schedule);
  // At 'idle' everything is drawn: label the clusters now rather than a frame later (a frame is
  // 100 ms or more with software GL on a busy machine, and the first draw waited for it).
  const idle = () => { cancelAnimationFrame(frame); update(); };
  map.on('idle', idle);
  // A map whose devices move all the time is rarely idle: refresh the labels every second as well.
  const timer = setInterval(schedule, 1000);
  return () => { clearInterval(timer); map.off('moveend', schedule); map.off('idle', idle); for (const m of markers.values()) m.remove(); };
}

export function fitTo(map: MLMap, coordinates: LonLat[], maxZoom = 16): void {
  if (coordinates.length === 0) return;
  const bounds = new maplibregl.LngLatBounds(coordinates[0], coordinates[0]);
  for (const c of coordinates) bounds.extend(c);
  map.fitBounds(bounds, { padding: 60, maxZoom, duration: 0 });
}
