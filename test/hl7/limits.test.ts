import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, checkLimits } from '../../src/hl7/index.ts';
import { HOSTILE_SHAPES, hostileMessage } from '../fixtures/hostile.ts';
import { readFileSync, readdirSync } from 'node:fs';

const small = { maxBytes: 10_000, maxSegments: 8, maxRepetitions: 5, maxFieldLength: 100 };
const A01 = [
  'MSH|^~\\&|EPIC|MERCYSGF|TC|MOHH|20261110083000||ADT^A01|CTRL1|P|2.5.1',
  'EVN|A01|20261110082900',
  'PID|1||M1001^^^MERCY^MR~10234567^^^MOHEALTHNET^MA||ALVAREZ^MARIA||19780314|F',
  'PV1|1|I|4W^401^A^MERCY',
].join('\r');

describe('message limits (issue 12)', () => {
  it('passes every ADT fixture under the default limits', () => {
    const files = readdirSync('fixtures/adt', { recursive: true, withFileTypes: true }).filter(
      (f) => f.isFile() && f.name.endsWith('.hl7'),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const f of files)
      expect(checkLimits(readFileSync(`${f.parentPath}/${f.name}`), DEFAULT_LIMITS)).toBeUndefined();
    expect(checkLimits(A01, small)).toBeUndefined();
  });

  it('names the limit and the segment and field it was broken at, never a value', () => {
    const reps = checkLimits(A01.replace('M1001^^^MERCY^MR', 'M1^^^MERCY^MR~'.repeat(6) + 'X'), small)!;
    expect(reps).toMatchObject({
      code: 'TC_HL7_LIMIT',
      limit: 'maxRepetitions',
      location: { segment: 'PID', field: 3 },
    });
    expect(reps.reason).toBe('PID-3 has more than 5 repetitions (sender profile limit limits.maxRepetitions = 5)');
    const long = checkLimits(A01.replace('ALVAREZ', 'A'.repeat(101)), small)!;
    expect(long).toMatchObject({ limit: 'maxFieldLength', location: { segment: 'PID', field: 5 } });
    expect(long.reason).not.toContain('AAAA');
    const segs = checkLimits(A01 + '\rOBX|1'.repeat(5), small)!;
    expect(segs).toMatchObject({ limit: 'maxSegments', location: { segment: 'OBX' } });
    const bytes = checkLimits(A01 + ' '.repeat(10_000), small)!;
    expect(bytes.limit).toBe('maxBytes');
    expect(checkLimits(A01.replace('20261110083000', 'X'.repeat(101)), small)).toMatchObject({
      location: { segment: 'MSH', field: 7 },
    });
  });

  it('does not count the repetition character of MSH-2 as a repetition', () => {
    const one = A01.replace('M1001^^^MERCY^MR~', '');
    expect(checkLimits(one, { ...small, maxRepetitions: 1 })).toBeUndefined();
    expect(checkLimits(A01, { ...small, maxRepetitions: 1 })?.location).toEqual({ segment: 'PID', field: 3 });
  });

  it.each(HOSTILE_SHAPES)('stops the %s fixture at 4 MB under the default limits', (shape) => {
    const p = checkLimits(hostileMessage(shape, 4 * 1024 * 1024), { ...DEFAULT_LIMITS, maxBytes: 8 * 1024 * 1024 });
    expect(p?.code).toBe('TC_HL7_LIMIT');
  });
});
