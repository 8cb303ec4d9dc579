/** Fences: draw (circle, polygon, corridor) or type a circle, edit its shape and attributes, delete, import and export GeoJSON. */
import { useState, type FormEvent } from 'react';
import { ApiError, type TenantApi } from '../lib/api';
import type { Fence, LonLat } from '../lib/types';
import { metres } from '../lib/format';
import type { LiveStore } from './live';
import type { MapTools } from './LiveScreen';
import type { Drawn, Shape } from './draw';
import { attributesBody, attributesOf, FenceAttributes, type Attributes } from './FenceAttributes';

interface Draft { id?: string; name: string; drawn?: Drawn; radius: string; width: string; enabled: boolean; dwellMinutes: string; attributes: Attributes }

function describe(f: Fence): string {
  if (f.geometry.type === 'Point') return `circle, ${metres(f.radius ?? 0)}`;
  if (f.geometry.type === 'LineString') return `corridor, ${metres(f.width ?? 0)} wide`;
  return f.geometry.type === 'MultiPolygon' ? 'multipolygon' : 'polygon';
}

function centreOf(f: Fence): LonLat {
  const flat = JSON.stringify(f.geometry.coordinates).match(/-?\d+(\.\d+)?(e-?\d+)?/g)!.map(Number);
  let lon = 0, lat = 0;
  for (let i = 0; i < flat.length; i += 2) { lon += flat[i]!; lat += flat[i + 1]!; }
  return [lon / (flat.length / 2), lat / (flat.length / 2)];
}

