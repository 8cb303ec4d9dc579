/** Follow me: share my location with people or groups or by link, stop sharing, see who shares with me. */
import { lazy, Suspense, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError, type Session, type TenantApi } from '../lib/api';
import { ago, time } from '../lib/format';
import type { Directory, Position } from '../lib/types';
import { nameIn, Picker, type PickerSection } from '../lib/Picker';

const FollowingMap = lazy(() => import('./FollowingMap'));

interface Share { id: string; followers: { userIds: string[]; groupIds: string[] }; expiresAt: number | null }
interface ShareLink { id: string; expiresAt: number }
export interface Followed { shareId: string; userId: string; name: string; expiresAt: number | null; positions: Position[] }

export function FollowMe({ api, session, onLogout }: { api: TenantApi; session: Session; onLogout: () => void }) {
  const [shares, setShares] = useState<{ shares: Share[]; links: ShareLink[] }>({ shares: [], links: [] });
  const [directory, setDirectory] = useState<Directory>({ people: [], groups: [] });
  const [following, setFollowing] = useState<Followed[]>([]);
  const [chosen, setChosen] = useState<string[]>([]);
  const [minutes, setMinutes] = useState('60');
  const [link, setLink] = useState('');
  const [error, setError] = useState('');
  const reload = async () => {
    const [s, f, d] = await Promise.all([api.get<{ shares: Share[]; links: ShareLink[] }>('/me/shares'), api.get<Followed[]>('/me/following'), api.get<Directory>('/me/directory')]);
    setShares(s);
    setFollowing(f);
    setDirectory(d);
  };
  useEffect(() => { reload().catch((err: Error & { status?: number }) => (err.status === 401 ? onLogout() : setError(err.message))); /* eslint-disable-line react-hooks/exhaustive-deps */ }, [api]);

  // Live positions of the people who share with me. The stream carries only their devices' positions;
  // one from a device not on the list yet (a first position, a new share) loads the list again, and so
  // does a reconnect, for what the stream missed. A late upload (an older fix) moves nobody back.
  const followingNow = useRef(following);
  followingNow.current = following;
  useEffect(() => {
    const source = new EventSource(api.url('/me/following/live'));
    let hellos = 0;
    let loading = false;
    const load = () => {
      if (loading) return;
      loading = true;
      void api.get<Followed[]>('/me/following').then(setFollowing, () => undefined).finally(() => (loading = false));
    };
    source.addEventListener('hello', () => {
      if (hellos++ > 0) load();
    });
    source.addEventListener('position', (e) => {
      const p = JSON.parse((e as MessageEvent<string>).data) as Position;
      if (p.late) return;
      if (!followingNow.current.some((f) => f.positions.some((q) => q.deviceId === p.deviceId))) return load();
      setFollowing((list) => list.map((f) => (f.positions.some((q) => q.deviceId === p.deviceId) ? { ...f, positions: f.positions.map((q) => (q.deviceId === p.deviceId && q.time <= p.time ? p : q)) } : f)));
    });
    return () => source.close();
  }, [api]);

  const run = async (what: () => Promise<unknown>) => {
    setError('');
    try { await what(); await reload(); } catch (err) { setError(err instanceof ApiError ? err.message : String(err)); }
  };
  const share = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await api.post('/me/shares', { userIds: chosen.filter((i) => i.startsWith('usr_')), groupIds: chosen.filter((i) => i.startsWith('grp_')), minutes: minutes ? Number(minutes) : undefined });
      setChosen([]);
    });
  };
  const sections: PickerSection[] = [{ title: 'Groups', kind: 'group', items: directory.groups }, { title: 'People', kind: 'person', items: directory.people }];
  const createLink = () => void run(async () => {
    const l = await api.post<Share & { url: string }>('/me/share-links', { minutes: Number(minutes) || 60 });
    setLink(new URL(l.url, location.href).href);
  });

  return (
    <div className="stack">
      <p className="muted">Logged in as {session.user.email}. <button type="button" className="secondary" onClick={onLogout}>Log out</button></p>
      <form onSubmit={share}>
        <Picker legend="Share with" sections={sections} chosen={chosen} onChange={setChosen} exclude={session.user.id} />
        <label htmlFor="share-minutes">For how many minutes (empty: until I stop)</label>
        <input id="share-minutes" type="number" min="1" value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        <div className="row" style={{ marginTop: '.5rem' }}>
          <button type="submit" disabled={chosen.length === 0}>Start sharing</button>
          <button type="button" className="secondary" onClick={createLink}>Create a share link</button>
        </div>
      </form>
      {link && <p>Share link (shown once): <a href={link}>{link}</a></p>}
      {error && <p role="alert" className="error">{error}</p>}
      <h3>Who can follow me</h3>
      {shares.shares.length + shares.links.length === 0 ? <p className="muted">Nobody: you share with no one.</p> : (
        <ul className="list" aria-label="My shares">{[...shares.shares.map((x) => ({ id: x.id, who: [...x.followers.userIds, ...x.followers.groupIds].map((x) => nameIn(sections, x)).join(', '), expiresAt: x.expiresAt })), ...shares.links.map((l) => ({ id: l.id, who: 'Share link', expiresAt: l.expiresAt as number | null }))].map((x) => (
          <li key={x.id} className="row" style={{ padding: '.3rem 0' }}>
            <span style={{ flex: 1 }}>{x.who} · {x.expiresAt ? `until ${time(x.expiresAt)}` : 'until stopped'}</span>
            <button type="button" className="danger" aria-label={`Stop sharing with ${x.who}`} onClick={() => void run(() => api.del(`/me/shares/${x.id}`))}>Stop</button>
          </li>
        ))}</ul>
      )}
      <h3>Who shares with me</h3>
      {following.length === 0 ? <p className="muted">Nobody shares with you now.</p> : (
        <>
          <ul className="list">{following.map((f) => {
            const newest = f.positions.reduce<Position | undefined>((b, p) => (!b || p.time > b.time ? p : b), undefined);
            return <li key={f.shareId}>{f.name}: {newest ? `seen ${ago(newest.time)}` : 'no position yet'}</li>;
          })}</ul>
          <Suspense fallback={<p className="muted">Loading the map…</p>}><FollowingMap people={following} /></Suspense>
        </>
      )}
    </div>
  );
}
