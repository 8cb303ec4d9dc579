/**
 * Messages: the recent ones, and a live view of one: delivery state per recipient in the app and per
 * channel (e-mail, SMS, push, webhook), tallies per answer, remind and escalate, and recording the
 * outcome of a channel delivery given up as unknown.
 */
import { useEffect, useState, useSyncExternalStore, type FormEvent } from 'react';
import { ApiError, type TenantApi } from '../lib/api';
import type { Delivery, DeliveryState, DeliveryUpdate, Message } from '../lib/types';
import { clock, time } from '../lib/format';
import type { LiveStore } from './live';
import { navigate } from './App';

const STATES: DeliveryState[] = ['queued', 'sent', 'delivered', 'read', 'acknowledged', 'expired', 'failed', 'unknown'];

export function MessagesScreen({ store, api, messageId }: { store: LiveStore; api: TenantApi; messageId?: string }) {
  const [messages, setMessages] = useState<Message[]>([]);
  useEffect(() => { void api.get<Message[]>('/messages?limit=100').then(setMessages); }, [api, messageId]);
  return (
    <div className="screen single">
      <div className="grid2">
        <section aria-labelledby="messages-title">
          <h2 id="messages-title">Messages</h2>
          <p><a href="#/live?tab=send">Compose a new message</a></p>
          <ul className="list">
            {messages.map((m) => (
              <li key={m.id}>
                <a className="item" href={`#/messages/${m.id}`} aria-current={m.id === messageId ? 'true' : undefined} style={{ display: 'block', padding: '.4rem', fontWeight: m.id === messageId ? 700 : 400 }}>
                  <span className={`badge ${m.priority}`}>{m.priority}</span> {m.title}
                  <span className="muted"> · {m.counts.acknowledged ?? 0}/{m.recipients} answered · {clock(m.createdAt)}</span>
                </a>
              </li>
            ))}
          </ul>
        </section>
        {messageId ? <MessageView key={messageId} store={store} api={api} id={messageId} /> : <p className="muted">Choose a message to see its deliveries and answers.</p>}
      </div>
    </div>
  );
}

