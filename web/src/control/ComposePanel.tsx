/**
 * Compose a message: pick devices, groups, fences and/or a drawn area, see how many it reaches and
 * who (POST /messages/preview) before sending, choose channels, priority, acknowledgement and poll
 * options. A drawn area is sent as the target's `area` (with an optional freshness limit) and the
 * server resolves it against last known positions; with a live window, a fence or an area also
 * reaches whoever enters it while the window is open (docs/messaging.md, "Live zones").
 */
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, type TenantApi } from '../lib/api';
import type { Geometry, Message, Preview, Target } from '../lib/types';
import type { LiveStore } from './live';
import type { MapTools } from './LiveScreen';
import { navigate } from './App';

type Channel = 'app' | 'push' | 'email' | 'sms' | 'webhook';
const CHANNELS: [Channel, string][] = [['app', 'In the app'], ['push', 'Web Push'], ['email', 'E-mail'], ['sms', 'SMS'], ['webhook', 'Webhook']];

export function ComposePanel({ store, api, tools, initialFence }: { store: LiveStore; api: TenantApi; tools: MapTools; initialFence?: string }) {
  const [groupIds, setGroupIds] = useState<string[]>([]);
  const [fenceIds, setFenceIds] = useState<string[]>(initialFence ? [initialFence] : []);
  const [deviceIds, setDeviceIds] = useState<string[]>([]);
  const [area, setArea] = useState<Geometry>();
  const [maxAge, setMaxAge] = useState('');
  const [liveMinutes, setLiveMinutes] = useState('');
  const [channels, setChannels] = useState<Channel[]>(['app']);
  const [deviceQuery, setDeviceQuery] = useState('');
  const [title, setTitle] = useState('');
  const [body, setBody] = useState('');
  const [priority, setPriority] = useState<'normal' | 'high' | 'critical'>('normal');
  const [ackRequired, setAckRequired] = useState(false);
  const [options, setOptions] = useState('');
  const [ttl, setTtl] = useState('');
  const [preview, setPreview] = useState<Preview>();
  const reach = preview?.devices;
  const [error, setError] = useState('');
  // the preview's own problem (a target the server refuses), apart from a refused send: a preview answering later must not clear that
  const [previewError, setPreviewError] = useState('');
  const [busy, setBusy] = useState(false);

  const target: Target = {};
  if (deviceIds.length) target.deviceIds = deviceIds;
  if (groupIds.length) target.groupIds = groupIds;
  if (fenceIds.length) target.fenceIds = fenceIds;
  if (area) {
    target.area = { geometry: area };
    if (Number(maxAge) > 0) target.maxAgeMinutes = Number(maxAge);
  }
  const targetKey = JSON.stringify(target);
  const empty = targetKey === '{}';

  useEffect(() => {
    if (empty) { setPreview(undefined); setPreviewError(''); return; }
    const timer = setTimeout(() => {
      api.post<Preview>('/messages/preview', { target }).then((r) => { setPreview(r); setPreviewError(''); }, (err: Error) => { setPreview(undefined); setPreviewError(err.message); });
    }, 250);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [targetKey]);

  const toggle = (list: string[], set: (l: string[]) => void, id: string) => set(list.includes(id) ? list.filter((x) => x !== id) : [...list, id]);

  const drawArea = () => tools.draw('polygon', (d) => setArea(d.geometry));

  const send = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    const pollOptions = options.split('\n').map((o) => o.trim()).filter(Boolean);
    try {
      const message = await api.post<Message>('/messages', {
        target, title: title.trim(), body: body.trim() || undefined, priority,
        ackRequired: ackRequired || pollOptions.length > 0 || undefined,
        options: pollOptions.length ? pollOptions : undefined,
        ttlSeconds: ttl ? Number(ttl) * 60 : undefined,
        channels,
        liveMinutes: liveMinutes ? Number(liveMinutes) : undefined,
      });
      tools.drawing?.stop();
      navigate(`#/messages/${message.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const q = deviceQuery.trim().toLowerCase();
  const matches = q ? [...store.devices.values()].filter((d) => d.name.toLowerCase().includes(q)).slice(0, 30) : [];
  return (
    <form onSubmit={send} aria-label="Compose a message" className="stack">
      <h2>Send a message</h2>
      <fieldset>
        <legend>Fences (everyone inside now)</legend>
        {store.fences.length === 0 && <p className="muted">No fences yet.</p>}
        {store.fences.map((f) => <label className="inline" key={f.id}><input type="checkbox" checked={fenceIds.includes(f.id)} onChange={() => toggle(fenceIds, setFenceIds, f.id)} /> {f.name}</label>)}
      </fieldset>
      <fieldset>
        <legend>Groups</legend>
        {store.groups.length === 0 && <p className="muted">No groups yet.</p>}
        {store.groups.map((g) => <label className="inline" key={g.id}><input type="checkbox" checked={groupIds.includes(g.id)} onChange={() => toggle(groupIds, setGroupIds, g.id)} /> {g.name}</label>)}
      </fieldset>
      <fieldset>
        <legend>Devices</legend>
        <label htmlFor="compose-device-search">Find a device</label>
        <input id="compose-device-search" type="search" value={deviceQuery} onChange={(e) => setDeviceQuery(e.target.value)} style={{ width: '100%' }} />
        {matches.map((d) => <label className="inline" key={d.id}><input type="checkbox" checked={deviceIds.includes(d.id)} onChange={() => toggle(deviceIds, setDeviceIds, d.id)} /> {d.name}</label>)}
        {deviceIds.length > 0 && <p className="muted">Chosen: {deviceIds.map((id) => store.name(id)).join(', ')}</p>}
      </fieldset>
      <fieldset>
        <legend>Area</legend>
        <div className="row">
          <button type="button" className="secondary" disabled={!tools.drawing} onClick={drawArea}>Draw an area on the map</button>
          {area && <button type="button" className="secondary" onClick={() => { setArea(undefined); tools.drawing?.stop(); }}>Clear area</button>}
        </div>
        {area && (
          <div><label htmlFor="compose-max-age">Only positions fresher than (minutes; empty: any)</label>
            <input id="compose-max-age" type="number" min="1" value={maxAge} onChange={(e) => setMaxAge(e.target.value)} style={{ width: '8rem' }} /></div>
        )}
      </fieldset>
      <div><label htmlFor="compose-live">Also reach whoever enters in the next (minutes; one fence or the area)</label>
        <input id="compose-live" type="number" min="1" value={liveMinutes} onChange={(e) => setLiveMinutes(e.target.value)} style={{ width: '8rem' }} /></div>
      <p role="status" aria-live="polite" data-testid="reach"><strong>{empty ? 'Choose whom to reach.' : reach === undefined ? 'Counting…' : `Reaches ${reach} ${reach === 1 ? 'device' : 'devices'} now.`}</strong>
        {preview && preview.people > 0 && <span data-testid="reach-people"> {preview.people === 1 ? '1 person' : `${preview.people} people`}: {preview.persons.slice(0, 8).map((p) => p.name).join(', ')}{preview.people > 8 ? ', …' : ''}</span>}
      </p>
      <fieldset>
        <legend>Channels</legend>
        {CHANNELS.map(([c, label]) => <label className="inline" key={c}><input type="checkbox" checked={channels.includes(c)} onChange={() => setChannels(channels.includes(c) ? channels.filter((x) => x !== c) : [...channels, c])} /> {label}</label>)}
      </fieldset>
      <label htmlFor="compose-title">Title</label>
      <input id="compose-title" required maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} style={{ width: '100%' }} />
      <label htmlFor="compose-body">Text</label>
      <textarea id="compose-body" rows={3} value={body} onChange={(e) => setBody(e.target.value)} style={{ width: '100%' }} />
      <div className="row">
        <div><label htmlFor="compose-priority">Priority</label>
          <select id="compose-priority" value={priority} onChange={(e) => setPriority(e.target.value as typeof priority)}>
            <option value="normal">Normal</option><option value="high">High</option><option value="critical">Critical</option>
          </select></div>
        <div><label htmlFor="compose-ttl">Expires after (minutes)</label><input id="compose-ttl" type="number" min="1" value={ttl} onChange={(e) => setTtl(e.target.value)} style={{ width: '8rem' }} /></div>
      </div>
      <label className="inline"><input type="checkbox" checked={ackRequired} onChange={(e) => setAckRequired(e.target.checked)} /> Ask for acknowledgement</label>
      <label htmlFor="compose-options">Poll options (one per line; empty: no poll)</label>
      <textarea id="compose-options" rows={3} value={options} onChange={(e) => setOptions(e.target.value)} style={{ width: '100%' }} />
      {previewError && <p role="alert" className="error">{previewError}</p>}
      {error && <p role="alert" className="error">{error}</p>}
      <button type="submit" disabled={busy || empty || channels.length === 0 || (reach === 0 && !liveMinutes)}>Send to {reach ?? '…'} {reach === 1 ? 'device' : 'devices'}</button>
    </form>
  );
}
