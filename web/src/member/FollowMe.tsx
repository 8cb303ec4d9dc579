/** Follow me: share my location with people or groups or by link, stop sharing, see who shares with me. */
import { lazy, Suspense, useEffect, useState, type FormEvent } from 'react';
import { ApiError, type Session, type TenantApi } from '../lib/api';
import { ago, time } from '../lib/format';
import type { Position } from '../lib/types';

const FollowingMap = lazy(() => import('./FollowingMap'));

interface Share { id: string; followers?: { userIds: string[]; groupIds: string[] }; expiresAt: number | null; url?: string }
export interface Followed { shareId: string; userId: string; name: string; expiresAt: number | null; positions: Position[] }

export function FollowMe({ api, session, onLogout }: { api: TenantApi; session: Session; onLogout: () => void }) {
  const [shares, setShares] = useState<Share[]>([]);
  const [following, setFollowing] = useState<Followed[]>([]);
  const [who, setWho] = useState('');
  const [minutes, setMinutes] = useState('60');
  const [link, setLink] = useState('');
  const [error, setError] = useState('');
  const reload = async () => {
    const [s, f] = await Promise.all([api.get<Share[]>('/me/shares'), api.get<Followed[]>('/me/following')]);
    setShares(s);
    setFollowing(f);
  };
  useEffect(() => { reload().catch((err: Error & { status?: number }) => (err.status === 401 ? onLogout() : setError(err.message))); /* eslint-disable-line react-hooks/exhaustive-deps */ }, [api]);

  // Live positions of the people who share with me.
  useEffect(() => {
    const source = new EventSource(api.url('/me/following/live'));
    source.addEventListener('position', (e) => {
      const p = JSON.parse((e as MessageEvent<string>).data) as Position;
      setFollowing((list) => list.map((f) => (f.positions.some((q) => q.deviceId === p.deviceId) ? { ...f, positions: f.positions.map((q) => (q.deviceId === p.deviceId ? p : q)) } : f)));
    });
    return () => source.close();
  }, [api]);

  const run = async (what: () => Promise<unknown>) => {
    setError('');
    try { await what(); await reload(); } catch (err) { setError(err instanceof ApiError ? err.message : String(err)); }
  };
  const share = (e: FormEvent) => {
    e.preventDefault();
    const ids = who.split(/[\s,]+/).filter(Boolean);
    void run(() => api.post('/me/shares', { userIds: ids.filter((i) => i.startsWith('usr_')), groupIds: ids.filter((i) => i.startsWith('grp_')), minutes: minutes ? Number(minutes) : undefined }));
  };
  const createLink = () => void run(async () => {
    const l = await api.post<Share & { url: string }>('/me/share-links', { minutes: Number(minutes) || 60 });
    setLink(new URL(l.url, location.href).href);
  });

  return (
    <div className="stack">
      <p className="muted">Logged in as {session.user.email}. <button type="button" className="secondary" onClick={onLogout}>Log out</button></p>
      <form onSubmit={share}>
        <label htmlFor="share-who">Share with (user ids usr_… or group ids grp_…, separated by commas)</label>
        <input id="share-who" type="text" value={who} onChange={(e) => setWho(e.target.value)} />
        <label htmlFor="share-minutes">For how many minutes (empty: until I stop)</label>
        <input id="share-minutes" type="number" min="1" value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        <div className="row" style={{ marginTop: '.5rem' }}>
          <button type="submit" disabled={!who.trim()}>Start sharing</button>
          <button type="button" className="secondary" onClick={createLink}>Create a share link</button>
        </div>
      </form>
      {link && <p>Share link (shown once): <a href={link}>{link}</a></p>}
      {error && <p role="alert" className="error">{error}</p>}
      <h3>Who can follow me</h3>
      {shares.length === 0 ? <p className="muted">Nobody: you share with no one.</p> : (
        <ul className="list">{shares.map((s) => (
          <li key={s.id} className="row" style={{ padding: '.3rem 0' }}>
            <span style={{ flex: 1 }}>{s.followers ? `${[...s.followers.userIds, ...s.followers.groupIds].join(', ')}` : 'Share link'} · {s.expiresAt ? `until ${time(s.expiresAt)}` : 'until stopped'}</span>
            <button type="button" className="danger" onClick={() => void run(() => api.del(`/me/shares/${s.id}`))}>Stop</button>
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
