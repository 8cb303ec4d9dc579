/** Administration: users and roles, devices (token as text and QR code), groups, rules, tracking settings, notifications. */
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import QRCode from 'qrcode';
import { ApiError, type Session, type TenantApi } from '../lib/api';
import { DAYS, type Day, type Device, type Rule, type Tenant, type TrackingSettings, type User, type VisibilityPolicy } from '../lib/types';
import { displayZone } from '../lib/format';
import { QuietHoursFields, quietDraft, quietWindow, validZone, WindowFields, ZoneField } from './WindowFields';
import type { LiveStore } from './live';
import { NotificationAdmin } from './NotificationAdmin';

export function useAction(): [string, string, (what: () => Promise<unknown>, done?: string) => Promise<void>] {
  const [error, setError] = useState('');
  const [note, setNote] = useState('');
  const run = async (what: () => Promise<unknown>, done = '') => {
    setError('');
    try { await what(); setNote(done); } catch (err) { setError(err instanceof ApiError ? err.message : String(err)); }
  };
  return [error, note, run];
}

export function Section({ title, children }: { title: string; children: ReactNode }) {
  const id = `admin-${title.toLowerCase().replace(/\W+/g, '-')}`;
  return <section className="card" aria-labelledby={id}><h2 id={id}>{title}</h2>{children}</section>;
}

export function Feedback({ error, note }: { error: string; note: string }) {
  return <>{error && <p role="alert" className="error">{error}</p>}<p role="status" className="muted">{note}</p></>;
}

export function AdminScreen({ store, api, tenant, onTenant }: { store: LiveStore; api: TenantApi; session: Session; tenant: Tenant; onTenant: (t: Tenant) => void }) {
  return (
    <div className="screen single">
      <div className="grid2" style={{ gridTemplateColumns: '1fr 1fr' }}>
        <div><Devices store={store} api={api} /><Groups store={store} api={api} /></div>
        <div><Users api={api} /><Rules store={store} api={api} /><Settings api={api} tenant={tenant} onTenant={onTenant} /><NotificationAdmin store={store} api={api} /></div>
      </div>
    </div>
  );
}

function Devices({ store, api }: { store: LiveStore; api: TenantApi }) {
  const [name, setName] = useState('');
  const [token, setToken] = useState<{ name: string; token: string; qr: string }>();
  const [error, note, run] = useAction();
  const show = async (device: Device, t: string) => setToken({ name: device.name, token: t, qr: await QRCode.toDataURL(t, { margin: 1, width: 220 }) });
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const r = await api.post<{ device: Device; token: string }>('/devices', { name: name.trim() });
      await show(r.device, r.token);
      setName('');
      await store.refreshDevices();
    }, 'Device created.');
  };
  return (
    <Section title="Devices">
      <form onSubmit={create} className="row">
        <label htmlFor="device-name" className="sr-only">New device name</label>
        <input id="device-name" required placeholder="New device name" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit">Create device</button>
      </form>
      <Feedback error={error} note={note} />
      {token && (
        <div className="card" aria-live="polite" data-testid="device-token">
          <h3>Enrol {token.name}</h3>
          <p>Scan the code with the member app (<a href="/app/">/app/</a>), or paste the token. It is shown only now.</p>
          <img src={token.qr} alt={`QR code of the device token of ${token.name}`} width={220} height={220} />
          <p className="token">{token.token}</p>
          <button type="button" className="secondary" onClick={() => void navigator.clipboard?.writeText(token.token)}>Copy token</button>
        </div>
      )}
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {[...store.devices.values()].slice(0, 500).map((d) => (
            <tr key={d.id}>
              <td>{d.name}</td><td className="muted">{d.id}</td>
              <td className="row">
                <button type="button" className="secondary" aria-label={`New token for ${d.name}`} onClick={() => void run(async () => show(d, (await api.post<{ token: string }>(`/devices/${d.id}/token`)).token), 'A new token replaces the old one.')}>New token</button>
                <button type="button" className="danger" aria-label={`Delete ${d.name}`} onClick={() => confirm(`Delete ${d.name}?`) && void run(async () => { await api.del(`/devices/${d.id}`); await store.refreshDevices(); }, 'Deleted.')}>Delete</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function Users({ api }: { api: TenantApi }) {
  const [users, setUsers] = useState<User[]>([]);
  const [form, setForm] = useState({ name: '', email: '', role: 'member', password: '' });
  const [error, note, run] = useAction();
  const reload = () => api.get<User[]>('/users').then(setUsers);
  useEffect(() => { void reload(); /* eslint-disable-line react-hooks/exhaustive-deps */ }, []);
  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => { await api.post('/users', { ...form, password: form.password || undefined }); setForm({ name: '', email: '', role: 'member', password: '' }); await reload(); }, 'User created.');
  };
  return (
    <Section title="Users">
      <form onSubmit={create}>
        <div className="row">
          <div><label htmlFor="user-name">Name</label><input id="user-name" required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></div>
          <div><label htmlFor="user-email">E-mail</label><input id="user-email" type="email" required value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} /></div>
        </div>
        <div className="row">
          <div><label htmlFor="user-role">Role</label><select id="user-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>{['member', 'operator', 'admin', 'owner'].map((r) => <option key={r}>{r}</option>)}</select></div>
          <div><label htmlFor="user-password">Password</label><input id="user-password" type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} /></div>
        </div>
        <button type="submit" style={{ marginTop: '.5rem' }}>Create user</button>
      </form>
      <Feedback error={error} note={note} />
      <table>
        <thead><tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
        <tbody>{users.slice(0, 500).map((u) => (
          <tr key={u.id}><td>{u.name}</td><td>{u.email}</td><td>{u.role}</td>
            <td><button type="button" className="danger" aria-label={`Delete ${u.name}`} onClick={() => confirm(`Delete ${u.name}?`) && void run(async () => { await api.del(`/users/${u.id}`); await reload(); }, 'Deleted.')}>Delete</button></td></tr>
        ))}</tbody>
      </table>
    </Section>
  );
}

