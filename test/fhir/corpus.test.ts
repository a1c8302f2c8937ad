import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkBundle } from './fhir-check.ts';
import { CORPUS, convertFile, hl7Files } from './helpers.ts';

/**
 * What each public corpus file gives, and why (docs/conversion.md "Corpus results"). Every one converts except
 * where listed: a rejection must come with an OperationOutcome naming segment and field.
 */
const EXPECTED: Record<string, 'converted' | 'rejected'> = {
  'google-adt_a01.hl7': 'converted',
  'google-adt_a01_ex1.hl7': 'converted',
  'google-adt_a01_ex3.hl7': 'converted',
  'google-adt_a04_ex1.hl7': 'converted',
  'google-adt_a08_ex1.hl7': 'converted',
  'lfh-sample_unix.hl7': 'converted',
  'lfh-sample_win.hl7': 'converted',
  'ms-ADT-A01-01.hl7': 'converted',
  'ms-ADT-A02-01.hl7': 'converted',
  'ms-ADT-A03-01.hl7': 'converted',
  'ms-ADT-A04-02.hl7': 'converted',
  'ms-ADT-A05-02.hl7': 'converted',
  'ms-ADT-A06-02.hl7': 'converted',
  'ms-ADT-A08-01.hl7': 'converted',
  'ms-ADT-A11-01.hl7': 'converted',
  'ms-ADT-A13-02.hl7': 'converted',
  'ms-ADT-A40-02.hl7': 'converted',
  'ms-ADT01-23.hl7': 'converted',
  'ms-ADT04-23.hl7': 'converted',
  'ms-ADT04-251.hl7': 'converted',
  'ms-ADT04-28.hl7': 'converted',
};

describe('public corpus', () => {
  const files = hl7Files(CORPUS);

  it('has the 21 files the manifest lists', () => {
    expect(files.map((f) => basename(f)).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const file of files) {
    const name = basename(file);
    it(`${name} is ${EXPECTED[name]} and every resource passes R4 validation`, () => {
      const results = convertFile(file);
      expect(results).toHaveLength(1);
      const r = results[0]!;
      expect(r.status).toBe(EXPECTED[name]);
      if (r.status === 'converted') expect(checkBundle(r.converted.bundle)).toEqual([]);
      if (r.status === 'rejected') expect(r.outcome.issue[0]?.diagnostics).toMatch(/[A-Z][A-Z0-9]{2}(-\d+)?/);
    });
  }

  it('reads the corpus A40 as two merges, one per PID/MRG pair', () => {
    const [r] = convertFile(`${CORPUS}/ms-ADT-A40-02.hl7`);
    expect(r?.status).toBe('converted');
    if (r?.status === 'converted') expect(r.converted.merges?.map((m) => m.prior[0]?.value)).toEqual(['56789', '569']);
  });

  it('keeps the PV1-45 earlier than PV1-44 of google-adt_a01 out of the period', () => {
    const [r] = convertFile(`${CORPUS}/google-adt_a01.hl7`);
    if (r?.status !== 'converted') throw new Error('expected converted');
    expect(r.converted.encounter?.period?.end).toBeUndefined();
    expect(r.converted.isTest).toBe(true);
  });
});
