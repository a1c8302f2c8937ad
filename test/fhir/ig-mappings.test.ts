/**
 * Golden tests for the IG mappings HAPI's validator found wrong (issue 17, items 1–6) and the converter findings
 * of the hostile-input review (issue 12: linear identifier work, control characters, no values in outcomes).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertInput } from '../../src/fhir/input.ts';
import type { ConvertedMessage } from '../../src/fhir/types.ts';
import { loadCodeTables } from '../../src/mappings/codes.ts';
import { senderProfileSchema } from '../../src/mappings/sender-profile.ts';
import { createSenderProfiles } from '../../src/mappings/senders.ts';
import { checkBundle } from './fhir-check.ts';
import { ROOT } from './helpers.ts';

const codes = loadCodeTables(join(ROOT, 'mappings', 'codes'));
const ctx = {
  profiles: createSenderProfiles([
    senderProfileSchema.parse({
      id: 'cape',
      match: { sendingApplication: 'CERNER', sendingFacility: 'CAPE' },
      facility: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1922000099', name: 'Cape Regional' },
    }),
  ]),
  codes,
};
const LOCAL = 'urn:tc-alerts:sender:cape:codesystem';
const V2 = 'http://terminology.hl7.org/CodeSystem';

/** PV1 with the given fields (1-based) set; everything else empty. */
function pv1(fields: Record<number, string>): string {
  const n = Math.max(...Object.keys(fields).map(Number), 1);
  return ['PV1', ...Array.from({ length: n }, (_, i) => fields[i + 1] ?? '')].join('|');
}
function pid(fields: Record<number, string>): string {
  const n = Math.max(...Object.keys(fields).map(Number), 1);
  return ['PID', ...Array.from({ length: n }, (_, i) => fields[i + 1] ?? '')].join('|');
}
function convert(event: string, segments: string[]): ConvertedMessage {
  const text = [
    `MSH|^~\\&|CERNER|CAPE|TC|MOHH|20261101120000||ADT^${event}|CTL-${event}|P|2.5.1`,
    `EVN|${event}|20261101120000`,
    ...segments,
  ].join('\r');
  const [r] = convertInput(text, ctx);
  if (r?.status !== 'converted') throw new Error(`expected converted, got ${r?.status}`);
  return r.converted;
}
const basicPid = pid({ 3: 'M1^^^CAPE^MR', 5: 'DOE^JANE', 7: '19800101', 8: 'F' });
const basicPv1 = (extra: Record<number, string> = {}) =>
  pv1({ 2: 'I', 3: '4W^410^A^CAPE', 7: '1003^PATEL^ANIL', 19: 'V9', 44: '20261101110000', ...extra });