function Groups({ store, api }: { store: LiveStore; api: TenantApi }) {
  const [name, setName] = useState('');
  const [member, setMember] = useState<Record<string, string>>({});
  const [error, note, run] = useAction();
  return (
    <Section title="Groups">
      <form className="row" onSubmit={(e) => { e.preventDefault(); void run(async () => { await api.post('/groups', { name: name.trim() }); setName(''); await store.refreshGroups(); }, 'Group created.'); }}>
        <label htmlFor="group-name" className="sr-only">New group name</label>
        <input id="group-name" required placeholder="New group name" value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit">Create group</button>
      </form>
      <Feedback error={error} note={note} />
      <ul className="list">{store.groups.map((g) => (
        <li key={g.id} style={{ padding: '.4rem 0' }}>
          <strong>{g.name}</strong> <span className="muted">{g.members.deviceIds.length} devices, {g.members.userIds.length} users</span>
          <div className="row">
            <label htmlFor={`add-${g.id}`} className="sr-only">Device to add to {g.name}</label>
            <select id={`add-${g.id}`} value={member[g.id] ?? ''} onChange={(e) => setMember({ ...member, [g.id]: e.target.value })}>
              <option value="">Add a device…</option>
              {[...store.devices.values()].filter((d) => !g.members.deviceIds.includes(d.id)).slice(0, 500).map((d) => <option key={d.id} value={d.id}>{d.name}</option>)}
            </select>
            <button type="button" className="secondary" disabled={!member[g.id]} onClick={() => void run(async () => { await api.post(`/groups/${g.id}/members`, { deviceIds: [member[g.id]] }); await store.refreshGroups(); }, 'Added.')}>Add</button>
            <button type="button" className="danger" aria-label={`Delete group ${g.name}`} onClick={() => confirm(`Delete ${g.name}?`) && void run(async () => { await api.del(`/groups/${g.id}`); await store.refreshGroups(); }, 'Deleted.')}>Delete</button>
          </div>
        </li>
      ))}</ul>
    </Section>
  );
}

