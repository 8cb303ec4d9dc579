import type { LiveStore } from './live';
import { clock, time } from '../lib/format';
import type { MapTools } from './LiveScreen';

/** The live event feed: fence events and devices going offline or online; click to see it on the map. */
export function EventsPanel({ store, tools }: { store: LiveStore; tools: MapTools }) {
  return (
    <div>
      <h2 id="feed-title">Event feed</h2>
      {store.feed.length === 0 && <p className="muted">No events yet. Enter, exit and dwell events appear here as they happen.</p>}
      <ul className="list" aria-labelledby="feed-title" aria-live="polite" data-testid="event-feed">
        {store.feed.slice(0, 200).map((e) => (
          <li key={e.id}>
            <button type="button" className="item" disabled={e.lon === undefined} onClick={() => e.lon !== undefined && tools.show([e.lon, e.lat!], `<strong>${e.text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)}</strong><br>${time(e.time)}`)}>
              <span className={`badge ${e.type}`}>{e.type}</span>
              <span style={{ flex: 1 }}>{e.text}</span>
              <time className="muted" dateTime={new Date(e.time).toISOString()}>{clock(e.time)}</time>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
