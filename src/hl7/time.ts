import type { Hl7Time } from './types.ts';

const TS = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?(?:([+-])(\d{2})(\d{2})?)?$/;

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
/** Offsets change only on quarter-hour boundaries in every real zone: cache per zone and 15-minute bucket. */
const offsetCache = new Map<string, Map<number, number>>();
const BUCKET_MS = 15 * 60_000;
const OFFSET_CACHE_MAX = 50_000;

/** Offset of an IANA zone at an instant, in minutes east of UTC (DST-correct, through Intl). */
export function zoneOffsetMinutes(timeZone: string, epochMs: number): number {
  // Numeric keys in a map per zone: no key string built per lookup (three lookups per local time read).
  let zone = offsetCache.get(timeZone);
  if (!zone) offsetCache.set(timeZone, (zone = new Map()));
  const key = Math.floor(epochMs / BUCKET_MS);
  const hit = zone.get(key);
  if (hit !== undefined) return hit;
  const off = computeOffset(timeZone, epochMs);
  if (zone.size >= OFFSET_CACHE_MAX) zone.clear();
  zone.set(key, off);
  return off;
}

function computeOffset(timeZone: string, epochMs: number): number {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormatters.set(timeZone, f);
  }
  const name = f.formatToParts(new Date(epochMs)).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

/**
 * The instant of a wall-clock time in a zone, DST-correct. An ambiguous time (the repeated hour when clocks go
 * back) takes the earlier instant; a time in the gap when clocks go forward is moved forward by the gap
 * (02:30 on a spring-forward day in Chicago is 03:30-05:00), as java.time and Temporal ('compatible') do.
 */
export function localToEpoch(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  timeZone: string,
): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  // Transitions are months apart, so the offsets a day either side are the only candidates.
  const before = zoneOffsetMinutes(timeZone, asUtc - 86_400_000);
  const after = zoneOffsetMinutes(timeZone, asUtc + 86_400_000);
  const tBefore = asUtc - before * 60_000;
  if (before === after || zoneOffsetMinutes(timeZone, tBefore) === before) return tBefore;
  const tAfter = asUtc - after * 60_000;
  if (zoneOffsetMinutes(timeZone, tAfter) === after) return tAfter;
  return tBefore; // in the gap: read with the offset before the change, which lands after it
}

export function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Proleptic Gregorian, as Date.UTC counts (no Date allocated per timestamp). */
function daysInMonth(y: number, m: number): number {
  if (m !== 2) return MONTH_DAYS[m - 1]!;
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
}

/**
 * Parses an HL7 TS/DTM of any precision, with or without offset. Without an offset the time is read in
 * `timeZone` (America/Chicago unless the sender profile says otherwise). Invalid values give undefined.
 */
export function parseHl7Time(raw: string | undefined, timeZone = 'America/Chicago'): Hl7Time | undefined {
  if (!raw) return undefined;
  const text = raw.trim();
  const m = TS.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 1;
  const d = m[3] ? Number(m[3]) : 1;
  const h = m[4] ? Number(m[4]) : 0;
  const mi = m[5] ? Number(m[5]) : 0;
  const s = m[6] ? Number(m[6]) : 0;
  const frac = m[7];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  if (y < 1800) return undefined;
  const ms = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;

  if (!m[4]) {
    const precision = m[3] ? 'day' : m[2] ? 'month' : 'year';
    const fhir = precision === 'day' ? `${m[1]}-${m[2]}-${m[3]}` : precision === 'month' ? `${m[1]}-${m[2]}` : m[1]!;
    return { raw, fhir, epochMs: localToEpoch(y, mo, d, 0, 0, 0, 0, timeZone), precision, hadOffset: false };
  }
  const precision: Hl7Time['precision'] = frac ? 'fraction' : m[6] ? 'second' : m[5] ? 'minute' : 'hour';
  let epochMs: number;
  let offset: number;
  if (m[8]) {
    offset = (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10] ?? 0));
    if (Math.abs(offset) > 14 * 60) return undefined;
    epochMs = Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000;
  } else {
    epochMs = localToEpoch(y, mo, d, h, mi, s, ms, timeZone);
    offset = zoneOffsetMinutes(timeZone, epochMs);
  }
  // Wall time as written (or, in a DST gap, as it really was).
  const wallMs = epochMs + offset * 60_000;
  let fhir: string;
  if (wallMs === Date.UTC(y, mo - 1, d, h, mi, s, ms)) {
    // The usual case: the wall time is the one written, so no Date is needed to spell it.
    fhir = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5] ?? '00'}:${m[6] ?? '00'}`;
  } else {
    const wall = new Date(wallMs);
    fhir =
      `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}` +
      `T${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}`;
  }
  fhir += (frac ? `.${frac}` : '') + formatOffset(offset);
  return { raw, fhir, epochMs, precision, hadOffset: Boolean(m[8]) };
}
