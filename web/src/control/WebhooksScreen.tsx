/** Administration → Webhooks: geofence event subscriptions, their signing secret, a test event, and the dead letters with Replay. */
import { useEffect, useState, type FormEvent } from 'react';
import type { TenantApi } from '../lib/api';
import { time } from '../lib/format';
import { Feedback, Section, useAction } from './AdminScreen';
import type { LiveStore } from './live';

const EVENTS = [['enter', 'enters'], ['exit', 'leaves'], ['dwell', 'stays'], ['within', 'comes near (proximity)'], ['apart', 'moves away (proximity)']] as const;

interface Webhook { id: string; url: string; description: string; events: string[]; fenceIds: string[] | null; deviceIds: string[] | null; groupIds: string[] | null; enabled: boolean; secret?: string }
interface Delivery { id: string; eventId: string; eventType: string; state: string; attempts: number; lastStatus: number | null; lastError: string | null; deadAt: number | null; replays: number }

export function WebhooksScreen({ store, api }: { store: LiveStore; api: TenantApi }) {
  const [hooks, setHooks] = useState<Webhook[]>([]);
  const [form, setForm] = useState({ url: '', description: '', events: ['enter', 'exit'] as string[], fenceId: '', groupId: '' });
  const [secret, setSecret] = useState<{ url: string; secret: string }>();
  const [open, setOpen] = useState<string>();
  const [error, note, run] = useAction();
  const reload = () => api.get<Webhook[]>('/webhooks').then(setHooks);
  useEffect(() => { void reload(); /* eslint-disable-line react-hooks/exhaustive-deps */ }, []);
  const toggle = (event: string, on: boolean) => setForm({ ...form, events: on ? [...form.events, event] : form.events.filter((e) => e !== event) });
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const created = await api.post<Webhook>('/webhooks', {
        url: form.url.trim(), description: form.description, events: form.events,
        fenceIds: form.fenceId ? [form.fenceId] : null, groupIds: form.groupId ? [form.groupId] : null,
      });
      setSecret({ url: created.url, secret: created.secret ?? '' });
      setForm({ ...form, url: '', description: '' });
      await reload();
    }, 'Webhook created.');
  };
  const name = (ids: string[] | null, of: { id: string; name: string }[]) => ids?.map((id) => of.find((x) => x.id === id)?.name ?? id).join(', ');
  return (
    <div className="screen single">
      <Section title="Webhooks">
        <p className="muted">Geofence events are POSTed as JSON, signed with HMAC-SHA256 (<code>X-FollowMe-Signature: t=…,v1=…</code> over <code>t.body</code>), with the event id in <code>X-FollowMe-Event</code>. Failed deliveries are retried with back-off and end as dead letters.</p>
        <form onSubmit={create}>
          <div className="row">
            <div style={{ flex: 2 }}><label htmlFor="hook-url">URL</label><input id="hook-url" type="url" required placeholder="https://hooks.example.com/followme" value={form.url} onChange={(e) => setForm({ ...form, url: e.target.value })} style={{ width: '100%' }} /></div>
            <div style={{ flex: 1 }}><label htmlFor="hook-description">Description</label><input id="hook-description" value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} style={{ width: '100%' }} /></div>
          </div>
          <fieldset className="row" style={{ border: 0, padding: 0, margin: '.5rem 0' }}>
            <legend>When a device…</legend>
            {EVENTS.map(([event, label]) => (
              <label key={event}><input type="checkbox" checked={form.events.includes(event)} onChange={(e) => toggle(event, e.target.checked)} /> {label}</label>
            ))}
          </fieldset>
          <div className="row">
            <div><label htmlFor="hook-fence">Only this fence</label><select id="hook-fence" value={form.fenceId} onChange={(e) => setForm({ ...form, fenceId: e.target.value })}><option value="">Any fence</option>{store.fences.map((f) => <option key={f.id} value={f.id}>{f.name}</option>)}</select></div>
            <div><label htmlFor="hook-group">Only this group</label><select id="hook-group" value={form.groupId} onChange={(e) => setForm({ ...form, groupId: e.target.value })}><option value="">Any device</option>{store.groups.map((g) => <option key={g.id} value={g.id}>{g.name}</option>)}</select></div>
          </div>
          <button type="submit" style={{ marginTop: '.5rem' }} disabled={form.events.length === 0}>Create webhook</button>
        </form>
        <Feedback error={error} note={note} />
        {secret && (
          <div className="card" aria-live="polite" data-testid="webhook-secret">
            <h3>Signing secret for {secret.url}</h3>
            <p>Verify every request with it. Admins can show it again from the API (<code>GET …/webhooks/&#123;id&#125;/secret</code>).</p>
            <p className="token">{secret.secret}</p>
            <button type="button" className="secondary" onClick={() => void navigator.clipboard?.writeText(secret.secret)}>Copy secret</button>
          </div>
        )}
        <table>
          <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Only</th><th scope="col">State</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>{hooks.map((h) => (
            <tr key={h.id}>
              <td>{h.url}{h.description && <div className="muted">{h.description}</div>}</td>
              <td>{h.events.join(', ')}</td>
              <td className="muted">{[name(h.fenceIds, store.fences), name(h.groupIds, store.groups), h.deviceIds?.join(', ')].filter(Boolean).join('; ') || 'everything'}</td>
              <td>{h.enabled ? 'enabled' : 'disabled'}</td>
              <td className="row">
                <button type="button" className="secondary" aria-label={`Send a test event to ${h.url}`} onClick={() => void run(() => api.post(`/webhooks/${h.id}/test`), 'Test event queued.')}>Test</button>
                <button type="button" className="secondary" aria-label={`${h.enabled ? 'Disable' : 'Enable'} ${h.url}`} onClick={() => void run(async () => { await api.patch(`/webhooks/${h.id}`, { enabled: !h.enabled }); await reload(); }, h.enabled ? 'Disabled: events wait until it is enabled again.' : 'Enabled.')}>{h.enabled ? 'Disable' : 'Enable'}</button>
                <button type="button" className="secondary" aria-expanded={open === h.id} aria-label={`Dead letters of ${h.url}`} onClick={() => setOpen(open === h.id ? undefined : h.id)}>Dead letters</button>
                <button type="button" className="danger" aria-label={`Delete webhook ${h.url}`} onClick={() => confirm(`Delete the webhook to ${h.url} with its dead letters?`) && void run(async () => { await api.del(`/webhooks/${h.id}`); if (open === h.id) setOpen(undefined); await reload(); }, 'Deleted.')}>Delete</button>
              </td>
            </tr>
          ))}</tbody>
        </table>
      </Section>
      {open && <DeadLetters key={open} api={api} hook={hooks.find((h) => h.id === open)} />}
    </div>
  );
}

