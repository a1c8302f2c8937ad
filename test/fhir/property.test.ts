import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertInput } from '../../src/fhir/input.ts';
import { CORPUS, FIXTURES, context, hl7Files } from './helpers.ts';

const seeds = [...hl7Files(FIXTURES).slice(0, 12), ...hl7Files(CORPUS).slice(0, 6)].map((f) =>
  readFileSync(f, 'latin1'),
);
const DELIMS = ['|', '^', '~', '\\', '&', '\r', '\n', '"', 'MSH', 'PID', 'PV1', ''];

/** A random edit of a valid message: delete, duplicate or replace a span, or insert HL7 delimiters. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.nat(40), fc.oneof(fc.constantFrom(...DELIMS), fc.string({ maxLength: 6 }))), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [at, len, ins] of edits) {
      const i = at % (s.length + 1);
      s = s.slice(0, i) + ins + s.slice(i + (len % 3 === 0 ? len : 0));
    }
    return s;
  });

describe('property: mutated messages', () => {
  it('never throw from convertInput and each gives converted, ignored or rejected', () => {
    const ctx = context();
    fc.assert(
      fc.property(mutated, fc.boolean(), (text, asBytes) => {
        const results = convertInput(asBytes ? Buffer.from(text, 'latin1') : text, ctx);
        expect(results.length).toBeGreaterThan(0);
        for (const r of results) {
          expect(['converted', 'ignored', 'rejected']).toContain(r.status);
          if (r.status !== 'converted') expect(r.outcome.resourceType).toBe('OperationOutcome');
          else expect(r.converted.bundle.entry?.[0]?.resource?.resourceType).toBe('MessageHeader');
        }
      }),
      { numRuns: 400, seed: 20261123 },
    );
  });
});