function Rules({ store, api }: { store: LiveStore; api: TenantApi }) {
  const [rules, setRules] = useState<Rule[]>([]);
  const [form, setForm] = useState({ name: '', on: 'enter', fenceId: '', groupId: '', title: '{device} {event} {fence}', priority: 'high' });
  const [schedule, setSchedule] = useState(() => ({ ...quietDraft(null), from: '08:00', to: '18:00' }));
  const [error, note, run] = useAction();
  const reload = () => api.get<Rule[]>('/rules').then(setRules);
  useEffect(() => { void reload(); /* eslint-disable-line react-hooks/exhaustive-deps */ }, []);
  const fenceName = (id: string) => store.fences.find((f) => f.id === id)?.name ?? id;
  return (
    <Section title="Rules">
      <form onSubmit={(e) => { e.preventDefault(); void run(async () => { const window = quietWindow(schedule); await api.post('/rules', { name: form.name, on: form.on, fenceId: form.fenceId, target: { groupIds: [form.groupId] }, title: form.title, priority: form.priority, ...(window ? { schedule: window } : {}) }); await reload(); }, 'Rule created.'); }}>
        <div className="row">
          <div><label htmlFor="rule-name">Name</label><input id="rule-name" required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></div>
          <div><label htmlFor="rule-on">When someone</label><select id="rule-on" value={form.on} onChange={(e) => setForm({ ...form, on: e.target.value })}><option value="enter">enters</option><option value="exit">leaves</option></select></div>
          <div><label htmlFor="rule-fence">Fence</label><select id="rule-fence" required value={form.fenceId} onChange={(e) => setForm({ ...form, fenceId: e.target.value })}><option value="">Choose…</option>{store.fences.map((f) => <option key={f.id} value={f.id}>{f.name}</option>)}</select></div>
          <div><label htmlFor="rule-group">Alert group</label><select id="rule-group" required value={form.groupId} onChange={(e) => setForm({ ...form, groupId: e.target.value })}><option value="">Choose…</option>{store.groups.map((g) => <option key={g.id} value={g.id}>{g.name}</option>)}</select></div>
        </div>
        <label htmlFor="rule-title">Title ({'{device} {fence} {event} {time}'})</label>
        <input id="rule-title" required value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} style={{ width: '100%' }} />
        <QuietHoursFields label="Schedule" toggle="Only at these times (otherwise always)" value={schedule} onChange={setSchedule} />
        <button type="submit" style={{ marginTop: '.5rem' }} disabled={schedule.on && !validZone(schedule.timeZone)}>Create rule</button>
      </form>
      <Feedback error={error} note={note} />
      <ul className="list">{rules.map((r) => (
        <li key={r.id} className="row" style={{ padding: '.3rem 0' }}>
          <span style={{ flex: 1 }}><strong>{r.name}</strong>: on {r.on} of {fenceName(r.fenceId)} → “{r.title}” ({r.priority}){r.schedule ? `, ${r.schedule.days?.join(' ') ?? 'every day'} ${r.schedule.from}–${r.schedule.to} ${r.schedule.timeZone ?? 'UTC'}` : ''}</span>
          <button type="button" className="danger" aria-label={`Delete rule ${r.name}`} onClick={() => void run(async () => { await api.del(`/rules/${r.id}`); await reload(); }, 'Deleted.')}>Delete</button>
        </li>
      ))}</ul>
    </Section>
  );
}

function Settings({ api, tenant, onTenant }: { api: TenantApi; tenant: Tenant; onTenant: (t: Tenant) => void }) {
  const [settings, setSettings] = useState<TrackingSettings>();
  const [error, note, run] = useAction();
  useEffect(() => { void api.get<TrackingSettings>('/settings/tracking').then(setSettings); }, [api]);
  if (!settings) return null;
  return (
    <Section title="Tracking settings">
      <form onSubmit={(e) => { e.preventDefault(); void run(async () => setSettings(await api.patch<TrackingSettings>('/settings/tracking', settings)), 'Saved.'); }}>
        <div className="row">
          {Object.entries(settings).map(([k, v]) => (
            <div key={k}><label htmlFor={`setting-${k}`}>{k}</label><input id={`setting-${k}`} type="number" value={v} onChange={(e) => setSettings({ ...settings, [k]: Number(e.target.value) })} style={{ width: '9rem' }} /></div>
          ))}
        </div>
        <button type="submit" style={{ marginTop: '.5rem' }}>Save settings</button>
      </form>
      <Feedback error={error} note={note} />
      <TimeZone api={api} tenant={tenant} onTenant={onTenant} />
      <Visibility api={api} />
    </Section>
  );
}

