/**
 * A fence's active schedule: weekly windows of local wall-clock time in an IANA time zone.
 * Zone math goes through Intl, so daylight-saving changes follow the zone's rules: a window from
 * 08:00 to 18:00 means 08:00 to 18:00 on the clock on the wall there, summer and winter.
 */
import { invalid } from '../../core/errors.js';
import { isTimeZone } from '../../core/time-zone.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** One window: on each of `days`, from `from` (inclusive) to `to` (exclusive), "HH:MM" local time. */
export interface ScheduleWindow {
  days: Weekday[];
  from: string;
  /** "24:00" is the end of the day; a `to` earlier than `from` runs past midnight into the next day. */
  to: string;
}

export interface Schedule {
  /** IANA time zone, e.g. "Europe/Berlin". */
  timeZone: string;
  windows: ScheduleWindow[];
}

/** Parses and validates a schedule; field paths start at `field`. */
export function parseSchedule(value: unknown, field: string): Schedule {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'expected an object { timeZone, windows }');
  const v = value as Record<string, unknown>;
  const timeZone = v['timeZone'];
  if (typeof timeZone !== 'string' || !isTimeZone(timeZone)) {
    throw invalid(`${field}.timeZone`, `expected an IANA time zone such as "Europe/Berlin", got ${JSON.stringify(timeZone) ?? 'nothing'}`);
  }
  const windows = v['windows'];
  if (!Array.isArray(windows) || windows.length === 0 || windows.length > 50) throw invalid(`${field}.windows`, 'expected an array of 1 to 50 windows { days, from, to }');
  return {
    timeZone,
    windows: windows.map((w: unknown, i) => {
      const wf = `${field}.windows[${i}]`;
      if (typeof w !== 'object' || w === null) throw invalid(wf, 'expected an object { days, from, to }');
      const { days, from, to } = w as Record<string, unknown>;
      if (!Array.isArray(days) || days.length === 0 || days.some((d) => !WEEKDAYS.includes(d as Weekday))) {
        throw invalid(`${wf}.days`, `expected a non-empty array of ${WEEKDAYS.join(', ')}, got ${JSON.stringify(days) ?? 'nothing'}`);
      }
      const f = minutesOf(from, `${wf}.from`, false);
      const t = minutesOf(to, `${wf}.to`, true);
      if (f === t) throw invalid(`${wf}.to`, `must differ from "from" (${String(from)}); a window from 00:00 to 24:00 covers a whole day`);
      return { days: [...new Set(days as Weekday[])], from: from as string, to: to as string };
    }),
  };
}

/** Whether the schedule is open at `time` (epoch ms). No schedule means always open. */
export function isOpen(schedule: Schedule | null | undefined, time: number): boolean {
  if (!schedule) return true;
  const { day, minute } = localTime(schedule.timeZone, time);
  for (const w of schedule.windows) {
    const from = minutesOf(w.from, '', false);
    const to = minutesOf(w.to, '', true);
    if (from < to) {
      if (w.days.includes(WEEKDAYS[day]!) && minute >= from && minute < to) return true;
    } else {
      // Past midnight: open from `from` on a listed day until `to` on the day after.
      if (w.days.includes(WEEKDAYS[day]!) && minute >= from) return true;
      if (w.days.includes(WEEKDAYS[(day + 6) % 7]!) && minute < to) return true;
    }
  }
  return false;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
/** The last answer per zone, valid for the rest of that minute: most positions ask about "now". */
const lastMinute = new Map<string, { start: number; day: number; minute: number }>();

/** Local weekday (0 = Monday) and minute of the day at `time` in the zone. */
export function localTime(timeZone: string, time: number): { day: number; minute: number } {
  const start = Math.floor(time / 60_000) * 60_000;
  const cached = lastMinute.get(timeZone);
  if (cached && cached.start === start) return cached;
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, format);
  }
  let weekday = '';
  let hour = 0;
  let minute = 0;
  for (const part of format.formatToParts(time)) {
    if (part.type === 'weekday') weekday = part.value.toLowerCase();
    else if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  const result = { start, day: WEEKDAYS.indexOf(weekday as Weekday), minute: hour * 60 + minute };
  lastMinute.set(timeZone, result);
  return result;
}


function minutesOf(value: unknown, field: string, allow24: boolean): number {
  const m = typeof value === 'string' ? /^([01]\d|2[0-4]):([0-5]\d)$/.exec(value) : null;
  const minutes = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  if (!m || minutes > (allow24 ? 1440 : 1439)) throw invalid(field, `expected a local time "HH:MM" from 00:00 to ${allow24 ? '24:00' : '23:59'}, got ${JSON.stringify(value) ?? 'nothing'}`);
  return minutes;
}
