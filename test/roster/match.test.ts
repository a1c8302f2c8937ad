import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eligibilityOn } from '../../src/roster/eligibility.ts';
import { parseRosterCsv } from '../../src/roster/import-csv.ts';
import { loadMatchConfig } from '../../src/roster/load-match-config.ts';
import { matchPatient } from '../../src/roster/match.ts';
import { buildRosterIndex } from '../../src/roster/roster-index.ts';

const roster = parseRosterCsv(readFileSync('fixtures/roster/roster.csv', 'utf8')).participants;
const config = loadMatchConfig('mappings/matching.yaml');
const index = buildRosterIndex(roster, config);

function patient(p: {
  family: string;
  given: string[];
  birthDate?: string;
  gender?: fhir4.Patient['gender'];
  line?: string;
  zip?: string;
  phone?: string;
  identifier?: fhir4.Identifier[];
}): fhir4.Patient {
  return {
    resourceType: 'Patient',
    name: [{ family: p.family, given: p.given }],
    ...(p.birthDate ? { birthDate: p.birthDate } : {}),
    ...(p.gender ? { gender: p.gender } : {}),
    ...(p.line ? { address: [{ line: [p.line], postalCode: p.zip }] } : {}),
    ...(p.phone ? { telecom: [{ system: 'phone', value: p.phone }] } : {}),
    ...(p.identifier ? { identifier: p.identifier } : {}),
  };
}
const dcn = (value: string) => [{ value, source: 'PID-3' }];

describe('personas', () => {
  it('matches P006 by DCN', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'SMITH', given: ['JOHN'], birthDate: '1980-05-05', gender: 'male' }),
      medicaidIds: dcn('10789012'),
    });
    expect(r).toMatchObject({ status: 'matched', participantId: 'P006', tier: 'dcn' });
    expect(r.reasons.find((x) => x.field === 'dcn')).toMatchObject({ result: 'agree', note: 'primary DCN' });
  });

  it('does not match P007 (same name, birth date one day off, another address, no DCN) to P006', () => {
    const r = matchPatient(index, {
      patient: patient({
        family: 'SMITH',
        given: ['JOHN'],
        birthDate: '1980-05-06',
        gender: 'male',
        line: '12 Oak St',
        zip: '65802',
      }),
      medicaidIds: [],
    });
    expect(r.status).not.toBe('matched');
    expect(r.participantId).toBeUndefined();
    expect(r.reasons.find((x) => x.field === 'birthDate')).toMatchObject({ result: 'partial', note: 'one digit' });
  });

  it('matches P002 through the alias DCN 99887766 with a nickname', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'THOMPSON', given: ['BILL'], birthDate: '1965-11-02', gender: 'male' }),
      medicaidIds: dcn('99887766'),
    });
    expect(r).toMatchObject({ status: 'matched', participantId: 'P002', tier: 'dcn' });
    expect(r.reasons).toContainEqual(expect.objectContaining({ field: 'dcn', note: 'alias DCN' }));
    expect(r.reasons).toContainEqual(expect.objectContaining({ field: 'given', result: 'partial', note: 'nickname' }));
  });

  it('matches P010 with the accents stripped, by demographics alone', () => {
    const r = matchPatient(index, {
      patient: patient({
        family: 'Muller',
        given: ['Zoe'],
        birthDate: '1988-02-29',
        gender: 'female',
        line: '15 Boonville Avenue',
        zip: '65806',
      }),
      medicaidIds: [],
    });
    expect(r).toMatchObject({ status: 'matched', participantId: 'P010', tier: 'demographics' });
    const e = eligibilityOn(index.participant('P010')!, '2026-11-20');
    expect(e.enrolled).toBe(true);
    expect(e.active?.map((a) => a.program).sort()).toEqual(['CMHC', 'PCHH']);
  });

  it('matches P009, who is not enrolled on a date after 2026-11-15', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'GARCIA', given: ['JOSE'], birthDate: '1970-12-25', gender: 'male' }),
      medicaidIds: dcn('10901234'),
    });
    expect(r).toMatchObject({ status: 'matched', participantId: 'P009' });
    const p = index.participant('P009')!;
    expect(eligibilityOn(p, '2026-11-15')).toMatchObject({ enrolled: true, siteId: 'pchh-columbia-central' });
    expect(eligibilityOn(p, '2026-11-16')).toEqual({ enrolled: false, reason: 'not-enrolled-on-date' });
  });

  it('matches P005 by the second part of a hyphenated surname and the nickname Peggy', () => {
    const r = matchPatient(index, {
      patient: patient({
        family: 'KELLY',
        given: ['PEGGY'],
        birthDate: '1952-09-09',
        gender: 'female',
        line: '12 ELM STREET',
        zip: '65201',
      }),
      medicaidIds: [],
    });
    expect(r).toMatchObject({ status: 'matched', participantId: 'P005' });
    expect(r.reasons).toContainEqual(expect.objectContaining({ field: 'family', result: 'partial' }));
  });
});