/** The tenant's time zone: the Control Center shows times in it, and new schedules, quiet hours and working hours start from it. */
function TimeZone({ api, tenant, onTenant }: { api: TenantApi; tenant: Tenant; onTenant: (t: Tenant) => void }) {
  const [zone, setZone] = useState(tenant.timeZone ?? '');
  const [error, note, run] = useAction();
  const ok = zone.trim() === '' || validZone(zone.trim());
  return (
    <form style={{ marginTop: '1rem' }} aria-label="Time zone" onSubmit={(e) => { e.preventDefault(); void run(async () => onTenant(await api.patch<Tenant>('', { timeZone: zone.trim() || null })), 'Saved.'); }}>
      <label htmlFor="tenant-zone">Time zone of the organisation (IANA, e.g. Europe/Berlin)</label>
      <div className="row">
        <input id="tenant-zone" type="text" value={zone} placeholder={`not set: this browser's (${Intl.DateTimeFormat().resolvedOptions().timeZone})`} onChange={(e) => setZone(e.target.value)} aria-invalid={!ok} aria-describedby="tenant-zone-help" style={{ minWidth: '16rem' }} />
        <button type="submit" disabled={!ok}>Save time zone</button>
      </div>
      <p id="tenant-zone-help" className="muted">{ok ? `Times are shown in ${displayZone()}; new schedules, quiet hours and working hours start from it.` : 'Not a time zone this browser knows.'}</p>
      <Feedback error={error} note={note} />
    </form>
  );
}

const ISO_DAYS: Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** The operator visibility policy (docs/follow-me.md) and the working hours it may use. */
function Visibility({ api }: { api: TenantApi }) {
  const [policy, setPolicy] = useState<VisibilityPolicy>();
  const [hours, setHours] = useState<{ days: Day[]; from: string; to: string; timeZone: string }>();
  const [error, note, run] = useAction();
  const loaded = (p: VisibilityPolicy) => {
    setPolicy(p);
    setHours({ days: p.workingHours.days.map((d) => ISO_DAYS[d - 1]!), from: p.workingHours.from, to: p.workingHours.to, timeZone: p.workingHours.timeZone });
  };
  useEffect(() => { void api.get<VisibilityPolicy>('/settings/visibility').then(loaded); }, [api]);
  if (!policy || !hours) return null;
  const save = (operatorVisibility: string) => void run(async () => loaded(await api.patch<VisibilityPolicy>('/settings/visibility', { operatorVisibility })), 'Saved.');
  const saveHours = (e: FormEvent) => {
    e.preventDefault();
    const days = DAYS.filter((d) => hours.days.includes(d)).map((d) => ISO_DAYS.indexOf(d) + 1);
    void run(async () => loaded(await api.patch<VisibilityPolicy>('/settings/visibility', { workingHours: { days, from: hours.from, to: hours.to, timeZone: hours.timeZone.trim() } })), 'Working hours saved.');
  };
  const h = policy.workingHours;
  return (
    <div style={{ marginTop: '1rem' }}>
      <label htmlFor="setting-operatorVisibility">Operators see people's positions</label>
      <select id="setting-operatorVisibility" value={policy.operatorVisibility} onChange={(e) => save(e.target.value)}>
        <option value="always">always</option>
        <option value="working-hours">{`only in working hours (${h.from}–${h.to} ${h.timeZone})`}</option>
        <option value="while-sharing">only while the person shares with them</option>
      </select>
      <form aria-label="Working hours" onSubmit={saveHours}>
        <WindowFields label="Working hours" days={hours.days} from={hours.from} to={hours.to} onChange={(w) => setHours({ ...hours, ...w })} />
        <ZoneField id="working-hours-zone" value={hours.timeZone} onChange={(timeZone) => setHours({ ...hours, timeZone })} />
        {hours.timeZone !== displayZone() && <p className="muted"><button type="button" className="secondary" onClick={() => setHours({ ...hours, timeZone: displayZone() })}>Use the organisation&apos;s zone ({displayZone()})</button></p>}
        <button type="submit" style={{ marginTop: '.5rem' }} disabled={hours.days.length === 0 || !validZone(hours.timeZone)}>Save working hours</button>
      </form>
      <Feedback error={error} note={note} />
    </div>
  );
}
