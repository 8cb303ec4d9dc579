/** Open SOS alarms, on every screen until an operator resolves them: who, when, where, and which responder acknowledged. */
import { useState } from 'react';
import { ApiError, type TenantApi } from '../lib/api';
import { time } from '../lib/format';
import type { SosAlarm } from '../lib/types';
import type { LiveStore } from './live';

export function SosAlarms({ store, api }: { store: LiveStore; api: TenantApi }) {
  if (store.sosAlarms.length === 0) return null;
  return (
    <section className="sos-alarms" aria-labelledby="sos-alarms-title" data-testid="sos-alarms">
      <h2 id="sos-alarms-title">Open SOS alarms ({store.sosAlarms.length})</h2>
      <ul className="list" aria-live="assertive">
        {store.sosAlarms.map((a) => <Alarm key={a.id} alarm={a} store={store} api={api} />)}
      </ul>
    </section>
  );
}

function Alarm({ alarm: a, store, api }: { alarm: SosAlarm; store: LiveStore; api: TenantApi }) {
  const [resolving, setResolving] = useState(false);
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const who = a.personName ? `${a.personName} (${a.deviceName})` : a.deviceName;
  const resolve = async () => {
    setError('');
    try {
      store.updateSosAlarm(await api.post<SosAlarm>(`/sos-alarms/${a.id}/resolve`, note.trim() ? { resolution: note.trim() } : {}));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  const pending = a.responders.filter((r) => r.state !== 'acknowledged').length;
  return (
    <li className="sos-alarm" aria-label={`SOS from ${who}`}>
      <div className="row">
        <span className="badge sos">SOS</span>
        <strong>{who}</strong>
        <span>raised <time dateTime={new Date(a.raisedAt).toISOString()}>{time(a.raisedAt)}</time></span>
        {a.text && <q>{a.text}</q>}
        <span className="spacer" />
        {a.position && <a href={`#/live?tab=events&sos=${encodeURIComponent(a.id)}`}>Show on map</a>}
        {!resolving && <button type="button" onClick={() => setResolving(true)}>Resolve…</button>}
      </div>
      <p className="muted" data-testid="sos-ack">
        {a.acknowledgedBy
          ? <>Acknowledged by <strong>{a.acknowledgedBy.name}</strong> at {time(a.acknowledgedAt)}{pending ? `; ${pending} other responder${pending === 1 ? '' : 's'} not yet` : ''}.</>
          : a.responders.length
            ? `Not acknowledged yet: alerted ${a.responders.map((r) => r.name).join(', ')}.`
            : 'Nobody was alerted: no SOS responders are set (Administration, notification settings).'}
        {!a.position && ' Sent without a position.'}
      </p>
      {resolving && (
        <div className="row">
          <label className="inline" htmlFor={`resolve-${a.id}`}>Note (optional)</label>
          <input id={`resolve-${a.id}`} type="text" maxLength={1000} value={note} onChange={(e) => setNote(e.target.value)} />
          <button type="button" onClick={() => void resolve()}>Mark resolved</button>
          <button type="button" className="secondary" onClick={() => setResolving(false)}>Cancel</button>
        </div>
      )}
      {error && <p role="alert" className="error">{error}</p>}
    </li>
  );
}
