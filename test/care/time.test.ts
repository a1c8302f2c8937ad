import { describe, expect, it } from 'vitest';
import { addBusinessDays, buildCalendar, calendarSchema } from '../../src/care/calendar.ts';
import { addCalendarDays, endOfLocalDay, localDate, toLocalDateTime } from '../../src/care/time.ts';

const US = buildCalendar(calendarSchema.parse({ id: 'US', country: 'US' }));
const MO = buildCalendar(calendarSchema.parse({ id: 'US-MO', country: 'US', state: 'MO' }));

describe('business days', () => {
  it('counts from the day after the anchor, Monday to Friday', () => {
    expect(addBusinessDays('2026-11-18', 2, US)).toBe('2026-11-20'); // Wed → Fri
    expect(addBusinessDays('2026-11-20', 2, US)).toBe('2026-11-24'); // Fri → Tue
    expect(addBusinessDays('2026-11-21', 1, US)).toBe('2026-11-23'); // Sat → Mon
  });
  it('treats the observed Independence Day, Friday 2026-07-03, as a holiday', () => {
    expect(US.isHoliday('2026-07-03')).toBe(true);
    expect(addBusinessDays('2026-07-02', 1, US)).toBe('2026-07-06');
  });
  it('skips a Monday federal holiday after a Friday discharge (Labor Day 2026-09-07)', () => {
    expect(addBusinessDays('2026-09-04', 2, US)).toBe('2026-09-09');
  });
  it('ignores observances such as Tax Day and the day after Thanksgiving', () => {
    expect(US.isBusinessDay('2026-04-15')).toBe(true);
    expect(MO.isBusinessDay('2026-11-27')).toBe(true);
    expect(addBusinessDays('2026-11-25', 1, US)).toBe('2026-11-27'); // Thanksgiving 11-26 skipped
  });
  it('adds Missouri state holidays only in the US-MO calendar (Truman Day 2026-05-08)', () => {
    expect(US.isBusinessDay('2026-05-08')).toBe(true);
    expect(MO.isBusinessDay('2026-05-08')).toBe(false);
    expect(addBusinessDays('2026-05-07', 1, MO)).toBe('2026-05-11');
  });
});

describe('local dates and due instants in America/Chicago', () => {
  it('puts the due at 23:59:59 with the explicit offset of that date', () => {
    expect(endOfLocalDay('2026-11-20').iso).toBe('2026-11-20T23:59:59-06:00');
    expect(endOfLocalDay('2026-07-06').iso).toBe('2026-07-06T23:59:59-05:00');
  });
  it('keeps calendar-day offsets on local dates across the November DST change', () => {
    // 01:30 CDT on 2026-11-01, the night clocks go back.
    const anchor = Date.parse('2026-11-01T01:30:00-05:00');
    expect(localDate(anchor)).toBe('2026-11-01');
    expect(endOfLocalDay(addCalendarDays(localDate(anchor), 7)).iso).toBe('2026-11-08T23:59:59-06:00');
    expect(toLocalDateTime(Date.parse('2026-11-01T01:30:00-06:00'))).toBe('2026-11-01T01:30:00-06:00');
  });
  it('keeps the local date of a discharge at 23:30 CST (not the UTC date)', () => {
    expect(localDate(Date.parse('2026-11-20T23:30:00-06:00'))).toBe('2026-11-20');
  });
  it('handles the March DST change', () => {
    const d = endOfLocalDay(addCalendarDays('2026-03-07', 2));
    expect(d.iso).toBe('2026-03-09T23:59:59-05:00');
    expect(endOfLocalDay('2026-03-07').iso).toBe('2026-03-07T23:59:59-06:00');
  });
});
