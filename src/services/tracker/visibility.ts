/**
 * What a tenant's operators may see of its people's positions, a per-tenant setting that members
 * can read (consent), kept by the tracker next to the tracking settings:
 *
 * - `always`: every device's positions, at any time (the default, and what Follow Me did before).
 * - `working-hours`: only fixes taken within the tenant's working hours (weekdays and a daily time
 *   window in a time zone); what a phone records in the evening or at the weekend stays private.
 * - `while-sharing`: the devices of a person only through that person's own share with the operator
 *   ("follow me"), and only fixes taken since the share began; devices that belong to nobody
 *   (vehicles, asset trackers) stay visible.
 *
 * The API applies it to every operator read of positions (src/api/visibility.ts). Alerts to an area
 * still reach everyone in it: targeting is resolved by the services, and the operator sees who was
 * reached, not where they are (docs/follow-me.md).
 */
import { invalid } from '../../core/errors.js';
import { isTimeZone } from '../../core/time-zone.js';

export const OPERATOR_VISIBILITY = ['always', 'working-hours', 'while-sharing'] as const;
export type OperatorVisibility = (typeof OPERATOR_VISIBILITY)[number];

export interface WorkingHours {
  /** ISO weekdays: 1 Monday … 7 Sunday. */
  days: number[];
  /** "HH:MM", local time in `timeZone`; a window whose end is before its start runs past midnight (night shifts). */
  from: string;
  to: string;
  /** IANA time zone, e.g. Europe/Berlin. */
  timeZone: string;
}

export interface VisibilityPolicy {
  operatorVisibility: OperatorVisibility;
  workingHours: WorkingHours;
}

export const defaultVisibility: Readonly<VisibilityPolicy> = Object.freeze({
  operatorVisibility: 'always',
  workingHours: Object.freeze({ days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', timeZone: 'UTC' }),
});

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Merges a partial change into a policy, refusing unknown keys and bad values with the field named. */
export function mergeVisibility(current: VisibilityPolicy, change: unknown): VisibilityPolicy {
  if (!change || typeof change !== 'object' || Array.isArray(change)) throw invalid('body', 'must be an object with operatorVisibility and/or workingHours');
  const next: VisibilityPolicy = { operatorVisibility: current.operatorVisibility, workingHours: { ...current.workingHours, days: [...current.workingHours.days] } };
  for (const [key, value] of Object.entries(change as Record<string, unknown>)) {
    if (key === 'operatorVisibility') {
      if (!OPERATOR_VISIBILITY.includes(value as OperatorVisibility)) throw invalid(key, `must be one of ${OPERATOR_VISIBILITY.join(', ')}, got ${JSON.stringify(value)}`);
      next.operatorVisibility = value as OperatorVisibility;
    } else if (key === 'workingHours') {
      next.workingHours = mergeHours(next.workingHours, value);
    } else {
      throw invalid(key, 'is not a visibility setting; known: operatorVisibility, workingHours');
    }
  }
  return next;
}

function mergeHours(current: WorkingHours, change: unknown): WorkingHours {
  if (!change || typeof change !== 'object' || Array.isArray(change)) throw invalid('workingHours', 'must be an object of days, from, to, timeZone');
  const next = { ...current };
  for (const [key, value] of Object.entries(change as Record<string, unknown>)) {
    const field = `workingHours.${key}`;
    if (key === 'days') {
      if (!Array.isArray(value) || value.length === 0 || value.some((d) => !Number.isInteger(d) || (d as number) < 1 || (d as number) > 7)) throw invalid(field, `must be a non-empty list of ISO weekdays (1 Monday … 7 Sunday), got ${JSON.stringify(value)}`);
      next.days = [...new Set(value as number[])].sort();
    } else if (key === 'from' || key === 'to') {
      if (typeof value !== 'string' || !HHMM.test(value)) throw invalid(field, `must be a time of day as HH:MM (00:00 to 23:59), got ${JSON.stringify(value)}`);
      next[key] = value;
    } else if (key === 'timeZone') {
      if (typeof value !== 'string' || !isTimeZone(value)) throw invalid(field, `must be an IANA time zone such as Europe/Berlin or UTC, got ${JSON.stringify(value)}`);
      next.timeZone = value;
    } else {
      throw invalid(field, 'is not a working-hours field; known: days, from, to, timeZone');
    }
  }
  if (next.from === next.to) throw invalid('workingHours.to', `must differ from from (${next.from}): the window would be empty`);
  return next;
}

const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether an instant (epoch ms) falls within the working hours, in their time zone. */
export function withinWorkingHours(hours: WorkingHours, time: number): boolean {
  let format = formatters.get(hours.timeZone);
  if (!format) formatters.set(hours.timeZone, (format = new Intl.DateTimeFormat('en-US', { timeZone: hours.timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })));
  const parts = Object.fromEntries(format.formatToParts(new Date(time)).map((p) => [p.type, p.value]));
  const day = WEEKDAYS[parts.weekday ?? ''] ?? 0;
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  const from = minutesOf(hours.from);
  const to = minutesOf(hours.to);
  if (from < to) return hours.days.includes(day) && minute >= from && minute < to;
  // past midnight: the evening part belongs to a working day, the early morning to the day before
  return (hours.days.includes(day) && minute >= from) || (hours.days.includes(day === 1 ? 7 : day - 1) && minute < to);
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

/** The policy in words, as members are shown it. */
export function describeVisibility(policy: VisibilityPolicy): string {
  switch (policy.operatorVisibility) {
    case 'always':
      return "Your organisation's operators can see your devices' positions and history at any time.";
    case 'working-hours': {
      const h = policy.workingHours;
      const names = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
      return `Your organisation's operators can see only positions recorded on ${h.days.map((d) => names[d]).join(', ')} from ${h.from} to ${h.to} (${h.timeZone}). Alerts for an area still reach you at any time.`;
    }
    case 'while-sharing':
      return "Your organisation's operators can see your devices' positions only while you share your location with them, and only from when the share began. Alerts for an area still reach you.";
  }
}