function MessageView({ store, api, id }: { store: LiveStore; api: TenantApi; id: string }) {
  useSyncExternalStore(store.subscribe, store.getVersion);
  const [message, setMessage] = useState<Message>();
  const [deliveries, setDeliveries] = useState<Map<string, Delivery>>(new Map());
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  // recording the outcome of a channel delivery given up as unknown: which, what, and the operator's note
  const [settling, setSettling] = useState<{ id: string; outcome: 'sent' | 'failed'; note: string }>();

  useEffect(() => {
    // Listen first, then load, so no update between the two is lost; newer states win.
    // a batch (up to 500 deliveries of one message) is one state change and one render
    const stop = store.onDeliveries((batch) => {
      if (batch.messageId !== id) return;
      setDeliveries((old) => {
        const next = new Map(old);
        for (const u of batch.updates) next.set(u.deliveryId, applyUpdate(next.get(u.deliveryId), id, u));
        return next;
      });
    });
    void Promise.all([api.get<Message>(`/messages/${id}`), api.get<Delivery[]>(`/messages/${id}/deliveries`)]).then(([m, list]) => {
      setMessage(m);
      setDeliveries((live) => {
        const merged = new Map(list.map((d) => [d.id, d]));
        for (const [k, d] of live) {
          const loaded = merged.get(k);
          if (!loaded) merged.set(k, d);
          else if (STATES.indexOf(d.state) >= STATES.indexOf(loaded.state)) {
            merged.set(k, { ...loaded, state: d.state, response: d.response ?? loaded.response, lastError: d.lastError ?? loaded.lastError, deliveredAt: d.deliveredAt ?? loaded.deliveredAt, readAt: d.readAt ?? loaded.readAt, acknowledgedAt: d.acknowledgedAt ?? loaded.acknowledgedAt, unknownAt: d.unknownAt ?? loaded.unknownAt });
          }
        }
        return merged;
      });
    }, (err: Error) => setError(err.message));
    return stop;
  }, [api, id, store]);

  if (!message) return error ? <p role="alert" className="error">{error}</p> : <p className="muted">Loading…</p>;
  const all = [...deliveries.values()];
  const list = all.filter((d) => d.channel === 'app');
  const channelRows = all.filter((d) => d.channel !== 'app');
  const counts = Object.fromEntries(STATES.map((s) => [s, list.filter((d) => d.state === s).length]));
  const tallies = new Map<string, number>((message.options ?? []).map((o) => [o, 0]));
  for (const d of list) if (d.response) tallies.set(d.response, (tallies.get(d.response) ?? 0) + 1);
  const unanswered = list.filter((d) => d.state !== 'acknowledged' && d.deviceId);

  const settle = async (e: FormEvent) => {
    e.preventDefault();
    if (!settling) return;
    setError('');
    try {
      const settled = await api.post<Delivery>(`/deliveries/${settling.id}/settle`, { outcome: settling.outcome, note: settling.note.trim() || undefined });
      setDeliveries((old) => new Map(old).set(settled.id, settled));
      setSettling(undefined);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };

  const resend = async (escalate: boolean) => {
    setError('');
    try {
      if (!escalate) {
        // a reminder (POST …/remind): an answer to it answers this message, so its tallies stay here
        const m = await api.post<Message>(`/messages/${id}/remind`, {});
        setNote(`Reminded ${m.recipients} ${m.recipients === 1 ? 'recipient' : 'recipients'}; their answers count here.`);
        return;
      }
      const m = await api.post<Message>('/messages', {
        target: { deviceIds: unanswered.map((d) => d.deviceId!) },
        title: `URGENT: ${message.title}`, body: message.body || undefined,
        priority: 'critical', ackRequired: message.ackRequired, options: message.options ?? undefined,
      });
      setNote(`Escalated to ${m.recipients} recipients.`);
      navigate(`#/messages/${m.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };

  return (
    <section aria-labelledby="message-title" className="card">
      <h2 id="message-title"><span className={`badge ${message.priority}`}>{message.priority}</span> {message.title}</h2>
      {message.body && <p>{message.body}</p>}
      <p className="muted">Sent {time(message.createdAt)} to {message.recipients} {message.recipients === 1 ? 'device' : 'devices'}{message.expiresAt ? `, expires ${time(message.expiresAt)}` : ''}.</p>
      <h3>Delivery</h3>
      <p data-testid="delivery-counts">{STATES.filter((s) => counts[s]).map((s) => `${s} ${counts[s]}`).join(' · ') || 'no recipients'}</p>
      {tallies.size > 0 && (
        <>
          <h3>Answers</h3>
          <div data-testid="tallies">
            {[...tallies].map(([option, n]) => (
              <div className="tally" key={option}>
                <span>{option}</span>
                <div className="bar" role="img" aria-label={`${option}: ${n} of ${list.length}`}><div style={{ width: `${list.length ? (100 * n) / list.length : 0}%` }} /></div>
                <strong data-option={option}>{n}</strong>
              </div>
            ))}
          </div>
        </>
      )}
      {unanswered.length > 0 && message.ackRequired && (
        <div className="row" style={{ margin: '.8rem 0' }}>
          <span>{unanswered.length} not answered yet.</span>
          <button type="button" className="secondary" onClick={() => void resend(false)}>Remind them</button>
          <button type="button" className="danger" onClick={() => void resend(true)}>Escalate as critical</button>
        </div>
      )}
      <p role="status">{note}</p>
      {error && <p role="alert" className="error">{error}</p>}
      <h3>Recipients</h3>
      <table>
        <thead><tr><th scope="col">Device</th><th scope="col">State</th><th scope="col">Answer</th><th scope="col">Updated</th></tr></thead>
        <tbody>
          {list.map((d) => (
            <tr key={d.id}>
              <td>{d.deviceId ? store.name(d.deviceId) : d.recipient}</td>
              <td>{d.state}</td>
              <td>{d.response ?? '—'}</td>
              <td>{clock(d.acknowledgedAt ?? d.readAt ?? d.deliveredAt ?? d.queuedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {channelRows.length > 0 && (
        <>
          <h3>Other channels</h3>
          <p data-testid="channel-counts">{STATES.filter((s) => channelRows.some((d) => d.state === s)).map((s) => `${s} ${channelRows.filter((d) => d.state === s).length}`).join(' · ')}</p>
          <table data-testid="channel-deliveries">
            <thead><tr><th scope="col">Channel</th><th scope="col">Recipient</th><th scope="col">State</th><th scope="col">Why / who</th><th scope="col">Updated</th></tr></thead>
            <tbody>
              {channelRows.map((d) => (
                <tr key={d.id} data-delivery-id={d.id}>
                  <td>{d.channel}</td>
                  <td>{d.recipient}</td>
                  <td>{d.state}</td>
                  <td>
                    {d.settled ? `recorded by ${d.settled.name}${d.settled.note ? `: ${d.settled.note}` : ''}` : (d.lastError ?? '—')}
                    {d.state === 'unknown' && settling?.id !== d.id && (
                      <div className="row">
                        <button type="button" className="secondary" onClick={() => setSettling({ id: d.id, outcome: 'sent', note: '' })}>It arrived</button>
                        <button type="button" className="secondary" onClick={() => setSettling({ id: d.id, outcome: 'failed', note: '' })}>It did not arrive</button>
                      </div>
                    )}
                    {settling?.id === d.id && (
                      <form onSubmit={settle} className="row" aria-label={`Record the outcome of the ${d.channel} to ${d.recipient}`}>
                        <label htmlFor={`settle-note-${d.id}`}>{settling.outcome === 'sent' ? 'It arrived' : 'It did not arrive'}: how do you know?</label>
                        <input id={`settle-note-${d.id}`} value={settling.note} maxLength={1000} onChange={(e) => setSettling({ ...settling, note: e.target.value })} />
                        <button type="submit">Record</button>
                        <button type="button" className="secondary" onClick={() => setSettling(undefined)}>Cancel</button>
                      </form>
                    )}
                  </td>
                  <td>{clock(d.settled?.at ?? d.unknownAt ?? d.deliveredAt ?? d.sentAt ?? d.queuedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** A delivery as a live update moves it; an update for a delivery not loaded yet starts a row of its own. */
function applyUpdate(old: Delivery | undefined, messageId: string, u: DeliveryUpdate): Delivery {
  const base: Delivery = old ?? {
    id: u.deliveryId, messageId, channel: u.channel, recipient: u.recipient ?? u.deviceId ?? '', deviceId: u.deviceId ?? null, state: u.state,
    response: null, respondedBy: null, attempts: null, lastError: null, queuedAt: u.at, sentAt: null, deliveredAt: null, readAt: null, acknowledgedAt: null, unknownAt: null, settled: null,
  };
  const at: Partial<Delivery> = u.state === 'acknowledged' ? { acknowledgedAt: u.at } : u.state === 'read' ? { readAt: u.at } : u.state === 'delivered' ? { deliveredAt: u.at } : u.state === 'sent' ? { sentAt: base.sentAt ?? u.at } : u.state === 'unknown' ? { unknownAt: u.at } : {};
  return { ...base, ...at, state: u.state, ...(u.response !== undefined ? { response: u.response } : {}), ...(u.error !== undefined ? { lastError: u.error } : {}) };
}
