import { lazy, Suspense, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { applyBranding, loadBranding, loadSession, loadWebConfig, saveSession, tenantApi, type Branding, type Session } from '../lib/api';
import { displayZone, setDisplayZone } from '../lib/format';
import type { Tenant } from '../lib/types';
import { Login } from './Login';
import { LiveStore } from './live';
import { MessagesScreen } from './MessagesScreen';
import { SosAlarms } from './SosAlarms';

// The map screens carry MapLibre: they load only when opened, so the login and first paint stay small.
const LiveScreen = lazy(() => import('./LiveScreen'));
const HistoryScreen = lazy(() => import('./HistoryScreen'));
// Administration (with the QR code maker) is for admins only: it loads when opened.
const AdminScreen = lazy(() => import('./AdminScreen').then((m) => ({ default: m.AdminScreen })));
const WebhooksScreen = lazy(() => import('./WebhooksScreen').then((m) => ({ default: m.WebhooksScreen })));

type Route = { screen: 'live' | 'messages' | 'history' | 'admin' | 'webhooks'; id?: string; params: URLSearchParams };

function parseRoute(): Route {
  const [path = '', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [screen, id] = path.split('/');
  const params = new URLSearchParams(query);
  if (screen === 'messages' || screen === 'history' || screen === 'admin' || screen === 'webhooks') return { screen, id, params };
  return { screen: 'live', id, params };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute);
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const navigate = (hash: string) => { location.hash = hash; };

export function App() {
  const [session, setSession] = useState<Session | undefined>(() => loadSession());
  const [brand, setBrand] = useState<{ tenant: { slug: string; name: string } | null; branding: Branding }>();
  // The tenant's name, logo and colours: by the host before login (custom domains), by the tenant after.
  useEffect(() => { void loadBranding(session).then((b) => { applyBranding(b?.branding); setBrand(b); }); }, [session]);
  if (!session) {
    return <Login key={brand?.tenant?.slug ?? ''} logoUrl={brand?.branding.logoUrl ?? undefined} title={brand?.tenant ? `${brand.tenant.name} · ${brand.branding.productName}` : `${brand?.branding.productName ?? 'Follow Me'} Control Center`} defaultTenant={brand?.tenant?.slug ?? ''} onLogin={(s) => { saveSession(s); setSession(s); }} />;
  }
  return <Shell session={session} onLogout={() => { saveSession(undefined); setSession(undefined); }} />;
}

function Shell({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const api = useMemo(() => tenantApi(session), [session]);
  const store = useMemo(() => new LiveStore(api), [api]);
  const [error, setError] = useState('');
  const [mapStyleUrl, setMapStyleUrl] = useState<string | null | undefined>(undefined);
  const route = useRoute();
  // The tenant as the server has it now (its time zone may have changed since the login); every time shown uses its zone.
  const [tenant, setTenant] = useState<Tenant>(session.tenant);
  setDisplayZone(tenant.timeZone);
  useEffect(() => { api.get<Tenant>('').then(setTenant, (err: unknown) => console.warn('could not refresh the tenant', err)); }, [api]);
  const tenantChanged = (t: Tenant) => { setTenant(t); saveSession({ ...session, tenant: t }); };
  useSyncExternalStore(store.subscribe, store.getVersion);
  // The latest onLogout, read when needed: App passes a new function on every render (the branding
  // arriving re-renders it), and with onLogout among the effect's dependencies every such render
  // closed the store and loaded every device, position and status again (twice at each start).
  const logout = useRef(onLogout);
  useEffect(() => { logout.current = onLogout; }, [onLogout]);
  useEffect(() => {
    let current = true;
    void loadWebConfig().then((c) => setMapStyleUrl(c.mapStyleUrl));
    // the stream first, then the lists: what happens in between comes on the stream
    store.connect();
    store.load().then(() => undefined, (err: Error & { status?: number }) => {
      if (!current) return;
      if (err.status === 401) logout.current();
      else setError(err.message);
    });
    return () => { current = false; store.close(); };
  }, [store]);
  useEffect(() => { document.title = `${session.tenant.name} · Follow Me`; }, [session]);
  const isAdmin = session.user.role === 'admin' || session.user.role === 'owner';
  const link = (screen: Route['screen'], label: string) => <a href={`#/${screen}`} aria-current={route.screen === screen ? 'page' : undefined}>{label}</a>;
  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="app-header">
        <h1>{session.tenant.name}</h1>
        <nav aria-label="Screens">
          {link('live', 'Live map')}
          {link('messages', 'Messages')}
          {link('history', 'History')}
          {isAdmin && link('admin', 'Administration')}
          {isAdmin && link('webhooks', 'Webhooks')}
        </nav>
        <span className="spacer" />
        <span role="status" aria-live="polite"><span className={`live-dot ${store.connected ? '' : 'off'}`} aria-hidden="true" />{store.connected ? 'Live' : 'Connecting…'}</span>
        <span className="zone" title="Times are shown in this time zone (Administration, Settings)">{displayZone()}</span>
        <span>{session.user.name} ({session.user.role})</span>
        <button type="button" className="secondary" onClick={onLogout}>Log out</button>
      </header>
      {error && <p role="alert" className="error">{error}</p>}
      <SosAlarms store={store} api={api} />
      <div id="main" tabIndex={-1}>
        <Suspense fallback={<p className="muted" style={{ padding: '1rem' }}>Loading…</p>}>
          {mapStyleUrl !== undefined && route.screen === 'live' && <LiveScreen store={store} api={api} mapStyleUrl={mapStyleUrl} params={route.params} />}
          {route.screen === 'messages' && <MessagesScreen store={store} api={api} messageId={route.id} />}
          {mapStyleUrl !== undefined && route.screen === 'history' && <HistoryScreen store={store} api={api} mapStyleUrl={mapStyleUrl} params={route.params} />}
          {route.screen === 'admin' && <AdminScreen store={store} api={api} session={session} tenant={tenant} onTenant={tenantChanged} />}
          {route.screen === 'webhooks' && <WebhooksScreen store={store} api={api} />}
        </Suspense>
      </div>
    </>
  );
}
