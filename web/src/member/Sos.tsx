/** The SOS control: two deliberate steps (open, then confirm) so a pocket tap sends nothing; shows when the server has it. */
import { useEffect, useState } from 'react';
import { request } from '../lib/api';
import type { SosAlarm } from '../lib/types';
import type { DeviceConnection, Fix } from './protocol';

/** How long to wait for a fresh position before the SOS goes out without one. */
const FIX_WAIT_MS = 5000;
/** How often the state of an unresolved SOS is asked for again (acknowledged? resolved?). */
const SOS_POLL_MS = 10_000;
/** A resolved SOS is still shown for this long after it was raised. */
const SHOW_RESOLVED_MS = 24 * 3600_000;

/**
 * This phone's latest SOS alarm as the server keeps it (GET …/sos-alarms with the device token,
 * which reads only its own): after a reload the app still shows it, and who acknowledged it.
 */
function useLatestAlarm(connection: DeviceConnection): SosAlarm | undefined {
  const [alarm, setAlarm] = useState<SosAlarm>();
  const { tenantId, sos } = connection.state;
  const accepted = sos?.state === 'accepted' ? sos.id : undefined;
  useEffect(() => {
    if (!tenantId) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const load = async () => {
      try {
        const [latest] = await request<SosAlarm[]>(connection.token, 'GET', `/tenants/${tenantId}/sos-alarms?state=all&limit=1`);
        if (stopped) return;
        setAlarm(latest);
        if (latest && latest.state !== 'resolved') timer = setTimeout(() => void load(), SOS_POLL_MS);
      } catch (err) {
        console.warn('could not load the SOS state', err);
        if (!stopped) timer = setTimeout(() => void load(), SOS_POLL_MS * 3);
      }
    };
    void load();
    return () => { stopped = true; clearTimeout(timer); };
  }, [connection, tenantId, accepted]);
  return alarm;
}

function currentFix(): Promise<Fix | undefined> {
  if (!('geolocation' in navigator)) return Promise.resolve(undefined);
  return new Promise((resolve) => navigator.geolocation.getCurrentPosition(
    (p) => resolve({ time: Math.round(p.timestamp), lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy }),
    (err) => { console.warn('no position for the SOS', err); resolve(undefined); },
    { enableHighAccuracy: true, timeout: FIX_WAIT_MS, maximumAge: 30_000 },
  ));
}

export function SosPanel({ connection }: { connection: DeviceConnection }) {
  const [confirming, setConfirming] = useState(false);
  const [text, setText] = useState('');
  const [locating, setLocating] = useState(false);
  const sos = connection.state.sos;
  const alarm = useLatestAlarm(connection);
  const shown = alarm && (alarm.state !== 'resolved' || Date.now() - alarm.raisedAt < SHOW_RESOLVED_MS) && !(sos?.state === 'sending') ? alarm : undefined;

  const send = async () => {
    setLocating(true);
    // A fix from the last minute is good enough; otherwise ask for one, but never wait long.
    const recent = connection.lastFix && Date.now() - connection.lastFix.time < 60_000 ? connection.lastFix : undefined;
    const fix = recent ?? (await currentFix());
    setLocating(false);
    connection.sos(fix, text);
    setConfirming(false);
    setText('');
  };

  return (
    <section className="card sos" aria-labelledby="sos-title">
      <h2 id="sos-title">Emergency</h2>
      {!confirming && <button type="button" className="sos-button" onClick={() => setConfirming(true)}>SOS</button>}
      {confirming && (
        <div role="group" aria-labelledby="sos-confirm">
          <p id="sos-confirm"><strong>Send an SOS with your position to your organisation&apos;s responders?</strong></p>
          <label htmlFor="sos-text">What happened (optional)</label>
          <input id="sos-text" type="text" maxLength={1000} value={text} onChange={(e) => setText(e.target.value)} />
          <div className="row" style={{ marginTop: '.6rem' }}>
            <button type="button" className="sos-button" disabled={locating} onClick={() => void send()}>{locating ? 'Finding your position…' : 'Send SOS now'}</button>
            <button type="button" className="secondary big" onClick={() => setConfirming(false)}>Cancel</button>
          </div>
        </div>
      )}
      <div role="status" aria-live="assertive" data-testid="sos-status">
        {sos?.state === 'sending' && <p className="error">SOS raised at {new Date(sos.raisedAt).toLocaleTimeString()}; sending{connection.state.status === 'online' ? '…' : ' as soon as the phone is connected again.'}</p>}
        {sos?.state === 'accepted' && <p className="sos-ok">SOS received by the server at {new Date(sos.acceptedAt!).toLocaleTimeString()}{sos.withPosition ? ', with your position' : ', without a position'}. Your responders are being alerted.</p>}
        {shown && <AlarmState alarm={shown} />}
      </div>
    </section>
  );
}

function AlarmState({ alarm: a }: { alarm: SosAlarm }) {
  const at = (ms: number | null) => (ms ? new Date(ms).toLocaleTimeString() : '');
  return (
    <div className={a.state === 'resolved' ? 'sos-resolved' : 'sos-ok'} data-testid="sos-alarm">
      <p><strong>Your SOS of {new Date(a.raisedAt).toLocaleString()}</strong>{a.position ? ' (with your position)' : ''}: {a.state === 'open' ? 'received, waiting for a responder.' : a.state === 'acknowledged' ? 'a responder is on it.' : 'resolved.'}</p>
      {a.acknowledgedBy && <p>Acknowledged by {a.acknowledgedBy.name} at {at(a.acknowledgedAt)}.</p>}
      {a.state === 'open' && a.responders.length === 0 && <p>No responders are set in your organisation; the control room sees your SOS.</p>}
      {a.resolvedBy && <p>Resolved by {a.resolvedBy.name} at {at(a.resolvedAt)}{a.resolution ? `: ${a.resolution}` : '.'}</p>}
    </div>
  );
}
