/** The member app: enrol a device, share location while open, messages and polls, follow me. */
import { lazy, Suspense, useEffect, useMemo, useReducer, useRef, useState, type FormEvent } from 'react';
import { loadSession, saveSession, tenantApi, type Session } from '../lib/api';
import { ago } from '../lib/format';
import { Login } from '../control/Login';
import { DeviceConnection, type InboxMessage } from './protocol';
import { FollowMe } from './FollowMe';
import { PushSetup } from './push';
import { SosPanel } from './Sos';
import { MyQuietHours } from './QuietHours';

const QrScanner = lazy(() => import('./QrScanner'));
const TOKEN_KEY = 'followme.device-token';

/** The message a notification was opened for: from /app/?message=<id> (a new window) or the service worker's postMessage (an open app). */
interface Opened { messageId: string; title?: string; body?: string; priority?: string }

function useOpenedMessage(): Opened | undefined {
  const [opened, setOpened] = useState<Opened | undefined>(() => {
    const id = new URLSearchParams(location.search).get('message');
    return id ? { messageId: id } : undefined;
  });
  useEffect(() => {
    if (!('serviceWorker' in navigator)) return;
    const on = (e: MessageEvent<{ type?: string } & Opened>) => { if (e.data?.type === 'followme:open-message' && e.data.messageId) setOpened({ messageId: e.data.messageId, title: e.data.title, body: e.data.body, priority: e.data.priority }); };
    navigator.serviceWorker.addEventListener('message', on);
    return () => navigator.serviceWorker.removeEventListener('message', on);
  }, []);
  return opened;
}

export function MemberApp() {
  const [token, setToken] = useState(() => localStorage.getItem(TOKEN_KEY) ?? '');
  const [session, setSession] = useState<Session | undefined>(() => loadSession('followme.member'));
  const opened = useOpenedMessage();
  return (
    <div className="member">
      <header><img src="/app/icon.svg" alt="" /><h1>Follow Me</h1>{session && <span className="muted">{session.user.name}</span>}</header>
      <main>
        {token ? <Device token={token} session={session} opened={opened} onForget={() => { localStorage.removeItem(TOKEN_KEY); localStorage.removeItem('followme.inbox'); setToken(''); }} /> : <Enrol onToken={(t) => { localStorage.setItem(TOKEN_KEY, t); setToken(t); }} />}
        <section className="card" aria-labelledby="follow-title">
          <h2 id="follow-title">Follow me</h2>
          {session
            ? <FollowMe api={tenantApi(session)} session={session} onLogout={() => { saveSession(undefined, 'followme.member'); setSession(undefined); }} />
            : <Login embedded title="Log in with your e-mail and password to share your location with people and see who shares with you." onLogin={(s) => { saveSession(s, 'followme.member'); setSession(s); }} />}
        </section>
        {session && (
          <section className="card" aria-labelledby="quiet-title">
            <h2 id="quiet-title">Quiet hours</h2>
            <MyQuietHours api={tenantApi(session)} session={session} />
          </section>
        )}
      </main>
    </div>
  );
}

function Enrol({ onToken }: { onToken: (t: string) => void }) {
  const [value, setValue] = useState('');
  const [scanning, setScanning] = useState(false);
  const submit = (e: FormEvent) => { e.preventDefault(); if (value.trim()) onToken(value.trim()); };
  return (
    <section className="card" aria-labelledby="enrol-title">
      <h2 id="enrol-title">Enrol this phone</h2>
      <p>Your organisation gives you a device token, as text or as a QR code. While this app is open and sharing is on, it reports where you are to your organisation.</p>
      <form onSubmit={submit}>
        <label htmlFor="enrol-token">Device token</label>
        <input id="enrol-token" type="text" autoComplete="off" spellCheck={false} value={value} onChange={(e) => setValue(e.target.value)} placeholder="fmd_…" required />
        <div className="row" style={{ marginTop: '.6rem' }}>
          <button type="submit" className="big">Enrol</button>
          {'BarcodeDetector' in window && <button type="button" className="secondary big" onClick={() => setScanning(true)}>Scan QR code</button>}
        </div>
      </form>
      {scanning && <Suspense fallback={<p>Starting the camera…</p>}><QrScanner onCode={(t) => { setScanning(false); onToken(t); }} onCancel={() => setScanning(false)} /></Suspense>}
    </section>
  );
}

