/** IANA time zones: one check for every setting that names one (schedules, quiet hours, working hours, the tenant's own). */

/** Whether this runtime knows the IANA time zone (e.g. Europe/Berlin, UTC). */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone.length === 0 || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
