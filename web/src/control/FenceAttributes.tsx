/** The attributes of a fence besides its shape (docs/geofencing.md "Fence attributes"): tags, who it applies to, schedule, hysteresis. */
import { useId } from 'react';
import type { AppliesTo, Day, Fence, Hysteresis, Schedule, WeeklyWindow } from '../lib/types';
import { Picker } from '../lib/Picker';
import type { LiveStore } from './live';
import { defaultZone, WindowFields, ZoneField } from './WindowFields';

/** The form's view of the attributes: text where the user types, lists where they choose. */
export interface Attributes { tags: string; applies: string[]; scheduled: boolean; timeZone: string; windows: WeeklyWindow[]; exitMargin: string; useAccuracy: boolean }

const WORKDAYS: Day[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

export function attributesOf(f: Fence | undefined): Attributes {
  return {
    tags: f?.tags.join(', ') ?? '',
    applies: [...(f?.appliesTo?.groupIds ?? []), ...(f?.appliesTo?.deviceIds ?? [])],
    scheduled: !!f?.schedule,
    timeZone: f?.schedule?.timeZone ?? defaultZone(),
    windows: f?.schedule?.windows.map((w) => ({ ...w })) ?? [{ days: WORKDAYS, from: '07:00', to: '19:00' }],
    exitMargin: String(f?.hysteresis.exitMargin ?? 10),
    useAccuracy: f?.hysteresis.useAccuracy ?? true,
  };
}

/** The API fields for the attributes: every one is sent, so a PATCH clears what the form cleared. */
export function attributesBody(a: Attributes): { tags: string[]; appliesTo: AppliesTo | null; schedule: Schedule | null; hysteresis: Hysteresis } {
  const groupIds = a.applies.filter((x) => x.startsWith('grp_'));
  const deviceIds = a.applies.filter((x) => !x.startsWith('grp_'));
  return {
    tags: [...new Set(a.tags.split(',').map((t) => t.trim()).filter(Boolean))],
    appliesTo: a.applies.length ? { groupIds, deviceIds } : null,
    schedule: a.scheduled ? { timeZone: a.timeZone.trim(), windows: a.windows } : null,
    hysteresis: { exitMargin: Number(a.exitMargin), useAccuracy: a.useAccuracy },
  };
}

export function FenceAttributes({ store, value, onChange }: { store: LiveStore; value: Attributes; onChange: (a: Attributes) => void }) {
  const id = useId();
  const set = (patch: Partial<Attributes>) => onChange({ ...value, ...patch });
  const setWindow = (i: number, w: WeeklyWindow) => set({ windows: value.windows.map((x, j) => (j === i ? w : x)) });
  return (
    <>
      <label htmlFor={`${id}-tags`}>Tags (separated by commas)</label>
      <input id={`${id}-tags`} type="text" value={value.tags} onChange={(e) => set({ tags: e.target.value })} />

      <details open={value.applies.length > 0}>
        <summary>Applies to {value.applies.length ? `${value.applies.length} chosen` : 'every device'}</summary>
        <Picker legend="Applies to (none chosen: every device)" chosen={value.applies} onChange={(applies) => set({ applies })}
          sections={[{ title: 'Groups', kind: 'group', items: store.groups }, { title: 'Devices', kind: 'device', items: [...store.devices.values()] }]} />
      </details>

      <fieldset>
        <legend>When it is active</legend>
        <label className="inline"><input type="radio" name={`${id}-when`} checked={!value.scheduled} onChange={() => set({ scheduled: false })} /> Always</label>
        <label className="inline"><input type="radio" name={`${id}-when`} checked={value.scheduled} onChange={() => set({ scheduled: true })} /> On a schedule</label>
        {value.scheduled && (
          <>
            <ZoneField id={`${id}-zone`} value={value.timeZone} onChange={(timeZone) => set({ timeZone })} />
            {value.windows.map((w, i) => (
              <div key={i}>
                <WindowFields label={`Window ${i + 1}`} days={w.days} from={w.from} to={w.to} onChange={(x) => setWindow(i, x)} />
                {value.windows.length > 1 && <button type="button" className="danger" onClick={() => set({ windows: value.windows.filter((_, j) => j !== i) })}>Remove window {i + 1}</button>}
              </div>
            ))}
            <button type="button" className="secondary" onClick={() => set({ windows: [...value.windows, { days: WORKDAYS, from: '07:00', to: '19:00' }] })}>Add a window</button>
          </>
        )}
      </fieldset>

      <fieldset>
        <legend>Hysteresis</legend>
        <label htmlFor={`${id}-margin`}>Exit margin (m beyond the edge before a device counts as outside)</label>
        <input id={`${id}-margin`} type="number" min="0" step="any" required value={value.exitMargin} onChange={(e) => set({ exitMargin: e.target.value })} />
        <label className="inline"><input type="checkbox" checked={value.useAccuracy} onChange={(e) => set({ useAccuracy: e.target.checked })} /> Allow for each fix&apos;s accuracy</label>
      </fieldset>
    </>
  );
}
