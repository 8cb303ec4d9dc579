/** The people who share with me, on a small map (loaded only when someone does). */
import { useEffect, useRef, useState } from 'react';
import { loadWebConfig } from '../lib/api';
import { createMap, fitTo, maplibregl, type MLMap } from '../lib/map';
import type { LonLat, Position } from '../lib/types';
import type { Followed } from './FollowMe';

export default function FollowingMap({ people }: { people: Followed[] }) {
  const container = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MLMap>();
  const markers = useRef(new Map<string, maplibregl.Marker>());
  useEffect(() => {
    let m: MLMap | undefined;
    void loadWebConfig().then((c) => { m = createMap(container.current!, c.mapStyleUrl); m.on('load', () => setMap(m)); });
    return () => m?.remove();
  }, []);
  useEffect(() => {
    if (!map) return;
    const at: LonLat[] = [];
    for (const f of people) {
      const newest = f.positions.reduce<Position | undefined>((b, p) => (!b || p.time > b.time ? p : b), undefined);
      if (!newest) continue;
      at.push([newest.lon, newest.lat]);
      let marker = markers.current.get(f.shareId);
      if (!marker) {
        marker = new maplibregl.Marker({ color: '#6d28d9' }).setPopup(new maplibregl.Popup().setText(f.name)).addTo(map);
        marker.getElement().setAttribute('aria-label', f.name);
        markers.current.set(f.shareId, marker);
      }
      marker.setLngLat([newest.lon, newest.lat]);
    }
    if (at.length && markers.current.size === at.length) fitTo(map, at, 15);
  }, [map, people]);
  return <div className="share-map" aria-label="Map of the people who share with you"><div ref={container} className="map-canvas" /></div>;
}