function Device({ token, session, opened, onForget }: { token: string; session: Session | undefined; opened: Opened | undefined; onForget: () => void }) {
  const connection = useMemo(() => new DeviceConnection(token), [token]);
  const [, render] = useReducer((n: number) => n + 1, 0);
  const [sharing, setSharing] = useState(() => localStorage.getItem('followme.sharing') === 'on');
  const [geoError, setGeoError] = useState('');
  const [lastFix, setLastFix] = useState<number>();
  const watch = useRef<number | undefined>(undefined);

  useEffect(() => {
    connection.onChange = render;
    connection.connect();
    return () => connection.close();
  }, [connection]);

  useEffect(() => {
    localStorage.setItem('followme.sharing', sharing ? 'on' : 'off');
    if (!sharing) return;
    if (!('geolocation' in navigator)) { setGeoError('This browser cannot tell where you are.'); return; }
    watch.current = navigator.geolocation.watchPosition(
      (p) => {
        setGeoError('');
        setLastFix(p.timestamp);
        const c = p.coords;
        connection.position({ time: Math.round(p.timestamp), lon: c.longitude, lat: c.latitude, accuracy: c.accuracy, ...(c.speed != null && !Number.isNaN(c.speed) ? { speed: c.speed } : {}), ...(c.heading != null && !Number.isNaN(c.heading) ? { heading: c.heading } : {}), ...(c.altitude != null ? { altitude: c.altitude } : {}) });
      },
      (err) => setGeoError(err.code === err.PERMISSION_DENIED ? 'Location permission was denied: allow it in the browser to share.' : `No location: ${err.message}`),
      { enableHighAccuracy: true, maximumAge: 5000 },
    );
    return () => { if (watch.current !== undefined) navigator.geolocation.clearWatch(watch.current); };
  }, [sharing, connection]);

  // Messages on screen count as read.
  useEffect(() => {
    for (const m of connection.inbox) if (m.state === 'delivered' && document.visibilityState === 'visible') connection.receipt(m.deliveryId, 'read');
  });

  // A message opened from a notification: scrolled to and focused once it is in the inbox.
  const openedInInbox = opened ? connection.inbox.find((m) => m.messageId === opened.messageId) : undefined;
  useEffect(() => {
    if (openedInInbox) document.getElementById(`msg-${openedInInbox.deliveryId}`)?.focus();
  }, [openedInInbox, opened]);

  const s = connection.state;
  const inbox = [...connection.inbox].sort((a, b) => (a.priority === 'critical' ? -1 : 0) - (b.priority === 'critical' ? -1 : 0) || b.sentAt - a.sentAt);
  return (
    <>
      <SosPanel connection={connection} />
      <section className="card" aria-labelledby="device-title">
        <h2 id="device-title">This phone</h2>
        <p role="status" data-testid="connection">{s.status === 'online' ? 'Connected.' : s.status === 'connecting' ? 'Connecting…' : s.status === 'refused' ? `Not connected: ${s.detail}` : `Offline${s.detail ? `: ${s.detail}` : ''}; retrying.`}</p>
        <button type="button" className="big" aria-pressed={sharing} onClick={() => setSharing(!sharing)}>{sharing ? 'Sharing my location (tap to stop)' : 'Share my location'}</button>
        {sharing && <p className="muted">Last position {ago(lastFix)}; next report in about {s.interval} s (advised by the server).</p>}
        {geoError && <p role="alert" className="error">{geoError}</p>}
        <PushSetup session={session} />
        <p><button type="button" className="secondary" onClick={() => confirm('Forget this device token and its messages?') && onForget()}>Unenrol this phone</button></p>
      </section>
      <section className="card" aria-labelledby="inbox-title">
        <h2 id="inbox-title">Messages</h2>
        {opened && !openedInInbox && (
          <div className="card msg" data-testid="opened-message" role="status">
            <p className="muted">Opened from a notification{opened.title ? '' : '; the message appears here once this phone has received it.'}</p>
            {opened.title && <p><strong>{opened.title}</strong></p>}
            {opened.body && <p>{opened.body}</p>}
          </div>
        )}
        {inbox.length === 0 && <p className="muted">No messages.</p>}
        <ul className="list" aria-live="polite" data-testid="inbox">
          {inbox.map((m) => <MessageCard key={m.deliveryId} m={m} opened={m === openedInInbox} onAnswer={(response) => connection.receipt(m.deliveryId, 'acknowledged', response)} />)}
        </ul>
      </section>
    </>
  );
}

function MessageCard({ m, opened, onAnswer }: { m: InboxMessage; opened: boolean; onAnswer: (response?: string) => void }) {
  const expired = m.expiresAt !== undefined && m.expiresAt < Date.now();
  return (
    <li id={`msg-${m.deliveryId}`} tabIndex={-1} className={`card msg ${m.priority}${opened ? ' opened' : ''}`} aria-label={`${m.priority} message: ${m.title}`} aria-current={opened ? 'true' : undefined} data-message-id={m.messageId}><div role={m.priority === 'critical' ? 'alert' : undefined}>
      <div className="row"><span className={`badge ${m.priority}`}>{m.priority}</span><strong style={{ flex: 1 }}>{m.title}</strong><time className="muted">{new Date(m.sentAt).toLocaleTimeString()}</time></div>
      {m.body && <p>{m.body}</p>}
      {m.state === 'acknowledged'
        ? <p className="muted">{m.response ? `You answered: ${m.response}` : 'Acknowledged.'}</p>
        : expired ? <p className="muted">Expired.</p>
          : m.options?.length ? <div className="options" role="group" aria-label="Answer">{m.options.map((o) => <button key={o} type="button" className="big" onClick={() => onAnswer(o)}>{o}</button>)}</div>
            : m.ackRequired ? <div className="options"><button type="button" className="big" onClick={() => onAnswer()}>Acknowledge</button></div> : null}
    </div></li>
  );
}
