import { readFileSync, readdirSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertMessage } from '../../src/fhir/convert.ts';
import { convertInput } from '../../src/fhir/input.ts';
import type { ConvertResult } from '../../src/fhir/types.ts';
import { parseMessage } from '../../src/hl7/index.ts';
import type { ParsedMessage, SegmentView } from '../../src/hl7/types.ts';
import { checkBundle } from './fhir-check.ts';
import { CORPUS, FIXTURES, context, hl7Files } from './helpers.ts';
import { stringSearches } from '../helpers/string-searches.ts';

const seeds = [...hl7Files(FIXTURES).slice(0, 12), ...hl7Files(CORPUS).slice(0, 6)].map((f) =>
  readFileSync(f, 'latin1'),
);
const DELIMS = ['|', '^', '~', '\\', '&', '\r', '\n', '"', 'MSH', 'PID', 'PV1', ''];
/** Characters a FHIR string may not hold, raw and as HL7 hex escapes. */
const CONTROLS = ['\u0000', '\u0001', '\u0007', '\u000b', '\u001b', '\u001f', '\\X01\\', '\\X1B\\', '\\X00\\'];

/** A random edit of a valid message: delete, duplicate or replace a span, or insert delimiters or controls. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.nat(40),
        fc.oneof(fc.constantFrom(...DELIMS), fc.constantFrom(...CONTROLS), fc.string({ maxLength: 6 })),
      ),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [at, len, ins] of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + ins + s.slice(i + (len % 3 === 0 ? len : 0));
    }
    return s;
  });

/** An internal error is a defect, never an acceptable outcome for bad input. */
function noInternalError(r: ConvertResult): void {
  if (r.status === 'rejected') expect(r.code, 'internal conversion error').not.toBe('TC_CONVERT_FAILED');
}

describe('property: mutated messages', () => {
  it('never throw from convertInput, never fail internally, and each gives converted, ignored or rejected', () => {
    const ctx = context();
    fc.assert(
      fc.property(mutated, fc.boolean(), (text, asBytes) => {
        const results = convertInput(asBytes ? Buffer.from(text, 'latin1') : text, ctx);
        expect(results.length).toBeGreaterThan(0);
        for (const r of results) {
          expect(['converted', 'ignored', 'rejected']).toContain(r.status);
          noInternalError(r);
          if (r.status !== 'converted') expect(r.outcome.resourceType).toBe('OperationOutcome');
          else expect(r.converted.bundle.entry?.[0]?.resource?.resourceType).toBe('MessageHeader');
        }
      }),
      { numRuns: 400, seed: 20261123 },
    );
  }, 120_000);

  it('gives only valid R4 (strings without control characters, structure, references inside the Bundle)', () => {
    const ctx = context();
    fc.assert(
      fc.property(mutated, (text) => {
        for (const r of convertInput(text, ctx)) {
          noInternalError(r);
          if (r.status !== 'converted') continue;
          expect(JSON.stringify(r.converted.bundle)).not.toMatch(/\\u00(0[0-8bcef]|1[0-9a-f])/i);
          expect(checkBundle(r.converted.bundle)).toEqual([]);
        }
      }),
      { numRuns: 80, seed: 20261201 },
    );
  }, 240_000);

  it('fails the properties on an internal error: a converter defect is reported as TC_CONVERT_FAILED, which they reject', () => {
    const ctx = context();
    const broken = { ...ctx, codes: { ...ctx.codes, 'patient-class': undefined as never } };
    const [r] = convertInput(seeds[0]!, broken);
    expect(r?.status === 'rejected' && r.code).toBe('TC_CONVERT_FAILED');
    expect(() => noInternalError(r!)).toThrow();
  });
});

/**
 * Work per KB, counted rather than timed: every accessor call on the parsed message costs 1, and a segment lookup
 * costs the segments it scans. Linear code stays under a constant per KB however large the message; code that
 * re-scans per repetition or per segment (the NK1 loop, per-PID lookups) grows with the square and fails.
 */
function counted(msg: ParsedMessage): { msg: ParsedMessage; cost: () => number } {
  let cost = 0;
  const wrap = (s: SegmentView): SegmentView => ({
    name: s.name,
    index: s.index,
    get: (f, c, sub, rep) => (cost++, s.get(f, c, sub, rep)),
    repCount: (f) => (cost++, s.repCount(f)),
    fieldCount: () => (cost++, s.fieldCount()),
  });
  const segments = msg.segments.map(wrap);
  const byName = new Map<string, SegmentView[]>();
  for (const s of segments) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const view: ParsedMessage = {
    text: msg.text,
    header: msg.header,
    segments,
    segment(name, after) {
      const list = byName.get(name) ?? [];
      for (const s of list) {
        cost++;
        if (after === undefined || s.index > after) return s;
      }
      return undefined;
    },
    all(name) {
      const list = byName.get(name) ?? [];
      cost += list.length;
      return [...list];
    },
  };
  return { msg: view, cost: () => cost + segments.length };
}

