import { describe, expect, it } from 'vitest';
import type { SegmentView } from '../../src/hl7/types.ts';
import { hl7Unescape, parseMessage } from '../../src/hl7/index.ts';
import { trimLine } from '../../src/hl7/parse.ts';
import { HOSTILE_SHAPES, hostileMessage } from '../fixtures/hostile.ts';
import { stringSearches } from '../helpers/string-searches.ts';

// Regression fixtures of issue 12. On the old code the 2 MB whitespace run took tens of minutes (quadratic trim)
// and the big \X…\ escape threw a RangeError; the generous timeout only keeps a regression from hanging CI.
const BIG = 2 * 1024 * 1024;

function parsed(text: string) {
  const r = parseMessage(text);
  if (!r.ok) throw new Error(r.problem.reason);
  return r.message;
}

describe('hostile input to the parser (issue 12)', () => {
  it('parses a 2 MB whitespace run inside a field, keeping the inner spaces and trimming only the ends', () => {
    const msg = parsed(hostileMessage('whitespace', BIG) + ' '.repeat(1000));
    const family = msg.segment('PID')!.get(5)!;
    expect(family.length).toBeGreaterThan(BIG);
    expect(family.startsWith('TESTER ')).toBe(true);
    expect(family.endsWith(' X')).toBe(true);
    expect(msg.text.endsWith(' ')).toBe(false);
  }, 120_000);

  it('trims like String.trim on every kind of whitespace, including the BOM', () => {
    for (const s of ['', ' ', '  a  ', '\t\u00a0a b\u3000', '\ufeffMSH|x \u2028', 'a', '\u200bz\u200b']) {
      expect(trimLine(s)).toBe(s.trim());
    }
  });

  it('decodes a 1 MB \\X…\\ escape instead of throwing a RangeError', () => {
    const bytes = 1024 * 1024;
    expect(hl7Unescape(`a\\X${'41'.repeat(bytes)}\\b`)).toBe(`a${'A'.repeat(bytes)}b`);
    // high bytes that are not UTF-8 fall back to 8859/1, one character per byte
    expect(hl7Unescape(`\\X${'E9'.repeat(bytes)}\\`)).toBe('\u00e9'.repeat(bytes));
    const msg = parsed(hostileMessage('escapes', BIG));
    expect(msg.segment('PID')!.get(5)).toMatch(/^TESTERA+$/);
  }, 120_000);

  it('finds the next segment of a name after an index among 50,000 of them', () => {
    const msg = parsed(hostileMessage('nk1', 50_000 * 20));
    const nk1 = msg.all('NK1');
    expect(nk1.length).toBeGreaterThan(40_000);
    let at = -1;
    let seen = 0;
    for (let s = msg.segment('NK1', at); s; s = msg.segment('NK1', at)) {
      expect(s.index).toBeGreaterThan(at);
      at = s.index;
      seen++;
    }
    expect(seen).toBe(nk1.length);
    expect(msg.segment('NK1', nk1[10]!.index)).toBe(nk1[11]);
    expect(msg.segment('PV1', 0)?.name).toBe('PV1');
  }, 120_000);

  it.each(HOSTILE_SHAPES)(
    'parses the %s fixture at 1 MB with the header intact',
    (shape) => {
      const msg = parsed(hostileMessage(shape, 1024 * 1024));
      expect(msg.header.controlId).toBe(`HOSTILE-${shape}`);
      expect(msg.segment('PV1')).toBeDefined();
    },
    120_000,
  );
});

/** Reads every repetition of PID-3 the way the converter loops over them. */
function readAllRepetitions(pid: SegmentView): void {
  for (let r = 0; r < pid.repCount(3); r++) pid.get(3, 1, 1, r);
}

describe('bounded work in the parser (issue 12)', () => {
  it('reads n repetitions of a field with work proportional to n, not n²', () => {
    const searches = (n: number) => {
      const f3 = Array.from({ length: n }, (_, i) => `M${i}^^^MERCY^MR`).join('~');
      const pid = parsed(`MSH|^~\\&|A|B|C|D|20261101||ADT^A01|X|P|2.5.1\rPID|1||${f3}||DOE^JANE`).segment('PID')!;
      return stringSearches(() => readAllRepetitions(pid));
    };
    const small = searches(1000);
    const large = searches(4000);
    // Linear: 4× the repetitions, about 4× the searches. A scan per repCount call gives 16×.
    expect(large / small).toBeLessThan(5);
    expect(large).toBeLessThan(4000 * 10);
  });
});