export function FencesPanel({ store, api, tools, onMessage }: { store: LiveStore; api: TenantApi; tools: MapTools; onMessage: (fenceId: string) => void }) {
  const [draft, setDraft] = useState<Draft>();
  const [error, setError] = useState('');
  const [note, setNote] = useState('');

  const startDraw = (shape: Shape) => {
    setError('');
    setDraft(undefined);
    tools.draw(shape, (drawn) => setDraft({ name: '', drawn, radius: String(drawn.radius ?? ''), width: '50', enabled: true, dwellMinutes: '', attributes: attributesOf(undefined) }));
  };
  const typedCircle = () => {
    const c = tools.map?.getCenter();
    setDraft({ name: '', drawn: { shape: 'circle', geometry: { type: 'Point', coordinates: [Number(c?.lng.toFixed(6) ?? 13.39), Number(c?.lat.toFixed(6) ?? 52.515)] } }, radius: '200', width: '', enabled: true, dwellMinutes: '', attributes: attributesOf(undefined) });
  };
  const edit = (f: Fence) => {
    setError('');
    tools.drawing?.edit(f);
    setDraft({ id: f.id, name: f.name, radius: String(f.radius ?? ''), width: String(f.width ?? ''), enabled: f.enabled, dwellMinutes: f.dwellMinutes ? String(f.dwellMinutes) : '', attributes: attributesOf(f) });
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!draft) return;
    setError('');
    const drawn = draft.id ? tools.drawing?.current() : draft.drawn;
    const body: Record<string, unknown> = { name: draft.name.trim(), enabled: draft.enabled, ...attributesBody(draft.attributes) };
    if (draft.dwellMinutes) body.dwellMinutes = Number(draft.dwellMinutes);
    else if (draft.id) body.dwellMinutes = null; // cleared: no dwell events any more
    if (drawn) {
      body.geometry = drawn.geometry;
      if (drawn.geometry.type === 'Point') body.radius = Number(draft.radius);
      if (drawn.geometry.type === 'LineString') body.width = Number(draft.width);
    } else if (draft.radius) body.radius = Number(draft.radius);
    try {
      if (draft.id) await api.patch(`/fences/${draft.id}`, body);
      else await api.post('/fences', body);
      tools.drawing?.stop();
      setNote(`Saved fence ${draft.name}.`);
      setDraft(undefined);
      await store.refreshFences();
    } catch (err) {
      setError(err instanceof ApiError ? `${err.message}` : String(err));
    }
  };

  const remove = async (f: Fence) => {
    if (!confirm(`Delete the fence ${f.name}?`)) return;
    await api.del(`/fences/${f.id}`);
    setNote(`Deleted fence ${f.name}.`);
    await store.refreshFences();
  };

  const importFile = async (file: File | undefined) => {
    if (!file) return;
    setError('');
    try {
      const result = await api.post<{ imported: number }>('/fences/import', JSON.parse(await file.text()));
      setNote(`Imported ${result.imported} fences.`);
      await store.refreshFences();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : `Not a GeoJSON file: ${String(err)}`);
    }
  };

  const isCircle = draft?.drawn ? draft.drawn.geometry.type === 'Point' : draft?.id ? store.fences.find((f) => f.id === draft.id)?.geometry.type === 'Point' : false;
  const isCorridor = draft?.drawn ? draft.drawn.geometry.type === 'LineString' : draft?.id ? store.fences.find((f) => f.id === draft.id)?.geometry.type === 'LineString' : false;

  return (
    <div className="stack">
      <div className="row" role="group" aria-label="Draw a fence">
        <button type="button" disabled={!tools.drawing} onClick={() => startDraw('circle')}>Draw circle</button>
        <button type="button" disabled={!tools.drawing} onClick={() => startDraw('polygon')}>Draw polygon</button>
        <button type="button" disabled={!tools.drawing} onClick={() => startDraw('corridor')}>Draw corridor</button>
        <button type="button" className="secondary" onClick={typedCircle}>Circle by coordinates</button>
      </div>
      {draft && (
        <form className="card" onSubmit={save} aria-label={draft.id ? 'Edit fence' : 'New fence'}>
          <h3>{draft.id ? 'Edit fence' : `New ${draft.drawn?.shape ?? ''} fence`}</h3>
          {draft.id && <p className="muted">Drag the shape or its corners on the map to change it.</p>}
          <label htmlFor="fence-name">Name</label>
          <input id="fence-name" required value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} autoFocus />
          {!draft.id && draft.drawn?.geometry.type === 'Point' && (
            <div className="row">
              <div><label htmlFor="fence-lon">Longitude</label><input id="fence-lon" type="number" step="any" value={(draft.drawn.geometry.coordinates as LonLat)[0]} onChange={(e) => setDraft({ ...draft, drawn: { ...draft.drawn!, geometry: { type: 'Point', coordinates: [Number(e.target.value), (draft.drawn!.geometry.coordinates as LonLat)[1]] } } })} /></div>
              <div><label htmlFor="fence-lat">Latitude</label><input id="fence-lat" type="number" step="any" value={(draft.drawn.geometry.coordinates as LonLat)[1]} onChange={(e) => setDraft({ ...draft, drawn: { ...draft.drawn!, geometry: { type: 'Point', coordinates: [(draft.drawn!.geometry.coordinates as LonLat)[0], Number(e.target.value)] } } })} /></div>
            </div>
          )}
          {isCircle && (<><label htmlFor="fence-radius">Radius (m)</label><input id="fence-radius" type="number" min="1" required value={draft.radius} onChange={(e) => setDraft({ ...draft, radius: e.target.value })} /></>)}
          {isCorridor && (<><label htmlFor="fence-width">Width (m)</label><input id="fence-width" type="number" min="1" required value={draft.width} onChange={(e) => setDraft({ ...draft, width: e.target.value })} /></>)}
          <label htmlFor="fence-dwell">Dwell alert after (minutes, empty: none)</label>
          <input id="fence-dwell" type="number" min="1" value={draft.dwellMinutes} onChange={(e) => setDraft({ ...draft, dwellMinutes: e.target.value })} />
          <label className="inline"><input type="checkbox" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} /> Enabled</label>
          <FenceAttributes store={store} value={draft.attributes} onChange={(attributes) => setDraft({ ...draft, attributes })} />
          {error && <p role="alert" className="error">{error}</p>}
          <div className="row"><button type="submit">Save fence</button><button type="button" className="secondary" onClick={() => { tools.drawing?.stop(); setDraft(undefined); }}>Cancel</button></div>
        </form>
      )}
      {!draft && error && <p role="alert" className="error">{error}</p>}
      <p role="status" className="muted">{note}</p>
      <ul className="list" aria-label="Fences">
        {store.fences.map((f) => (
          <li key={f.id} style={{ padding: '.4rem 0' }}>
            <div className="row">
              <strong style={{ flex: 1 }}>{f.name}</strong>
              <span className="muted">{describe(f)}{f.enabled ? '' : ', disabled'}{f.schedule ? ', scheduled' : ''}{f.appliesTo ? ', some devices' : ''}</span>
            </div>
            {f.tags.length > 0 && <div className="muted">{f.tags.map((t) => `#${t}`).join(' ')}</div>}
            <div className="row" style={{ marginTop: '.3rem' }}>
              <button type="button" className="secondary" onClick={() => tools.show(centreOf(f))} aria-label={`Show ${f.name} on the map`}>Show</button>
              <button type="button" className="secondary" onClick={() => edit(f)} aria-label={`Edit ${f.name}`}>Edit</button>
              <button type="button" className="secondary" onClick={() => onMessage(f.id)} aria-label={`Message everyone inside ${f.name}`}>Message everyone inside</button>
              <button type="button" className="danger" onClick={() => void remove(f)} aria-label={`Delete ${f.name}`}>Delete</button>
            </div>
          </li>
        ))}
      </ul>
      <div className="row">
        <a href={api.url('/fences/export')} download="fences.geojson">Export GeoJSON</a>
        <label className="inline" htmlFor="fence-import">Import GeoJSON</label>
        <input id="fence-import" type="file" accept=".json,.geojson,application/geo+json,application/json" onChange={(e) => void importFile(e.target.files?.[0])} />
      </div>
    </div>
  );
}