describe('IG mappings (issue 17)', () => {
  it('1. references every entry by its fullUrl, so each resolves inside the Bundle', () => {
    const m = convert('A01', [
      basicPid,
      basicPv1(),
      'DG1|1||I10^Essential hypertension^I10',
      'IN1|1|MOHN|MOHN01|MO HealthNet',
    ]);
    const fullUrls = new Set(m.bundle.entry!.map((e) => e.fullUrl));
    const refs = [...JSON.stringify(m.bundle).matchAll(/"reference":"([^"]+)"/g)].map((x) => x[1]!);
    expect(refs.length).toBeGreaterThan(8);
    expect(refs.filter((r) => !fullUrls.has(r))).toEqual([]);
    expect(m.encounter!.subject!.reference).toBe(`urn:uuid:${m.patient.id}`);
    expect(m.encounter!.diagnosis![0]!.condition.reference).toBe(`urn:uuid:${m.conditions[0]!.id}`);
  });

  it("2. files local codes under the sender's own system, never under the HL7 table that lacks them", () => {
    const m = convert('A01', [
      pid({ 3: 'M1^^^CAPE^MR~N77^^^CAPE^NHSNMBR', 5: 'DOE^JANE', 8: 'F' }),
      'NK1|1|DOE^JOHN|Spouse^Spouse',
      'NK1|2|DOE^ANN|MTH^Mother',
      basicPv1({ 4: '28b', 10: 'PSY', 14: '19' }),
    ]);
    const types = m.patient.identifier!.map((i) => i.type?.coding?.[0]);
    expect(types).toEqual([
      { system: `${V2}/v2-0203`, code: 'MR', display: 'Medical record number' },
      { system: `${LOCAL}:v2-0203`, code: 'NHSNMBR' },
    ]);
    expect(m.patient.contact!.map((c) => c.relationship![0]!.coding![0])).toEqual([
      { system: `${LOCAL}:v2-0063`, code: 'Spouse' },
      { system: `${V2}/v2-0063`, code: 'MTH' },
    ]);
    const e = m.encounter!;
    expect(e.serviceType!.coding![0]).toEqual({
      system: `${LOCAL}:v2-0069`,
      code: 'PSY',
      display: 'Psychiatric Service',
    });
    expect(e.type![0]!.coding![0]).toEqual({ system: `${LOCAL}:v2-0007`, code: '28b' });
    expect(e.hospitalization!.admitSource!.coding).toEqual([{ system: `${LOCAL}:v2-0023`, code: '19' }]);
  });

  it('2. keeps an HL7 code under the HL7 table (MED, admit source 7, class I)', () => {
    const e = convert('A01', [basicPid, basicPv1({ 10: 'MED', 14: '7' })]).encounter!;
    expect(e.serviceType!.coding![0]!.system).toBe(`${V2}/v2-0069`);
    expect(e.hospitalization!.admitSource!.coding![1]).toEqual({ system: `${V2}/v2-0023`, code: '7' });
    expect(e.extension![0]!.valueCoding).toEqual({ system: `${V2}/v2-0004`, code: 'I' });
  });

  it('3. keeps PV1-36 in the coding system the sender names (PV1-36.3), not relabelled as v2-0112', () => {
    const e = convert('A03', [basicPid, basicPv1({ 36: 'x^Left with family^ACR', 45: '20261102110000' })]).encounter!;
    expect(e.hospitalization!.dischargeDisposition).toEqual({
      coding: [{ system: `${LOCAL}:ACR`, code: 'x', display: 'Left with family' }],
      text: 'Left with family',
    });
  });

  it('4. keeps PID-19 beside a different PID-3 SSN, and maps PID-20 (driver licence) with its state', () => {
    const m = convert('A01', [
      pid({ 3: 'M1^^^CAPE^MR~111-22-3333^^^SSA^SS', 5: 'DOE^JANE', 19: '444-55-6666', 20: 'D1234567^MO^20301231' }),
      basicPv1(),
    ]);
    const ids = m.patient.identifier!.map((i) => ({
      system: i.system,
      value: i.value,
      type: i.type?.coding?.[0]?.code,
    }));
    expect(ids).toEqual([
      { system: 'urn:tc-alerts:authority:CAPE', value: 'M1', type: 'MR' },
      { system: 'http://hl7.org/fhir/sid/us-ssn', value: '111-22-3333', type: 'SS' },
      { system: 'http://hl7.org/fhir/sid/us-ssn', value: '444-55-6666', type: 'SS' },
      { system: 'urn:tc-alerts:drivers-license:MO', value: 'D1234567', type: 'DL' },
    ]);
    expect(m.patient.identifier![3]!.period).toEqual({ end: '2030-12-31' });
    // The same SSN in PID-3 and PID-19 is one identifier.
    const same = convert('A01', [pid({ 3: 'M1^^^CAPE^MR~111-22-3333^^^SSA^SS', 19: '111-22-3333' }), basicPv1()]);
    expect(same.patient.identifier!.filter((i) => i.system === 'http://hl7.org/fhir/sid/us-ssn')).toHaveLength(1);
  });

  it('5. converts an A05 with a discharge date to a planned Encounter (pre-admit)', () => {
    const e = convert('A05', [basicPid, basicPv1({ 45: '20261105100000' })]).encounter!;
    expect(e.status).toBe('planned');
  });

  it('6. types a visit keyed by the account number (PID-18, PV1-19 empty) as AN and says so in a warning', () => {
    const m = convert('A01', [pid({ 3: 'M1^^^CAPE^MR', 5: 'DOE^JANE', 18: 'ACCT77' }), basicPv1({ 19: '' })]);
    expect(m.encounter!.identifier![0]!.value).toBe('ACCT77');
    expect(m.encounter!.identifier![0]!.type!.coding![0]!.code).toBe('AN');
    expect(m.visitKey).toContain('|PID-18|');
    expect(m.warnings).toContain('PV1-19 empty: visit keyed by the account number (PID-18), typed AN');
    expect(m.warnings.join(' ')).not.toContain('ACCT77');
  });
});

