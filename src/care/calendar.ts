import Holidays from 'date-holidays';
import { z } from 'zod';
import { addCalendarDays, CARE_TIME_ZONE, weekday } from './time.ts';

/**
 * Business-day calendars as data (mappings/calendars/*.yaml). Holidays come from `date-holidays`,
 * entries of type `public` only (it also lists observances such as Tax Day), with observed
 * substitute days counting (Friday 2026-07-03 for Independence Day 2026).
 */
export const calendarSchema = z
  .object({
    id: z.string().regex(/^[A-Z]{2}(-[A-Z0-9]+)?$/, 'an id like US or US-MO'),
    description: z.string().optional(),
    country: z.string().regex(/^[A-Z]{2}$/),
    /** State/region code for date-holidays (e.g. MO); omitted = federal holidays only. */
    state: z.string().optional(),
    timeZone: z.string().default(CARE_TIME_ZONE),
    /** date-holidays entry types that close business; `public` only by default. */
    types: z.array(z.enum(['public', 'bank', 'school', 'optional', 'observance'])).default(['public']),
    /** Extra closed dates (YYYY-MM-DD) and dates that stay open although listed. */
    extraClosed: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/)).default([]),
    alwaysOpen: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/)).default([]),
    /** Holiday names to drop from the library's list (exact names). */
    excludeNames: z.array(z.string()).default([]),
  })
  .strict();
export type CalendarData = z.infer<typeof calendarSchema>;

export interface BusinessCalendar {
  readonly id: string;
  readonly timeZone: string;
  isHoliday(date: string): boolean;
  isBusinessDay(date: string): boolean;
  /** Holidays of a year, local dates with names, for documentation and tests. */
  holidays(year: number): { date: string; name: string }[];
}

export function buildCalendar(data: CalendarData): BusinessCalendar {
  const hd = data.state
    ? new Holidays(data.country, data.state, { timezone: data.timeZone })
    : new Holidays(data.country, { timezone: data.timeZone });
  const byYear = new Map<number, { date: string; name: string }[]>();
  const types = new Set<string>(data.types);
  const excluded = new Set(data.excludeNames);
  const extra = new Set(data.extraClosed);
  const open = new Set(data.alwaysOpen);
  const holidays = (year: number): { date: string; name: string }[] => {
    let list = byYear.get(year);
    if (!list) {
      list = (hd.getHolidays(year) || [])
        .filter((h) => types.has(h.type) && !excluded.has(h.name))
        .map((h) => ({ date: h.date.slice(0, 10), name: h.name }))
        .filter((h) => !open.has(h.date));
      for (const d of extra) if (d.startsWith(`${year}-`)) list.push({ date: d, name: 'extra closed day' });
      list.sort((a, b) => (a.date < b.date ? -1 : 1));
      byYear.set(year, list);
    }
    return list;
  };
  const isHoliday = (date: string): boolean => holidays(Number(date.slice(0, 4))).some((h) => h.date === date);
  return {
    id: data.id,
    timeZone: data.timeZone,
    isHoliday,
    isBusinessDay: (date) => weekday(date) <= 5 && !isHoliday(date),
    holidays,
  };
}

/** The n-th business day after a local date (counting starts the day after the anchor). */
export function addBusinessDays(date: string, n: number, cal: BusinessCalendar): string {
  let d = date;
  let left = n;
  while (left > 0) {
    d = addCalendarDays(d, 1);
    if (cal.isBusinessDay(d)) left -= 1;
  }
  return d;
}
