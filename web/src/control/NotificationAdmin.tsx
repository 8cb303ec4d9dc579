/**
 * Administration of notifications: message templates, the tenant's channel settings (webhook,
 * SOS responders, hourly limit) and quiet hours, and each person's phone and quiet hours.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { TenantApi } from '../lib/api';
import type { NotificationSettings, Target, Template, TimeWindow, User } from '../lib/types';
import { Picker } from '../lib/Picker';
import type { LiveStore } from './live';
import { Feedback, Section, useAction } from './AdminScreen';
import { QuietHoursFields, quietDraft, quietWindow, validZone, type QuietDraft } from './WindowFields';

/** The variables a template's title and body may use (the API's list, docs/messaging.md "Rules"). */
export const TEMPLATE_VARIABLES: [string, string][] = [
  ['{person}', 'the person carrying the device'], ['{device}', 'the device'], ['{fence}', 'the fence'], ['{event}', 'what happened (entered, left, …)'],
  ['{time}', 'when it happened'], ['{link}', 'a link to the live map'], ['{battery}', 'the battery level'], ['{text}', "the SOS sender's text"],
];

export function NotificationAdmin({ store, api }: { store: LiveStore; api: TenantApi }) {
  const [users, setUsers] = useState<User[]>([]);
  useEffect(() => { void api.get<User[]>('/users').then(setUsers); }, [api]);
  return (
    <>
      <Templates api={api} />
      <ChannelSettings store={store} api={api} users={users} />
      <PersonSettings api={api} users={users} />
    </>
  );
}

function Templates({ api }: { api: TenantApi }) {
  const [templates, setTemplates] = useState<Template[]>([]);
  const empty = { id: '', name: '', title: '', body: '' };
  const [form, setForm] = useState(empty);
  const [error, note, run] = useAction();
  const reload = () => api.get<Template[]>('/templates').then(setTemplates);
  useEffect(() => { void reload(); /* eslint-disable-line react-hooks/exhaustive-deps */ }, []);
  const save = (e: FormEvent) => {
    e.preventDefault();
    const body = { name: form.name.trim(), title: form.title.trim(), body: form.body };
    void run(async () => {
      if (form.id) await api.patch(`/templates/${form.id}`, body);
      else await api.post('/templates', body);
      setForm(empty);
      await reload();
    }, form.id ? 'Template saved.' : 'Template created.');
  };
  return (
    <Section title="Message templates">
      <form onSubmit={save} aria-label={form.id ? `Edit template ${form.name}` : 'New template'}>
        <div className="row">
          <div><label htmlFor="template-name">Template name</label><input id="template-name" required maxLength={100} value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></div>
          <div style={{ flex: 1 }}><label htmlFor="template-title">Template title</label><input id="template-title" required maxLength={200} value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} style={{ width: '100%' }} /></div>
        </div>
        <label htmlFor="template-body">Template body</label>
        <textarea id="template-body" rows={3} maxLength={10_000} value={form.body} onChange={(e) => setForm({ ...form, body: e.target.value })} style={{ width: '100%' }} aria-describedby="template-variables" />
        <details id="template-variables">
          <summary>Variables the title and body may use</summary>
          <dl className="variables">{TEMPLATE_VARIABLES.map(([v, what]) => <div key={v}><dt><code>{v}</code></dt><dd>{what}</dd></div>)}</dl>
        </details>
        <div className="row" style={{ marginTop: '.5rem' }}>
          <button type="submit">{form.id ? 'Save template' : 'Create template'}</button>
          {form.id && <button type="button" className="secondary" onClick={() => setForm(empty)}>Cancel editing</button>}
        </div>
      </form>
      <Feedback error={error} note={note} />
      <ul className="list" aria-label="Templates">{templates.map((t) => (
        <li key={t.id} style={{ padding: '.4rem 0' }}>
          <div className="row">
            <strong style={{ flex: 1 }}>{t.name}</strong>
            <button type="button" className="secondary" aria-label={`Edit template ${t.name}`} onClick={() => setForm({ id: t.id, name: t.name, title: t.title, body: t.body })}>Edit</button>
            <button type="button" className="danger" aria-label={`Delete template ${t.name}`} onClick={() => confirm(`Delete the template ${t.name}?`) && void run(async () => { await api.del(`/templates/${t.id}`); await reload(); }, 'Deleted.')}>Delete</button>
          </div>
          <div>“{t.title}”</div>
          {t.body && <div className="muted" style={{ whiteSpace: 'pre-wrap' }}>{t.body}</div>}
          <div className="muted">Uses: {variablesIn(`${t.title} ${t.body}`).join(' ') || 'no variables'}</div>
        </li>
      ))}</ul>
    </Section>
  );
}

function variablesIn(text: string): string[] {
  return [...new Set(text.match(/\{[a-z]+\}/g) ?? [])];
}