describe('converter under hostile input (issue 12)', () => {
  it('replaces C0 control characters in FHIR strings and names the field in a warning, never the value', () => {
    const m = convert('A01', [pid({ 3: 'M1^^^CAPE^MR', 5: 'DO\u0001E^JA\\X07\\NE', 7: '19800101' }), basicPv1()]);
    expect(m.patient.name![0]).toMatchObject({ family: 'DO\uFFFDE', given: ['JA\uFFFDNE'] });
    expect(JSON.stringify(m.bundle)).not.toMatch(/\\u000[0-8]|\\u001[0-9a-f]/i);
    expect(checkBundle(m.bundle)).toEqual([]);
    const w = m.warnings.find((x) => x.startsWith('control characters'));
    expect(w).toBe('control characters replaced in FHIR strings (PID-5)');
  });

  it('makes white space in codes single (tab, no-break space, BOM, \\.br\\, doubled or at either end) and warns', () => {
    const m = convert('A01', [
      pid({ 3: 'M1^^^CAPE^MR', 5: 'DOE^JANE', 7: '19800101' }),
      'NK1|1||MTH',
      basicPv1({ 2: ' I\t', 10: 'ME\u00a0 D', 14: '\ufeff7' }),
      'DG1|1||K80.2\\.br\\0^Calculus^I10|||A',
    ]);
    const e = m.encounter!;
    expect(e.class.code).toBe('IMP'); // looked up trimmed
    expect(e.serviceType?.coding?.[0]?.code).toBe('ME D');
    expect(m.conditions[0]!.code!.coding![0]!.code).toBe('K80.2 0');
    expect(checkBundle(m.bundle)).toEqual([]);
    expect(m.warnings).toContain(
      'white space in codes made single (FHIR code: no leading, trailing or doubled spaces)',
    );
    // pat-1: an NK1 with a relationship and nothing to reach the person by is left out, with a warning.
    expect(m.patient.contact).toBeUndefined();
    expect(m.warnings).toContain('NK1 with a relationship but no name or telephone: contact left out');
  });

  it('reads codes named like Object.prototype members (PV1-2 "constructor", PV1-14 "toString") as plain codes', () => {
    const e = convert('A01', [basicPid, basicPv1({ 2: 'constructor', 14: 'toString', 36: 'valueOf' })]).encounter!;
    expect(e.class).toEqual({ system: `${LOCAL}:v2-0004`, code: 'constructor' });
    expect(e.hospitalization!.admitSource!.coding).toEqual([{ system: `${LOCAL}:v2-0023`, code: 'toString' }]);
    const p = convert('A01', [pid({ 3: 'M1^^^constructor^MR' }), basicPv1()]).patient;
    expect(p.identifier![0]!.system).toBe('urn:tc-alerts:authority:constructor');
  });

  it('never quotes a non-code MSH-9.2 or EVN-1 in an ignored outcome', () => {
    const text = [
      'MSH|^~\\&|CERNER|CAPE|TC|MOHH|20261101120000||ADT^ALVAREZ MARIA|CTL-X|P|2.5.1',
      'EVN||20261101120000',
      basicPid,
    ].join('\r');
    const [r] = convertInput(text, ctx);
    expect(r?.status).toBe('ignored');
    expect(JSON.stringify(r)).not.toContain('ALVAREZ');
    if (r?.status === 'ignored') {
      expect(r.outcome.issue[0]!.diagnostics).toBe(
        'message CTL-X: the event in MSH-9.2/EVN-1 (not an event code) is not handled',
      );
      expect(r.event).toBeUndefined();
    }
    const [q] = convertInput(text.replace('ADT^ALVAREZ MARIA', 'ADT^Q05'), ctx);
    if (q?.status === 'ignored')
      expect(q.outcome.issue[0]!.diagnostics).toBe('message CTL-X: event Q05 is not handled');
  });

  it('keeps each identifier once across 20,000 PID-2/PID-3 repetitions and DCN candidates once per source', () => {
    const reps = Array.from({ length: 10_000 }, (_, i) => `${i % 5000}^^^CAPE^MA`).join('~');
    const m = convert('A01', [pid({ 2: reps, 3: reps, 5: 'DOE^JANE' }), basicPv1()]);
    expect(m.patient.identifier).toHaveLength(5000);
    expect(m.medicaidIds).toHaveLength(5000);
  });

  it('reads only the NK1s of their own PID among 20,000', () => {
    const nk1 = Array.from({ length: 20_000 }, (_, i) => `NK1|${i + 1}|DOE^N${i}|MTH`);
    const m = convert('A01', [basicPid, ...nk1, basicPv1(), 'NK1|x|AFTER^PV1|MTH']);
    expect(m.patient.contact).toHaveLength(20_000);
  });
});