const PAGE = 50;

function DeadLetters({ api, hook }: { api: TenantApi; hook: Webhook | undefined }) {
  const [pages, setPages] = useState<Delivery[][]>([]);
  const [more, setMore] = useState(false);
  const [error, note, run] = useAction();
  const load = async (after?: string) => {
    if (!hook) return;
    const page = await api.get<Delivery[]>(`/webhooks/${hook.id}/deliveries?state=dead&limit=${PAGE}${after ? `&after=${after}` : ''}`);
    setPages((p) => (after ? [...p, page] : [page]));
    setMore(page.length === PAGE);
  };
  useEffect(() => { void load(); /* eslint-disable-line react-hooks/exhaustive-deps */ }, [hook?.id]);
  if (!hook) return null;
  const dead = pages.flat();
  return (
    <Section title={`Dead letters of ${hook.url}`}>
      <div className="row">
        <button type="button" disabled={dead.length === 0} onClick={() => void run(async () => { const r = await api.post<{ replayed: number }>(`/webhooks/${hook.id}/replay`); await load(); return r; }, 'Every dead letter is queued again.')}>Replay all</button>
        <button type="button" className="secondary" onClick={() => void run(() => load(), '')}>Refresh</button>
      </div>
      <Feedback error={error} note={note} />
      {dead.length === 0 ? <p className="muted">No dead letters.</p> : (
        <table>
          <thead><tr><th scope="col">Event</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Dead since</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>{dead.map((d) => (
            <tr key={d.id}>
              <td>{d.eventType} <span className="muted">{d.eventId}</span></td>
              <td>{d.attempts}{d.replays > 0 && <span className="muted"> ({d.replays} replays)</span>}</td>
              <td>{d.lastStatus !== null && <strong>{d.lastStatus} </strong>}{d.lastError}</td>
              <td>{time(d.deadAt)}</td>
              <td className="row">
                <button type="button" aria-label={`Replay ${d.eventType} ${d.eventId}`} onClick={() => void run(async () => { await api.post(`/webhooks/${hook.id}/deliveries/${d.id}/replay`); await load(); }, 'Queued again with the same event id.')}>Replay</button>
                <button type="button" className="danger" aria-label={`Delete dead letter ${d.eventId}`} onClick={() => void run(async () => { await api.del(`/webhooks/${hook.id}/deliveries/${d.id}`); await load(); }, 'Deleted.')}>Delete</button>
              </td>
            </tr>
          ))}</tbody>
        </table>
      )}
      {more && <button type="button" className="secondary" onClick={() => void run(() => load(dead[dead.length - 1]!.id), '')}>More</button>}
    </Section>
  );
}