function ChannelSettings({ store, api, users }: { store: LiveStore; api: TenantApi; users: User[] }) {
  const [settings, setSettings] = useState<NotificationSettings>();
  const [webhookUrl, setWebhookUrl] = useState('');
  const [responders, setResponders] = useState<string[]>([]);
  const [limit, setLimit] = useState('');
  const [quiet, setQuiet] = useState<QuietDraft>(quietDraft(null));
  const [secret, setSecret] = useState('');
  const [error, note, run] = useAction();
  const show = (s: NotificationSettings) => {
    setSettings(s);
    setWebhookUrl(s.webhookUrl ?? '');
    setResponders([...(s.responders?.groupIds ?? []), ...(s.responders?.userIds ?? []), ...(s.responders?.deviceIds ?? [])]);
    setLimit(s.recipientHourlyLimit ? String(s.recipientHourlyLimit) : '');
    setQuiet(quietDraft(s.quietHours));
  };
  useEffect(() => { void api.get<NotificationSettings>('/notification-settings').then(show); }, [api]);
  if (!settings) return null;
  const save = (e: FormEvent) => {
    e.preventDefault();
    const target: Target = {};
    for (const [key, prefix] of [['groupIds', 'grp_'], ['userIds', 'usr_'], ['deviceIds', 'dev_']] as const) {
      const ids = responders.filter((x) => x.startsWith(prefix));
      if (ids.length) target[key] = ids;
    }
    const body: Record<string, unknown> = { responders: responders.length ? target : null, recipientHourlyLimit: limit ? Number(limit) : null, quietHours: quietWindow(quiet) };
    // The URL is sent only when it changed: setting it again would make a new signing secret.
    if ((settings.webhookUrl ?? '') !== webhookUrl.trim()) body.webhookUrl = webhookUrl.trim() || null;
    void run(async () => {
      const saved = await api.put<NotificationSettings>('/notification-settings', body);
      setSecret(saved.webhookSecret ?? '');
      show(saved);
    }, 'Notification settings saved.');
  };
  return (
    <Section title="Notification settings">
      <form onSubmit={save}>
        <Picker legend="SOS responders (an SOS alerts them, critical)" chosen={responders} onChange={setResponders}
          sections={[{ title: 'Groups', kind: 'group', items: store.groups }, { title: 'People', kind: 'person', items: users }]} />
        {responders.length === 0 && <p className="muted">Nobody is chosen: an SOS alerts no one.</p>}
        <label htmlFor="webhook-url">Webhook URL (the webhook channel posts every message there; empty: none)</label>
        <input id="webhook-url" type="url" value={webhookUrl} onChange={(e) => setWebhookUrl(e.target.value)} style={{ width: '100%' }} placeholder="https://example.com/followme" />
        <label htmlFor="hourly-limit">Most rule alerts per device and hour (empty: no limit; critical always passes)</label>
        <input id="hourly-limit" type="number" min="1" value={limit} onChange={(e) => setLimit(e.target.value)} />
        <QuietHoursFields label="Quiet hours for everyone" value={quiet} onChange={setQuiet} />
        <button type="submit" style={{ marginTop: '.5rem' }} disabled={quiet.on && !validZone(quiet.timeZone)}>Save notification settings</button>
      </form>
      <Feedback error={error} note={note} />
      {secret && (
        <div className="card" data-testid="webhook-secret">
          <p>The webhook&apos;s signing secret, shown only now: check each request&apos;s <code>X-FollowMe-Signature</code> with it.</p>
          <p className="token">{secret}</p>
        </div>
      )}
      <p className="muted">E-mail, SMS and push are set up for the whole deployment (docs/messaging.md); SMS reaches the people with a phone number below.</p>
    </Section>
  );
}

function PersonSettings({ api, users }: { api: TenantApi; users: User[] }) {
  const [userId, setUserId] = useState('');
  const [phone, setPhone] = useState('');
  const [quiet, setQuiet] = useState<QuietDraft>(quietDraft(null));
  const [loaded, setLoaded] = useState(false);
  const [error, note, run] = useAction();
  useEffect(() => {
    setLoaded(false);
    if (!userId) return;
    void run(async () => {
      const p = await api.get<{ phone: string | null; quietHours: TimeWindow | null }>(`/users/${userId}/notification-profile`);
      setPhone(p.phone ?? '');
      setQuiet(quietDraft(p.quietHours));
      setLoaded(true);
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, userId]);
  const name = users.find((u) => u.id === userId)?.name ?? '';
  const save = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.put(`/users/${userId}/phone`, { phone: phone.trim() || null });
      await api.put(`/users/${userId}/quiet-hours`, { quietHours: quietWindow(quiet) });
    }, `Saved for ${name}.`);
  };
  return (
    <Section title="A person's phone and quiet hours">
      <label htmlFor="person">Person</label>
      <select id="person" value={userId} onChange={(e) => setUserId(e.target.value)}>
        <option value="">Choose…</option>
        {users.slice(0, 1000).map((u) => <option key={u.id} value={u.id}>{u.name} ({u.email})</option>)}
      </select>
      {userId && loaded && (
        <form onSubmit={save} aria-label={`Settings of ${name}`}>
          <label htmlFor="person-phone">Mobile number for SMS (E.164, e.g. +4915112345678; empty: none)</label>
          <input id="person-phone" type="tel" value={phone} onChange={(e) => setPhone(e.target.value)} pattern="\+[1-9][0-9]{6,14}" />
          <QuietHoursFields label={`Quiet hours of ${name}`} value={quiet} onChange={setQuiet} />
          <button type="submit" style={{ marginTop: '.5rem' }} disabled={quiet.on && !validZone(quiet.timeZone)}>Save for {name}</button>
        </form>
      )}
      <Feedback error={error} note={note} />
    </Section>
  );
}
