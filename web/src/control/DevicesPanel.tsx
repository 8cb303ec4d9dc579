import type { LiveStore } from './live';
import { STATUS_COLOURS } from '../lib/map';
import { ago } from '../lib/format';
import { statusOf } from './LiveScreen';

const SHOWN = 200;

/** Search and group filter over the devices; the list shows the first 200 matches, the map shows all. */
export function DevicesPanel({ store, visible, query, setQuery, groupId, setGroupId, onShow }: { store: LiveStore; visible: string[]; query: string; setQuery: (q: string) => void; groupId: string; setGroupId: (g: string) => void; onShow: (id: string) => void }) {
  return (
    <div className="stack">
      <div>
        <label htmlFor="device-search">Search devices</label>
        <input id="device-search" type="search" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="Name or id" style={{ width: '100%' }} />
      </div>
      <div>
        <label htmlFor="device-group">Group</label>
        <select id="device-group" value={groupId} onChange={(e) => setGroupId(e.target.value)} style={{ width: '100%' }}>
          <option value="">All groups</option>
          {store.groups.map((g) => <option key={g.id} value={g.id}>{g.name}</option>)}
        </select>
      </div>
      <p className="muted" aria-live="polite">{visible.length} devices{visible.length > SHOWN ? `; the list shows the first ${SHOWN}, the map all` : ''}</p>
      <ul className="list">
        {visible.slice(0, SHOWN).map((id) => {
          const s = statusOf(store, id);
          const p = store.positions.get(id);
          const battery = store.statuses.get(id)?.battery;
          return (
            <li key={id}>
              {/* The name is the visible text and its start (WCAG 2.5.3); the status is spoken, shown as the dot. */}
              <button type="button" className="item" onClick={() => onShow(id)} disabled={!p}>
                <span className="dot" style={{ background: STATUS_COLOURS[s] }} aria-hidden="true" />
                <span style={{ flex: 1 }}>{store.name(id)}<span className="sr-only">, {s},</span></span>
                <span className="muted">{battery != null ? <>{battery}%<span className="sr-only"> battery</span> · </> : ''}{p ? ago(p.time) : 'no fix'}</span>
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
