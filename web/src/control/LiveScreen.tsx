/** The live map: every device (clustered), fences, drawing, and the side panels (devices, fences, send, events). */
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { flushSync } from 'react-dom';
import type { TenantApi } from '../lib/api';
import { addDeviceLayers, addFenceLayers, clusterLabels, createMap, deviceFeatures, fitTo, maplibregl, setFences, STATUS_COLOURS, type DevicePoint, type GeoJSONSource, type MLMap, type StatusKey } from '../lib/map';
import type { LonLat } from '../lib/types';
import { ago, time } from '../lib/format';
import type { LiveStore } from './live';
import { Drawing, type Drawn, type Shape } from './draw';
import { DevicesPanel } from './DevicesPanel';
import { FencesPanel } from './FencesPanel';
import { ComposePanel } from './ComposePanel';
import { EventsPanel } from './EventsPanel';

export type Tab = 'devices' | 'fences' | 'send' | 'events';

export function statusOf(store: LiveStore, id: string): StatusKey {
  const s = store.statuses.get(id);
  if (!s || s.connection === 'unknown') return store.positions.has(id) ? 'stopped' : 'unknown';
  if (s.connection === 'offline') return 'offline';
  return s.motion === 'moving' ? 'moving' : 'stopped';
}

/** What the map and panels share: the map, the drawing tool, and a way to point at a place. */
export interface MapTools {
  map: MLMap | undefined;
  draw: (shape: Shape, done: (d: Drawn) => void) => void;
  drawing: Drawing | undefined;
  show: (at: LonLat, html?: string) => void;
}

