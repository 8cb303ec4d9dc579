/** Messages: the recent ones, and a live view of one: delivery state per recipient, tallies per answer, remind and escalate. */
import { useEffect, useState, useSyncExternalStore } from 'react';
import { ApiError, type TenantApi } from '../lib/api';
import type { Delivery, DeliveryState, Message } from '../lib/types';
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

  useEffect(() => {
    // Listen first, then load, so no update between the two is lost; newer states win.
    const stop = store.onDelivery((d) => {
      if (d.messageId !== id) return;
      setDeliveries((old) => new Map(old).set(d.id, { ...old.get(d.id), ...d }));
    });
    void Promise.all([api.get<Message>(`/messages/${id}`), api.get<Delivery[]>(`/messages/${id}/deliveries`)]).then(([m, list]) => {
      setMessage(m);
      setDeliveries((live) => {
        const merged = new Map(list.map((d) => [d.id, d]));
        for (const [k, d] of live) if (STATES.indexOf(d.state) >= STATES.indexOf(merged.get(k)?.state ?? 'queued')) merged.set(k, { ...merged.get(k), ...d });
        return merged;
      });
    }, (err: Error) => setError(err.message));
    return stop;
  }, [api, id, store]);

  if (error) return <p role="alert" className="error">{error}</p>;
  if (!message) return <p className="muted">Loading…</p>;
  const list = [...deliveries.values()];
  const counts = Object.fromEntries(STATES.map((s) => [s, list.filter((d) => d.state === s).length]));
  const tallies = new Map<string, number>((message.options ?? []).map((o) => [o, 0]));
  for (const d of list) if (d.response) tallies.set(d.response, (tallies.get(d.response) ?? 0) + 1);
  const unanswered = list.filter((d) => d.state !== 'acknowledged');

  const resend = async (escalate: boolean) => {
    setError('');
    try {
      const m = await api.post<Message>('/messages', {
        target: { deviceIds: unanswered.map((d) => d.deviceId) },
        title: `${escalate ? 'URGENT' : 'Reminder'}: ${message.title}`, body: message.body || undefined,
        priority: escalate ? 'critical' : message.priority, ackRequired: message.ackRequired, options: message.options ?? undefined,
      });
      setNote(`${escalate ? 'Escalated' : 'Reminded'} ${m.recipients} recipients.`);
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
      <h3>Recipients</h3>
      <table>
        <thead><tr><th scope="col">Device</th><th scope="col">State</th><th scope="col">Answer</th><th scope="col">Updated</th></tr></thead>
        <tbody>
          {list.map((d) => (
            <tr key={d.id}>
              <td>{store.name(d.deviceId)}</td>
              <td>{d.state}</td>
              <td>{d.response ?? '—'}</td>
              <td>{clock(d.acknowledgedAt ?? d.readAt ?? d.deliveredAt ?? d.queuedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
