/** A member's own quiet hours (PUT …/users/{me}/quiet-hours, which a member may call for themselves): rule alerts below critical leave them out meanwhile. */
import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, type Session, type TenantApi } from '../lib/api';
import { browserZone } from '../lib/format';
import type { TimeWindow } from '../lib/types';
import { QuietHoursFields, quietDraft, quietWindow, validZone, type QuietDraft } from '../control/WindowFields';

export function MyQuietHours({ api, session }: { api: TenantApi; session: Session }) {
  // New quiet hours start in the organisation's zone when it has one, else this phone's.
  const zone = session.tenant.timeZone ?? browserZone();
  const [draft, setDraft] = useState<QuietDraft>();
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    api.get<{ quietHours: TimeWindow | null }>(`/users/${session.user.id}/notification-profile`).then((p) => setDraft(quietDraft(p.quietHours, zone)), (err: Error) => setError(err.message));
  }, [api, session.user.id, zone]);
  if (!draft) return error ? <p role="alert" className="error">{error}</p> : null;
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    try {
      const saved = await api.put<{ quietHours: TimeWindow | null }>(`/users/${session.user.id}/quiet-hours`, { quietHours: quietWindow(draft) });
      setDraft(quietDraft(saved.quietHours, zone));
      setStatus(saved.quietHours ? `Saved: quiet ${saved.quietHours.from}–${saved.quietHours.to} (${saved.quietHours.timeZone ?? 'UTC'}).` : 'Saved: no quiet hours.');
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <form onSubmit={(e) => void save(e)} aria-label="My quiet hours">
      <QuietHoursFields label="My quiet hours" value={draft} onChange={setDraft} toggle="Quiet hours on (alerts below critical do not reach me meanwhile)" zone={zone} />
      <button type="submit" className="big" disabled={draft.on && !validZone(draft.timeZone)}>Save my quiet hours</button>
      <p role="status" className="muted">{status}</p>
      {error && <p role="alert" className="error">{error}</p>}
    </form>
  );
}
