/** Formatting shared by the screens. Times are shown in the tenant's time zone (setDisplayZone), or the browser's when it has none. */

/** The browser's IANA time zone. */
export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

let zone: string | undefined;
const formats = new Map<string, Intl.DateTimeFormat>();

/** The zone times are shown in and new schedules start from: the tenant's (GET /tenants/{id} `timeZone`), else the browser's. */
export function setDisplayZone(timeZone: string | null | undefined): void {
  zone = timeZone ?? undefined;
}
export const displayZone = (): string => zone ?? browserZone();

function format(kind: 'datetime' | 'clock' | 'parts'): Intl.DateTimeFormat {
  const z = displayZone();
  const key = `${kind} ${z}`;
  let f = formats.get(key);
  if (!f) {
    f = kind === 'datetime' ? new Intl.DateTimeFormat(undefined, { timeZone: z, dateStyle: 'short', timeStyle: 'medium' })
      : kind === 'clock' ? new Intl.DateTimeFormat(undefined, { timeZone: z, timeStyle: 'medium' })
        : new Intl.DateTimeFormat('en-CA', { timeZone: z, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formats.set(key, f);
  }
  return f;
}

export const time = (ms: number | null | undefined) => (ms ? format('datetime').format(ms) : '—');
export const clock = (ms: number) => format('clock').format(ms);
export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}
export const metres = (m: number) => (m >= 1000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m)} m`);
export const duration = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);

/** The wall-clock fields of an instant in the display zone. */
function wall(ms: number): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const p = Object.fromEntries(format('parts').formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  return { y: p.year!, mo: p.month!, d: p.day!, h: p.hour! % 24, mi: p.minute!, s: p.second! };
}

/** A datetime-local input's value (YYYY-MM-DDTHH:MM) for an epoch ms, in the display zone. */
export const localInput = (ms: number) => {
  const w = wall(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${w.y}-${two(w.mo)}-${two(w.d)}T${two(w.h)}:${two(w.mi)}`;
};

/** The epoch ms of a datetime-local input's value read in the display zone (the inverse of localInput). */
export function fromLocalInput(value: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
  if (!m) return NaN;
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
  // the zone's offset at that moment, found by formatting; a second pass settles a DST change in between
  let guess = asUtc;
  for (let i = 0; i < 2; i++) {
    const w = wall(guess);
    const offset = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - guess;
    guess = asUtc - offset;
  }
  return guess;
}
