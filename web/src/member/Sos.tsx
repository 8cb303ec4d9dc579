/** The SOS control: two deliberate steps (open, then confirm) so a pocket tap sends nothing; shows when the server has it. */
import { useState } from 'react';
import type { DeviceConnection, Fix } from './protocol';

/** How long to wait for a fresh position before the SOS goes out without one. */
const FIX_WAIT_MS = 5000;

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
      </div>
    </section>
  );
}