export default function LiveScreen({ store, api, mapStyleUrl, params }: { store: LiveStore; api: TenantApi; mapStyleUrl: string | null; params: URLSearchParams }) {
  useSyncExternalStore(store.subscribe, store.getVersion);
  const container = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MLMap>();
  /** The map once its style is in and the device and fence sources exist (before `map`, which waits for the first full render). */
  const [sources, setSources] = useState<MLMap>();
  const drawing = useRef<Drawing | undefined>(undefined);
  const [drawHint, setDrawHint] = useState('');
  const [tab, setTab] = useState<Tab>((params.get('tab') as Tab | null) ?? 'devices');
  const [query, setQuery] = useState('');
  const [groupId, setGroupId] = useState('');
  const [composeFence, setComposeFence] = useState<string | undefined>();
  const fitted = useRef(false);
  const popup = useRef<maplibregl.Popup | undefined>(undefined);

  useEffect(() => {
    const m = createMap(container.current!, mapStyleUrl);
    // The fence and device sources go in as soon as the style is parsed, not at 'load' (which waits
    // for the base map's first complete render): MapLibre's worker then clusters the devices while
    // the base map is still being drawn, instead of after it (part of the first draw's delay).
    m.once('style.load', () => {
      addFenceLayers(m, store.fences);
      addDeviceLayers(m);
      clusterLabels(m);
      // Synchronously, so that the devices (and the camera fitted to them) are in before the map
      // asks its worker for the first tiles: otherwise it tiles the base map at the start view
      // first, then again for the fitted one, one or more frames later.
      flushSync(() => setSources(m));
    });
    m.on('load', () => {
      drawing.current = new Drawing(m);
      setMap(m);
    });
    m.on('click', 'clusters', (e) => {
      const f = e.features?.[0];
      if (!f) return;
      void (m.getSource('devices') as GeoJSONSource).getClusterExpansionZoom(f.properties.cluster_id as number).then((zoom) => m.easeTo({ center: (f.geometry as GeoJSON.Point).coordinates as LonLat, zoom }));
    });
    m.on('click', 'device', (e) => {
      const f = e.features?.[0];
      if (f) showDevice(f.properties.id as string);
    });
    for (const layer of ['clusters', 'device']) {
      m.on('mouseenter', layer, () => { m.getCanvas().style.cursor = 'pointer'; });
      m.on('mouseleave', layer, () => { m.getCanvas().style.cursor = ''; });
    }
    return () => { drawing.current?.destroy(); m.remove(); };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [mapStyleUrl]);

  const visible = useMemo(() => {
    const inGroup = groupId ? store.devicesOfGroup(groupId) : undefined;
    const q = query.trim().toLowerCase();
    const ids: string[] = [];
    for (const d of store.devices.values()) {
      if (inGroup && !inGroup.has(d.id)) continue;
      if (q && !d.name.toLowerCase().includes(q) && !d.id.includes(q)) continue;
      ids.push(d.id);
    }
    return ids;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [store.devicesVersion, store.groups, query, groupId]);

  useEffect(() => {
    const map = sources;
    if (!map) return;
    const points: DevicePoint[] = [];
    for (const id of visible) {
      const position = store.positions.get(id);
      if (!position) continue;
      const battery = store.statuses.get(id)?.battery ?? position.battery;
      points.push({ id, name: store.name(id), position, status: statusOf(store, id), lowBattery: battery !== undefined && battery !== null && battery < 20 });
    }
    void (map.getSource('devices') as GeoJSONSource | undefined)?.setData(deviceFeatures(points));
    // The first time there are devices, show them all.
    if (!fitted.current && points.length > 0) {
      fitted.current = true;
      fitTo(map, points.map((p) => [p.position.lon, p.position.lat] as LonLat), 15);
    }
  }, [sources, visible, store.devicesVersion, store]);

  useEffect(() => { if (sources) setFences(sources, store.fences); }, [sources, store.fences]);

  const show = (at: LonLat, html?: string) => {
    if (!map) return;
    map.flyTo({ center: at, zoom: Math.max(map.getZoom(), 15), duration: 600 });
    popup.current?.remove();
    if (html) popup.current = new maplibregl.Popup({ closeButton: true }).setLngLat(at).setHTML(html).addTo(map);
  };

  // #/live?sos=<id> (from the SOS alarms): fly to where the SOS was raised.
  const sosId = params.get('sos');
  useEffect(() => {
    const alarm = sosId ? store.sosAlarms.find((a) => a.id === sosId) : undefined;
    if (!map || !alarm?.position) return;
    const esc = (t: string) => t.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    show([alarm.position.lon, alarm.position.lat], `<strong>SOS from ${esc(alarm.personName ?? alarm.deviceName)}</strong><br>${esc(alarm.text ?? '')}<br>${time(alarm.raisedAt)}`);
  }, [map, sosId]); // eslint-disable-line react-hooks/exhaustive-deps -- once per alarm asked for, not on every store change

  function showDevice(id: string) {
    const p = store.positions.get(id);
    if (!p) return;
    const s = store.statuses.get(id);
    const esc = (t: string) => t.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    show([p.lon, p.lat], `<strong>${esc(store.name(id))}</strong><br>${s?.connection ?? 'unknown'}, ${s?.motion ?? 'unknown'}${s?.battery != null ? `, battery ${s.battery}%` : ''}<br>last fix ${ago(p.time)}<br><a href="#/history?device=${encodeURIComponent(id)}">History</a>`);
  }

  const tools: MapTools = {
    map,
    drawing: drawing.current,
    show,
    draw(shape, done) {
      setDrawHint(shape === 'circle' ? 'Click the centre, then click again at the radius.' : shape === 'polygon' ? 'Click each corner; click the first corner again to close.' : 'Click along the route; click the last point again to finish.');
      drawing.current?.start(shape, (d) => { setDrawHint(''); done(d); });
    },
  };

  const tabs: [Tab, string][] = [['devices', `Devices (${store.devices.size})`], ['fences', `Fences (${store.fences.length})`], ['send', 'Send'], ['events', 'Events']];
  return (
    <div className="screen">
      <section className="map" aria-label="Live map">
        <div ref={container} className="map-canvas" />
        {drawHint && (
          <div className="map-toolbar" role="status">
            <span className="hint">{drawHint}</span>
            <button type="button" className="secondary" onClick={() => { drawing.current?.stop(); setDrawHint(''); }}>Cancel drawing</button>
          </div>
        )}
        <div className="legend" aria-label="Legend">
          {(Object.keys(STATUS_COLOURS) as StatusKey[]).map((k) => <span key={k}><span className="sw" style={{ background: STATUS_COLOURS[k] }} />{k}</span>)}
          <span><span className="sw" style={{ background: '#fff', borderColor: '#dc2626' }} />battery &lt; 20%</span>
        </div>
      </section>
      <aside className="sidebar" aria-label="Panels">
        <div className="tabs" role="tablist" aria-label="Panels">
          {tabs.map(([id, label]) => (
            <button key={id} type="button" role="tab" id={`tab-${id}`} aria-selected={tab === id} aria-controls={`panel-${id}`} onClick={() => setTab(id)}>{label}</button>
          ))}
        </div>
        <div className="tabpanel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
          {tab === 'devices' && <DevicesPanel store={store} visible={visible} query={query} setQuery={setQuery} groupId={groupId} setGroupId={setGroupId} onShow={showDevice} />}
          {tab === 'fences' && <FencesPanel store={store} api={api} tools={tools} onMessage={(id) => { setComposeFence(id); setTab('send'); }} />}
          {tab === 'send' && <ComposePanel store={store} api={api} tools={tools} initialFence={composeFence} />}
          {tab === 'events' && <EventsPanel store={store} tools={tools} />}
        </div>
      </aside>
    </div>
  );
}
