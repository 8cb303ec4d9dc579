/** History: a device's track in a time range (simplified for drawing), trips and stops, replay, export. */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { TenantApi } from '../lib/api';
import { createMap, fitTo, maplibregl, type GeoJSONSource, type MLMap } from '../lib/map';
import type { LonLat, Position, Stop, Trip } from '../lib/types';
import { clock, displayZone, duration, fromLocalInput, localInput, metres, time } from '../lib/format';
import type { LiveStore } from './live';

const SPEEDS = [1, 10, 60, 300];

export default function HistoryScreen({ store, api, mapStyleUrl, params }: { store: LiveStore; api: TenantApi; mapStyleUrl: string | null; params: URLSearchParams }) {
  const container = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MLMap>();
  const marker = useRef<maplibregl.Marker | undefined>(undefined);
  const [deviceId, setDeviceId] = useState(params.get('device') ?? '');
  const [from, setFrom] = useState(localInput(Date.now() - 6 * 3600_000));
  const [to, setTo] = useState(localInput(Date.now() + 60_000));
  const [track, setTrack] = useState<Position[]>([]);
  const [trips, setTrips] = useState<{ trips: Trip[]; stops: Stop[] }>({ trips: [], stops: [] });
  const [at, setAt] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(60);
  const [status, setStatus] = useState('');

  useEffect(() => {
    const m = createMap(container.current!, mapStyleUrl);
    m.on('load', () => {
      m.addSource('track', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
      m.addLayer({ id: 'track', type: 'line', source: 'track', layout: { 'line-join': 'round', 'line-cap': 'round' }, paint: { 'line-color': '#0b4f6c', 'line-width': 4 } });
      m.addSource('stops', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
      m.addLayer({ id: 'stops', type: 'circle', source: 'stops', paint: { 'circle-radius': 8, 'circle-color': '#b45309', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
      const el = document.createElement('div');
      el.style.cssText = 'width:18px;height:18px;border-radius:50%;background:#6d28d9;border:3px solid #fff;box-shadow:0 0 4px #000';
      marker.current = new maplibregl.Marker({ element: el });
      setMap(m);
    });
    return () => m.remove();
  }, [mapStyleUrl]);

  const range = () => ({ from: String(fromLocalInput(from)), to: String(fromLocalInput(to)) });

  const load = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!deviceId || !map) return;
    setStatus('Loading…');
    setPlaying(false);
    const q = new URLSearchParams({ ...range(), simplify: '5', limit: '10000' });
    const [positions, tripData] = await Promise.all([api.get<Position[]>(`/devices/${deviceId}/positions?${q}`), api.get<{ trips: Trip[]; stops: Stop[] }>(`/devices/${deviceId}/trips?${new URLSearchParams(range())}`)]);
    setTrack(positions);
    setTrips(tripData);
    setAt(0);
    const coords = positions.map((p) => [p.lon, p.lat] as LonLat);
    void (map.getSource('track') as GeoJSONSource).setData({ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: coords } });
    void (map.getSource('stops') as GeoJSONSource).setData({ type: 'FeatureCollection', features: tripData.stops.map((s) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: [s.lon, s.lat] } })) });
    fitTo(map, coords);
    setStatus(`${positions.length} positions, ${tripData.trips.length} trips, ${tripData.stops.length} stops.`);
  };
  useEffect(() => { if (map && deviceId) void load(); /* eslint-disable-line react-hooks/exhaustive-deps */ }, [map]);

  // Replay: advance through the track in fix time, `speed` times faster than real time.
  useEffect(() => {
    if (!playing || track.length < 2) return;
    let last = performance.now();
    let clockTime = track[at]?.time ?? track[0]!.time;
    let frame = requestAnimationFrame(function step(now) {
      clockTime += (now - last) * speed;
      last = now;
      let i = at;
      while (i < track.length - 1 && track[i + 1]!.time <= clockTime) i++;
      setAt(i);
      if (i >= track.length - 1) { setPlaying(false); return; }
      frame = requestAnimationFrame(step);
    });
    return () => cancelAnimationFrame(frame);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [playing, speed, track]);

  const current = track[at];
  useEffect(() => {
    if (!map || !marker.current) return;
    if (current) marker.current.setLngLat([current.lon, current.lat]).addTo(map);
    else marker.current.remove();
  }, [map, current]);

  const devices = [...store.devices.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <div className="screen">
      <section className="map" aria-label="Track map"><div ref={container} className="map-canvas" /></section>
      <aside className="sidebar" aria-label="History">
        <div className="tabpanel stack">
          <h2>History</h2>
          <form onSubmit={load} className="stack">
            <label htmlFor="history-device">Device</label>
            <select id="history-device" value={deviceId} onChange={(e) => setDeviceId(e.target.value)} style={{ width: '100%' }} required>
              <option value="">Choose a device</option>
              {devices.map((d) => <option key={d.id} value={d.id}>{d.name}</option>)}
            </select>
            <div className="row">
              <div><label htmlFor="history-from">From</label><input id="history-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} /></div>
              <div><label htmlFor="history-to">To</label><input id="history-to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} /></div>
            </div>
            <p className="muted">Times in {displayZone()}.</p>
            <button type="submit">Show track</button>
          </form>
          <p role="status">{status}</p>
          {track.length > 1 && (
            <div className="card">
              <h3>Replay</h3>
              <div className="row">
                <button type="button" onClick={() => { if (at >= track.length - 1) setAt(0); setPlaying(!playing); }} aria-pressed={playing}>{playing ? 'Pause' : 'Play'}</button>
                <label className="inline" htmlFor="history-speed">Speed</label>
                <select id="history-speed" value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
                  {SPEEDS.map((s) => <option key={s} value={s}>{s}×</option>)}
                </select>
              </div>
              <label htmlFor="history-time">Time: {current ? clock(current.time) : ''}</label>
              <input id="history-time" type="range" min={0} max={track.length - 1} value={at} onChange={(e) => { setPlaying(false); setAt(Number(e.target.value)); }} style={{ width: '100%' }} aria-valuetext={current ? time(current.time) : ''} />
              {current && <p className="muted">{current.speed !== undefined ? `${(current.speed * 3.6).toFixed(0)} km/h · ` : ''}{current.battery !== undefined ? `battery ${current.battery}%` : ''}</p>}
            </div>
          )}
          {deviceId && (
            <p className="row">Export:
              {['gpx', 'kml', 'geojson', 'csv'].map((f) => <a key={f} href={api.url(`/devices/${deviceId}/export`, { format: f, ...range() })} download={`track.${f}`}>{f.toUpperCase()}</a>)}
            </p>
          )}
          {trips.trips.length > 0 && (
            <>
              <h3>Trips</h3>
              <ul className="list">{trips.trips.map((t) => <li key={t.start}>{clock(t.start)}–{clock(t.end)}: {metres(t.distanceMetres)} in {duration(t.durationSeconds)}, top {(t.maxSpeed * 3.6).toFixed(0)} km/h</li>)}</ul>
            </>
          )}
          {trips.stops.length > 0 && (
            <>
              <h3>Stops</h3>
              <ul className="list">{trips.stops.map((s) => <li key={s.start}><button type="button" className="item" onClick={() => map?.flyTo({ center: [s.lon, s.lat], zoom: 16 })}>{clock(s.start)}: stopped {duration(s.durationSeconds)}</button></li>)}</ul>
            </>
          )}
        </div>
      </aside>
    </div>
  );
}
