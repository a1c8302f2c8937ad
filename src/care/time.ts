/**
 * Local-date arithmetic in America/Chicago (or another IANA zone): due dates, business days, offsets.
 * Local dates are plain 'YYYY-MM-DD' strings, so calendar-day offsets are exact across DST changes.
 */
export const CARE_TIME_ZONE = 'America/Chicago';

const partsFormatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = partsFormatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsFormatters.set(tz, f);
  }
  return f;
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function formattedParts(epochMs: number, tz: string): LocalParts {
  const out: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(epochMs))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return {
    year: out.year!,
    month: out.month!,
    day: out.day!,
    hour: out.hour! % 24,
    minute: out.minute!,
    second: out.second!,
  };
}

// Zone offsets change on quarter-hour boundaries, so the offset found for one instant holds for its quarter hour:
// Intl's formatToParts (the slow part) runs once per zone and quarter hour instead of once per call.
const QUARTER_HOUR = 900_000;
const offsetCache = new Map<string, number>();

function localParts(epochMs: number, tz: string): LocalParts {
  const key = `${tz}|${Math.floor(epochMs / QUARTER_HOUR)}`;
  let offsetMs = offsetCache.get(key);
  if (offsetMs === undefined) {
    const p = formattedParts(epochMs, tz);
    offsetMs = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(epochMs / 1000) * 1000;
    if (offsetCache.size > 100_000) offsetCache.clear();
    offsetCache.set(key, offsetMs);
  }
  const d = new Date(epochMs + offsetMs);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');

/** Offset of the zone at an instant, in minutes east of UTC (Chicago: -300 or -360). */
export function offsetMinutes(epochMs: number, tz: string = CARE_TIME_ZONE): number {
  const p = localParts(epochMs, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60_000);
}

/** The local calendar date of an instant. */
export function localDate(epochMs: number, tz: string = CARE_TIME_ZONE): string {
  const p = localParts(epochMs, tz);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** A FHIR dateTime for an instant, written in the zone's local time with its explicit offset. */
export function toLocalDateTime(epochMs: number, tz: string = CARE_TIME_ZONE): string {
  const p = localParts(epochMs, tz);
  const off = offsetMinutes(epochMs, tz);
  const sign = off < 0 ? '-' : '+';
  return `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${sign}${pad(Math.trunc(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

/** Epoch ms of a local wall-clock time on a local date (the earlier instant when it is ambiguous). */
export function localToEpoch(date: string, time: string, tz: string = CARE_TIME_ZONE): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm, ss] = time.split(':').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d, hh, mm, ss ?? 0);
  // Two passes converge for every real zone (the offset at the guess, then at the corrected guess).
  let guess = wall - offsetMinutes(wall, tz) * 60_000;
  guess = wall - offsetMinutes(guess, tz) * 60_000;
  return guess;
}

/** 23:59:59 local on a local date: the due instant, as FHIR dateTime with explicit offset. */
export function endOfLocalDay(date: string, tz: string = CARE_TIME_ZONE): { iso: string; epochMs: number } {
  const epochMs = localToEpoch(date, '23:59:59', tz);
  return { iso: toLocalDateTime(epochMs, tz), epochMs };
}

export function addCalendarDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

/** ISO weekday of a local date: 1 = Monday ... 7 = Sunday. */
export function weekday(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const w = new Date(Date.UTC(y, m - 1, d)).getUTCDay();
  return w === 0 ? 7 : w;
}

/** Whole years between a birth date and a local date (age on that date). */
export function ageOn(birthDate: string, date: string): number {
  const [by, bm, bd] = birthDate.split('-').map(Number) as [number, number, number];
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  let age = y - by;
  if (m < bm || (m === bm && d < bd)) age -= 1;
  return age;
}

/** Parses a FHIR dateTime (or date) into epoch ms; a date alone is midnight local. */
export function parseFhirDateTime(value: string, tz: string = CARE_TIME_ZONE): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return localToEpoch(value, '00:00:00', tz);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) {
    const [date, time] = value.split('T') as [string, string];
    return localToEpoch(date, time.length === 5 ? `${time}:00` : time.slice(0, 8), tz);
  }
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
