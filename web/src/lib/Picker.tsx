/** Choose by name from lists of people, groups or devices: a search box over checkboxes, the choice listed by name. */
import { useId, useState } from 'react';
import type { Named } from './types';

/** At most this many matches of a list are shown; typing narrows them. */
const SHOWN = 50;

export interface PickerSection { title: string; kind: string; items: Named[] }

/** The name of a chosen id in the sections (the id when unknown). */
export function nameIn(sections: PickerSection[], id: string): string {
  for (const s of sections) for (const x of s.items) if (x.id === id) return x.name;
  return id;
}

export function Picker({ legend, sections, chosen, onChange, exclude }: { legend: string; sections: PickerSection[]; chosen: string[]; onChange: (ids: string[]) => void; exclude?: string }) {
  const [query, setQuery] = useState('');
  const id = useId();
  const q = query.trim().toLowerCase();
  const toggle = (x: string, on: boolean) => onChange(on ? [...chosen, x] : chosen.filter((c) => c !== x));
  let hidden = false;
  return (
    <fieldset className="picker">
      <legend>{legend}</legend>
      <label htmlFor={`${id}-q`}>Find by name<span className="sr-only"> ({legend})</span></label>
      <input id={`${id}-q`} type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
      <p aria-live="polite" className={chosen.length ? '' : 'muted'}>{chosen.length ? `Chosen: ${chosen.map((x) => nameIn(sections, x)).join(', ')}` : 'None chosen.'}</p>
      <div className="picker-lists">
        {sections.map((s, i) => {
          const matches = s.items.filter((x) => x.id !== exclude && (chosen.includes(x.id) || !q || x.name.toLowerCase().includes(q)));
          if (matches.length > SHOWN) hidden = true;
          return (
            <div key={s.title}>
              <h4 id={`${id}-${i}`}>{s.title}</h4>
              {matches.length === 0 ? <p className="muted">None{q ? ' match' : ''}.</p> : (
                <ul className="list plain" aria-labelledby={`${id}-${i}`}>{matches.slice(0, SHOWN).map((x) => (
                  <li key={x.id}><label className="inline"><input type="checkbox" checked={chosen.includes(x.id)} onChange={(e) => toggle(x.id, e.target.checked)} /> {x.name}<span className="sr-only"> ({s.kind})</span></label></li>
                ))}</ul>
              )}
            </div>
          );
        })}
        {hidden && <p className="muted">Type a name to find more.</p>}
      </div>
    </fieldset>
  );
}
