/**
 * Time windows in a time zone: rule schedules ("weekdays 08:00–18:00 Europe/Berlin") and quiet
 * hours ("22:00–07:00"). A window whose `to` is not after its `from` runs across midnight.
 */
import { invalid } from '../../core/errors.js';
import { isTimeZone } from '../../core/time-zone.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface TimeWindow {
  /** Days the window starts on; all days when absent. */
  days?: Weekday[] | undefined;
  /** "HH:MM", 24-hour. */
  from: string;
  to: string;
  /** IANA time zone; UTC when absent. */
  timeZone?: string | undefined;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Checks a window's shape, naming the field. */
export function parseWindow(value: unknown, field: string): TimeWindow {
  if (!value || typeof value !== 'object') throw invalid(field, 'must be { from: "HH:MM", to: "HH:MM", days?: ["mon", …], timeZone?: "Europe/Berlin" }');
  const w = value as Record<string, unknown>;
  for (const key of ['from', 'to'] as const) {
    if (typeof w[key] !== 'string' || !HHMM.test(w[key])) throw invalid(`${field}.${key}`, `must be a time "HH:MM" (24-hour), got ${JSON.stringify(w[key])}`);
  }
  const out: TimeWindow = { from: w.from as string, to: w.to as string };
  if (w.days !== undefined) {
    if (!Array.isArray(w.days) || w.days.length === 0 || !w.days.every((d) => (WEEKDAYS as readonly unknown[]).includes(d))) throw invalid(`${field}.days`, `must be a non-empty list of ${WEEKDAYS.join(', ')}`);
    out.days = [...new Set(w.days as Weekday[])];
  }
  if (w.timeZone !== undefined) {
    if (!isTimeZone(w.timeZone)) throw invalid(`${field}.timeZone`, `must be an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(w.timeZone)}`);
    out.timeZone = w.timeZone;
  }
  return out;
}

/** Whether the instant lies inside the window. */
export function inWindow(window: TimeWindow, at: number): boolean {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: window.timeZone ?? 'UTC', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at).map((p) => [p.type, p.value]),
  );
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const day = WEEKDAYS.indexOf(String(parts.weekday).toLowerCase().slice(0, 3) as Weekday);
  const from = toMinutes(window.from);
  const to = toMinutes(window.to);
  const startsOn = (d: number) => !window.days || window.days.includes(WEEKDAYS[(d + 7) % 7]!);
  if (from < to) return minute >= from && minute < to && startsOn(day);
  // across midnight: the evening part belongs to today's window, the morning part to yesterday's
  return (minute >= from && startsOn(day)) || (minute < to && startsOn(day - 1));
}

function toMinutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}