const MSH = 'MSH|^~\\&|EPIC|MERCYSGF|TC|MOHH|20261101120000||ADT^';
/** Hostile shapes: many repetitions or many segments of the kinds the converter loops over. */
const hostile = fc
  .tuple(
    fc.constantFrom('pid3', 'pid2', 'nk1', 'pv1-7', 'dg1', 'in1', 'merge-pids', 'pid11'),
    fc.integer({ min: 1, max: 1500 }),
  )
  .map(([shape, n]) => {
    const rep = (s: string) => Array.from({ length: n }, (_, i) => s.replace('#', String(i))).join('~');
    const lines = (s: string) => Array.from({ length: n }, (_, i) => s.replace(/#/g, String(i)));
    const event = shape === 'merge-pids' ? 'A40' : 'A01';
    const pid = (f2 = '', f3 = 'M1^^^MERCY^MR', f11 = '') => `PID|1|${f2}|${f3}||DOE^JANE||19800101|F|||${f11}`;
    const pv1 = (f7 = '') => `PV1|1|I|4W^410^A|||||${f7}|||||||||||V1`;
    const body =
      shape === 'pid3'
        ? [pid('', rep('#^^^MERCY^MA'))]
        : shape === 'pid2'
          ? [pid(rep('X#^^^A#^PT'))]
          : shape === 'pid11'
            ? [pid('', undefined, rep('# MAIN ST^^SPRINGFIELD^MO^65803'))]
            : shape === 'nk1'
              ? [pid(), ...lines('NK1|#|DOE^N#|MTH'), pv1()]
              : shape === 'pv1-7'
                ? [pid(), pv1(rep('#^DOC^X#'))]
                : shape === 'dg1'
                  ? [pid(), pv1(), ...lines('DG1|#||I#^Dx#^I10')]
                  : shape === 'in1'
                    ? [pid(), pv1(), ...lines('IN1|#|P#|C#|Payor #')]
                    : lines('PID|1||S#^^^MERCY^MR\rMRG|P#^^^MERCY^MR');
    return [`${MSH}${event}|CTL-${shape}-${n}|P|2.5.1`, `EVN|${event}|20261101120000`, ...body].join('\r');
  });

describe('property: bounded work', () => {
  it('does at most a constant amount of work per KB of message, however many repetitions or segments', () => {
    const ctx = context();
    const perKb = (text: string): number => {
      const parsed = parseMessage(text);
      if (!parsed.ok) throw new Error(`test message does not parse: ${parsed.problem.reason}`);
      const c = counted(parsed.message);
      let r: ReturnType<typeof convertMessage> | undefined;
      // The accessor calls, and the string searches inside them (a scan per repCount call is quadratic too).
      const searches = stringSearches(() => (r = convertMessage(c.msg, ctx)));
      noInternalError(r!);
      return (c.cost() + searches) / (Buffer.byteLength(text) / 1024);
    };
    // The budget: ten times the most work per KB any shipped fixture or corpus message needs.
    const budget = 10 * Math.max(...seeds.map(perKb));
    fc.assert(
      fc.property(hostile, (text) => {
        expect(perKb(text)).toBeLessThan(budget);
      }),
      { numRuns: 60, seed: 20261201 },
    );
  }, 240_000);
});

const HOSTILE_DIR = 'fixtures/hostile';
/** Values the hostile fixtures carry where a code or id goes: never in an outcome. */
const HOSTILE_VALUES = ['ALVAREZ', 'TESTER', 'HOSTILE', '19780314', '10234567', 'M1001'];

describe('regressions: every hostile fixture kept in fixtures/hostile', () => {
  const files = readdirSync(HOSTILE_DIR).filter((f) => f.endsWith('.hl7'));
  it('has the fixtures found so far', () => expect(files.length).toBeGreaterThanOrEqual(2));
  it.each(files)('%s: no internal error, only valid R4, no value quoted in an outcome', (f) => {
    const results = convertInput(readFileSync(`${HOSTILE_DIR}/${f}`), context());
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      noInternalError(r);
      if (r.status !== 'converted') {
        const text = JSON.stringify(r.outcome);
        for (const v of HOSTILE_VALUES) expect(text, `outcome quotes ${v}`).not.toContain(v);
        continue;
      }
      expect(JSON.stringify(r.converted.bundle)).not.toMatch(/\\u00(0[0-8bcef]|1[0-9a-f])/i);
      expect(checkBundle(r.converted.bundle)).toEqual([]);
    }
  });
});
