import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertInput } from '../../src/fhir/input.ts';
import { checkBundle } from './fhir-check.ts';
import { FIXTURES, context, convertFile, converted, hl7Files } from './helpers.ts';

const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm';
const NUBC = 'https://www.nubc.org/CodeSystem/PatDischargeStatus';
const DD = 'http://terminology.hl7.org/CodeSystem/discharge-disposition';
const codesOf = (m: { conditions: fhir4.Condition[] }) =>
  m.conditions.map((c) => `${c.code?.coding?.[0]?.system}|${c.code?.coding?.[0]?.code}`);

describe('ADT fixtures', () => {
  it('converts every fixture to a message Bundle that passes R4 validation and the code checks', () => {
    const files = hl7Files(FIXTURES);
    expect(files.length).toBeGreaterThanOrEqual(30);
    for (const f of files) {
      for (const r of convertFile(f)) {
        if (f.includes('a28-ignored')) {
          expect(r.status, f).toBe('ignored');
          continue;
        }
        expect(r.status, f).toBe('converted');
        if (r.status === 'converted') expect(checkBundle(r.converted.bundle), f).toEqual([]);
      }
    }
  });

  it('is deterministic: the same message gives the same Bundle', () => {
    const f = join(FIXTURES, 'p001-ed-admit-discharge/03-a03.hl7');
    expect(JSON.stringify(convertFile(f))).toBe(JSON.stringify(convertFile(f)));
  });

  it('follows an ED visit into an admission and a discharge home on one Encounter (p001)', () => {
    const a04 = converted('p001-ed-admit-discharge/01-a04.hl7');
    const a06 = converted('p001-ed-admit-discharge/02-a06.hl7');
    const a03 = converted('p001-ed-admit-discharge/03-a03.hl7');
    expect(a04.encounter?.status).toBe('in-progress');
    expect(a04.encounter?.class.code).toBe('EMER');
    expect(a06.encounter?.class.code).toBe('IMP');
    expect(a03.encounter?.status).toBe('finished');
    expect(new Set([a04.encounter?.id, a06.encounter?.id, a03.encounter?.id]).size).toBe(1);
    expect(a03.visitKey).toBe(a04.visitKey);
    expect(a03.facilityKey).toBe('http://hl7.org/fhir/sid/us-npi|1922000011');
    expect(a03.encounter?.identifier?.[0]?.value).toBe('V1001-01');
    expect(a03.encounter?.period).toEqual({ start: '2026-11-02T08:10:00-06:00', end: '2026-11-05T10:45:00-06:00' });
    expect(a03.encounter?.hospitalization?.dischargeDisposition?.coding).toEqual([
      { system: DD, code: 'home', display: 'Home' },
      { system: NUBC, code: '01' },
    ]);
    expect(a03.dischargeDisposition).toBe('01');
    expect(codesOf(a03)).toEqual([`${ICD10CM}|E11.65`, `${ICD10CM}|I10`, `${ICD10CM}|E11.9`]);
    expect(a03.conditions[0]?.category?.[0]?.coding?.[0]?.code).toBe('encounter-diagnosis');
    expect(a03.encounter?.diagnosis).toHaveLength(3);
    expect(a03.eventTime).toBe('2026-11-05T10:45:00-06:00');
    expect(a03.messageTime).toBe('2026-11-05T11:05:00-06:00');
    expect(a03.mrn).toBe('M1001');
    expect(a03.medicaidIds).toEqual([{ value: '10234567', source: 'PID-3' }]);
    expect(a03.patient.identifier?.map((i) => i.type?.coding?.[0]?.code)).toEqual(['MR', 'MA']);
    expect(a03.patient.birthDate).toBe('1978-03-14');
    expect(a03.patient.gender).toBe('female');
    expect(a03.isTest).toBe(false);
    expect(a03.flags).toEqual({ psychiatricUnit: false, part2: false });
  });

  it('keeps a cancelled discharge in progress without period.end and resolves the HIE relay to Cox South (p002)', () => {
    const a13 = converted('p002-cancelled-discharge/03-a13.hl7');
    expect(a13.encounter?.status).toBe('in-progress');
    expect(a13.encounter?.period?.end).toBeUndefined();
    expect(a13.facilityKey).toBe('http://hl7.org/fhir/sid/us-npi|1922000037');
    const again = converted('p002-cancelled-discharge/04-a03.hl7');
    expect(again.encounter?.status).toBe('finished');
    expect(again.dischargeDisposition).toBe('06');
    expect(again.encounter?.id).toBe(a13.encounter?.id);
  });

  it('flags the psychiatric unit and keeps the prior location of a transfer (p003)', () => {
    const a02 = converted('p003-psych-stay/02-a02.hl7');
    expect(a02.flags.psychiatricUnit).toBe(true);
    expect(a02.encounter?.location?.map((l) => l.status)).toEqual(['active', 'completed']);
    expect(codesOf(converted('p003-psych-stay/03-a03.hl7'))).toContain(`${ICD10CM}|F32.9`);
  });

  it('flags the Part 2 detox unit at Barnes-Jewish relayed by the HIE (p004)', () => {
    const a03 = converted('p004-detox-then-ed-overdose/02-a03.hl7');
    expect(a03.facilityKey).toBe('http://hl7.org/fhir/sid/us-npi|1922000045');
    expect(a03.flags.part2).toBe(true);
    const ed = converted('p004-detox-then-ed-overdose/03-a04.hl7');
    expect(ed.flags.part2).toBe(false);
    expect(ed.encounter?.class.code).toBe('EMER');
    expect(codesOf(ed)).toEqual([`${ICD10CM}|T40.1X1A`]);
    expect(ed.visitKey).not.toBe(a03.visitKey);
  });

  it('reads a death from free-text PV1-36 and the DCN from IN1-36 of the MO HealthNet plan (p005, v2.3)', () => {
    const a03 = converted('p005-death/02-a03.hl7');
    expect(a03.dischargeDisposition).toBe('20');
    expect(a03.encounter?.hospitalization?.dischargeDisposition?.coding?.[0]?.code).toBe('exp');
    expect(a03.encounter?.hospitalization?.dischargeDisposition?.text).toBe('Expired');
    expect(a03.patient.deceasedDateTime).toBe('2026-11-12T04:14:00-06:00');
    expect(a03.medicaidIds).toEqual([{ value: '10678901', source: 'IN1-36' }]);
    expect(a03.coverages).toHaveLength(1);
    expect(a03.coverages[0]?.subscriberId).toBe('10678901');
    expect(a03.patient.name?.map((n) => n.use)).toEqual(['official', 'nickname']);
    expect(a03.version).toBe('2.3');
  });

  it('maps a discharge against medical advice to aadvice (p006)', () => {
    const a03 = converted('p006-ama-discharge/02-a03.hl7');
    expect(a03.encounter?.hospitalization?.dischargeDisposition?.coding?.map((c) => c.code)).toEqual(['aadvice', '07']);
  });

  it('converts the other events with their statuses, ignores A28 and marks MSH-11 T as a test message (p007)', () => {
    const status = (f: string) => converted(`p007-other-events/${f}`).encounter?.status;
    expect(status('01-a05.hl7')).toBe('planned');
    expect(converted('p007-other-events/01-a05.hl7').encounter?.class.code).toBe('PRENC');
    expect(status('02-a01.hl7')).toBe('in-progress');
    expect(status('03-a02.hl7')).toBe('in-progress');
    expect(status('04-a12.hl7')).toBe('in-progress');
    expect(status('05-a08.hl7')).toBe('unknown');
    expect(status('06-a07.hl7')).toBe('in-progress');
    const [ignored] = convertFile(join(FIXTURES, 'p007-other-events/07-a28-ignored.hl7'));
    expect(ignored?.status).toBe('ignored');
    if (ignored?.status === 'ignored')
      expect(ignored.outcome.issue[0]).toMatchObject({ severity: 'information', code: 'not-supported' });
    expect(converted('p007-other-events/08-a08-test-message.hl7').isTest).toBe(true);
    expect(converted('p007-other-events/02-a01.hl7').medicaidIds).toEqual([]);
  });

  it('turns an A40 into Patient.link replaces / replaced-by from MRG-1 (p007-merge)', () => {
    const m = converted('p007-merge/01-a40.hl7');
    expect(m.encounter).toBeUndefined();
    expect(m.visitKey).toBeUndefined();
    expect(m.merges).toHaveLength(1);
    expect(m.merges?.[0]?.prior.map((i) => i.value)).toEqual(['M7999']);
    expect(m.patient.link?.[0]?.type).toBe('replaces');
    const prior = m.bundle.entry
      ?.map((e) => e.resource)
      .find((r) => r?.resourceType === 'Patient' && r.id !== m.patient.id) as fhir4.Patient;
    expect(prior.link?.[0]).toEqual({ other: { reference: `urn:uuid:${m.patient.id}` }, type: 'replaced-by' });
  });

  it('converts a late A03 with no A01 as a finished Encounter (p008)', () => {
    const a03 = converted('p008-late-discharge/01-a03.hl7');
    expect(a03.encounter?.status).toBe('finished');
    expect(a03.encounter?.class.code).toBe('EMER');
  });

  it('cancels an admission with A11; event time falls back to EVN-2 (p009)', () => {
    const a11 = converted('p009-cancelled-admission/02-a11.hl7');
    expect(a11.encounter?.status).toBe('cancelled');
    expect(a11.eventTime).toBe('2026-11-17T11:30:00-06:00');
    expect(a11.encounter?.id).toBe(converted('p009-cancelled-admission/01-a01.hl7').encounter?.id);
  });

  it('decodes 8859/1 bytes so MÜLLER, ZOË survive, resolves observation to OBSENC and keeps the DCN leading zero (p010)', () => {
    const a04 = converted('p010-observation-latin1/01-a04.hl7');
    expect(a04.patient.name?.[0]).toMatchObject({ family: 'MÜLLER', given: ['ZOË'] });
    expect(a04.encounter?.class.code).toBe('OBSENC');
    expect(a04.encounter?.type?.[0]?.coding?.[0]).toEqual({
      system: 'http://terminology.hl7.org/CodeSystem/v2-0004',
      code: 'O',
    });
    expect(a04.medicaidIds).toEqual([{ value: '01234567', source: 'PID-3' }]);
  });

  it('gives the same Encounter for the same story in v2.3 and v2.5.1', () => {
    for (const f of ['01-a01.hl7', '02-a03.hl7']) {
      const a = converted(`version-pair/v2.3/${f}`);
      const b = converted(`version-pair/v2.5.1/${f}`);
      expect(a.encounter).toEqual(b.encounter);
      expect(a.conditions).toEqual(b.conditions);
      expect(a.patient).toEqual(b.patient);
    }
  });

  it('converts several messages of one input in order', () => {
    const files = ['p001-ed-admit-discharge/01-a04.hl7', 'p001-ed-admit-discharge/03-a03.hl7'];
    const input = Buffer.concat(files.map((f) => readFileSync(join(FIXTURES, f))));
    expect(
      convertInput(input, context()).map((r) => (r.status === 'converted' ? r.converted.event : r.status)),
    ).toEqual(['A04', 'A03']);
  });
});
