/** Editors for weekly time windows: the days and hours of a fence schedule, a tenant's or a person's quiet hours. */
import { useId } from 'react';
import { displayZone } from '../lib/format';
import { DAYS, type Day, type TimeWindow } from '../lib/types';

const DAY_NAMES: Record<Day, string> = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' };

/** The zone new schedules, quiet hours and working hours start from: the tenant's, else the browser's. */
export const defaultZone = displayZone;

export function validZone(zone: string): boolean {
  try { new Intl.DateTimeFormat('en', { timeZone: zone }); return true; } catch { return false; }
}

/** Days (checkboxes) and from/to (time inputs) of one window. `label` names it for assistive technology. */
export function WindowFields({ label, days, from, to, onChange }: { label: string; days: Day[]; from: string; to: string; onChange: (w: { days: Day[]; from: string; to: string }) => void }) {
  const id = useId();
  return (
    <fieldset className="window">
      <legend>{label}</legend>
      <div className="row" role="group" aria-label={`${label}: days`}>
        {DAYS.map((d) => (
          <label key={d} className="inline day"><input type="checkbox" checked={days.includes(d)} onChange={(e) => onChange({ days: e.target.checked ? DAYS.filter((x) => x === d || days.includes(x)) : days.filter((x) => x !== d), from, to })} /><abbr title={DAY_NAMES[d]}>{d}</abbr><span className="sr-only">{DAY_NAMES[d]}</span></label>
        ))}
      </div>
      <div className="row">
        <div><label htmlFor={`${id}-from`}>From</label><input id={`${id}-from`} type="time" required value={from} onChange={(e) => onChange({ days, from: e.target.value, to })} /></div>
        <div><label htmlFor={`${id}-to`}>To</label><input id={`${id}-to`} type="time" required value={to} onChange={(e) => onChange({ days, from, to: e.target.value })} /></div>
      </div>
      {to && from && to <= from && <p className="muted">Runs past midnight into the next day.</p>}
    </fieldset>
  );
}

/** An IANA time zone input, checked as it is typed. */
export function ZoneField({ id, value, onChange }: { id: string; value: string; onChange: (zone: string) => void }) {
  const ok = validZone(value);
  return (
    <>
      <label htmlFor={id}>Time zone (IANA, e.g. Europe/Berlin)</label>
      <input id={id} type="text" required value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={!ok} aria-describedby={ok ? undefined : `${id}-error`} />
      {!ok && <p id={`${id}-error`} className="error">Not a time zone this browser knows.</p>}
    </>
  );
}

/** A quiet-hours window as the form edits it: on or off, days, hours and zone. */
export interface QuietDraft { on: boolean; days: Day[]; from: string; to: string; timeZone: string }

export const quietDraft = (w: TimeWindow | null, zone = defaultZone()): QuietDraft => ({ on: !!w, days: w?.days ?? DAYS, from: w?.from ?? '22:00', to: w?.to ?? '07:00', timeZone: w?.timeZone ?? zone });

/** The API's window for a draft: no days ticked or all seven is every day (the field left out). */
export function quietWindow(d: QuietDraft): TimeWindow | null {
  if (!d.on) return null;
  return { from: d.from, to: d.to, timeZone: d.timeZone.trim(), ...(d.days.length && d.days.length < 7 ? { days: d.days } : {}) };
}

/** An optional weekly window (quiet hours, a rule's schedule): a switch, then days, hours and zone. */
export function QuietHoursFields({ label, value, onChange, toggle = 'Quiet hours on (rule alerts below critical wait)', zone }: { label: string; value: QuietDraft; onChange: (d: QuietDraft) => void; toggle?: string; zone?: string }) {
  const id = useId();
  return (
    <fieldset>
      <legend>{label}</legend>
      <label className="inline"><input type="checkbox" checked={value.on} onChange={(e) => onChange({ ...value, on: e.target.checked, ...(e.target.checked && !value.on ? { timeZone: zone ?? defaultZone() } : {}) })} /> {toggle}</label>
      {value.on && (
        <>
          <WindowFields label="When" days={value.days} from={value.from} to={value.to} onChange={(w) => onChange({ ...value, ...w })} />
          {value.days.length === 0 && <p className="muted">No day ticked: every day.</p>}
          <ZoneField id={`${id}-zone`} value={value.timeZone} onChange={(timeZone) => onChange({ ...value, timeZone })} />
        </>
      )}
    </fieldset>
  );
}