describe('DCN tier', () => {
  it('sends a DCN hit whose birth date and name both disagree to review', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'DOE', given: ['JANE'], birthDate: '1999-01-01', gender: 'female' }),
      medicaidIds: dcn('10789012'),
    });
    expect(r.status).toBe('possible');
    expect(r.candidates.map((c) => c.participantId)).toContain('P006');
  });

  it('sends a DCN hit to review when the demographics point to another participant', () => {
    const r = matchPatient(index, {
      patient: patient({
        family: 'ALVAREZ',
        given: ['MARIA'],
        birthDate: '1978-03-14',
        gender: 'female',
        line: '1420 N Benton Ave',
        zip: '65803',
        phone: '417-555-0101',
      }),
      medicaidIds: dcn('10789012'),
    });
    expect(r.status).toBe('possible');
    expect(r.candidates.map((c) => c.participantId).sort()).toEqual(['P001', 'P006']);
  });

  it('never takes a Medicare (MC) number for a DCN', () => {
    const r = matchPatient(index, {
      patient: patient({
        family: 'X',
        given: ['Y'],
        birthDate: '1980-05-05',
        identifier: [{ type: { coding: [{ code: 'MC' }] }, value: '10789012' }],
      }),
      medicaidIds: dcn('10789012'),
    });
    expect(r.tier).toBe('demographics');
    expect(r.status).not.toBe('matched');
  });

  it('warns about a DCN that is not 8 digits but still uses it', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'SMITH', given: ['JOHN'], birthDate: '1980-05-05' }),
      medicaidIds: dcn('1078901'),
    });
    expect(r.reasons).toContainEqual(expect.objectContaining({ field: 'dcn', note: 'length 7, expected 8 (PID-3)' }));
  });

  it("keeps leading zeros: 1234567 is not P010's 01234567", () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'MÜLLER', given: ['ZOË'], birthDate: '1988-02-29' }),
      medicaidIds: dcn('01234567'),
    });
    expect(r).toMatchObject({ status: 'matched', tier: 'dcn', participantId: 'P010' });
    const s = matchPatient(index, {
      patient: patient({ family: 'MÜLLER', given: ['ZOË'], birthDate: '1988-02-29' }),
      medicaidIds: dcn('1234567'),
    });
    expect(s.tier).toBe('demographics');
  });
});

describe('demographics tier', () => {
  it('treats a day/month swap as partial agreement', () => {
    const r = matchPatient(index, {
      patient: patient({
        family: 'NGUYEN',
        given: ['LINH'],
        birthDate: '1990-07-21',
        gender: 'female',
        line: '300 South Jefferson Avenue',
        zip: '65806',
      }),
      medicaidIds: [],
    });
    expect(r.status).toBe('matched');
    const swapped = matchPatient(index, {
      patient: patient({
        family: 'ALVAREZ',
        given: ['MARIA'],
        birthDate: '1978-14-03'.replace('14-03', '03-14'),
        gender: 'female',
      }),
      medicaidIds: [],
    });
    expect(swapped.participantId).toBe('P001');
    const ava = matchPatient(index, {
      patient: patient({
        family: 'JOHNSON',
        given: ['AVA'],
        birthDate: '2014-12-04',
        gender: 'female',
        line: '900 West Walnut Street',
        zip: '65806',
        phone: '4175550108',
      }),
      medicaidIds: [],
    });
    expect(ava.reasons.find((x) => x.field === 'birthDate')).toMatchObject({
      result: 'partial',
      note: 'day/month swapped',
    });
    expect(ava.candidates[0]?.participantId).toBe('P008');
  });

  it("finds names entered in each other's fields when the given name is hyphenated", () => {
    const [header] = readFileSync('fixtures/roster/roster.csv', 'utf8').split('\n');
    const white = parseRosterCsv(
      `${header}\nP900,10999999,WHITE,JEAN-CLAUDE,,1940-09-18,M,12 Elm St,Springfield,MO,65803,,PCHH,prov-jordan-valley,pchh-springfield-north,2025-01-01,,\n`,
    ).participants;
    const withWhite = buildRosterIndex([...roster, ...white], config);
    const r = matchPatient(withWhite, {
      patient: patient({ family: 'Jean-Claude', given: ['White'], birthDate: '1940-09-18', gender: 'male' }),
      medicaidIds: [],
    });
    expect(r.candidates[0]?.participantId).toBe('P900');
    expect(r.reasons).toContainEqual(
      expect.objectContaining({ field: 'name', note: 'given and family names swapped' }),
    );
  });

  it('weighs a missing value as nothing, never as a disagreement', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'SMITH', given: ['JOHN'], birthDate: '1980-05-05', gender: 'unknown' }),
      medicaidIds: [],
    });
    expect(r.reasons.find((x) => x.field === 'sex')).toMatchObject({ result: 'missing', weight: 0 });
    expect(r.reasons.find((x) => x.field === 'phone')).toMatchObject({ result: 'missing', weight: 0 });
  });

  it('gives no match for a stranger and never puts values in reasons', () => {
    const r = matchPatient(index, {
      patient: patient({ family: 'ZZYZX', given: ['QUINN'], birthDate: '1901-01-01' }),
      medicaidIds: [],
    });
    expect(r.status).toBe('none');
    expect(JSON.stringify(r)).not.toMatch(/ZZYZX|QUINN|1901/);
  });
});
