import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRosterBundle, rosterToBundle } from '../../src/roster/fhir-roster.ts';
import { parseRosterCsv, rejectsCsv } from '../../src/roster/import-csv.ts';
import { loadColumnMapping } from '../../src/roster/load-column-mapping.ts';

const read = (f: string) => readFileSync(f, 'utf8');

describe('roster CSV import', () => {
  it('imports the example roster: 9 participants, 10 enrollments, P007 absent', () => {
    const r = parseRosterCsv(read('fixtures/roster/roster.csv'));
    expect(r.errors).toEqual([]);
    expect(r.participants.map((p) => p.participantId)).toEqual([
      'P001',
      'P002',
      'P003',
      'P004',
      'P005',
      'P006',
      'P008',
      'P009',
      'P010',
    ]);
    expect(r.enrollments).toBe(10);
    const p2 = r.participants.find((p) => p.participantId === 'P002')!;
    expect([p2.dcn, p2.aliasDcns]).toEqual(['10345678', ['99887766']]);
    expect(r.participants.find((p) => p.participantId === 'P010')!.dcn).toBe('01234567');
    expect(r.participants.find((p) => p.participantId === 'P009')!.enrollments[0]!.end).toBe('2026-11-15');
  });

  it.each([
    ['bad-date', 2],
    ['unknown-program', 2],
    ['duplicate-participant', 3],
    ['overlapping-enrollment', 3],
    ['unknown-sex', 2],
    ['bad-dcn', 2],
    ['unknown-condition', 2],
    ['end-before-start', 2],
    ['missing-field', 2],
    ['unidentified', 2],
    ['bad-header', 1],
    ['bad-column-count', 2],
  ])('rejects %s on line %i, naming the reason but no value', (code, line) => {
    const r = parseRosterCsv(read(`fixtures/roster/bad/${code}.csv`));
    expect(r.errors).toContainEqual(expect.objectContaining({ code, line }));
    expect(JSON.stringify(r.errors)).not.toMatch(/TESTER|1980-02-30|HCHH|gout/);
  });

  it('rejects a file that is not CSV and an empty file', () => {
    expect(parseRosterCsv(read('fixtures/roster/bad/csv-syntax.csv')).errors[0]!.code).toBe('csv-syntax');
    expect(parseRosterCsv(read('fixtures/roster/bad/empty.csv')).errors[0]!.code).toBe('empty-file');
  });

  it('keeps the valid rows of a mixed file and lists the rejects with their lines', () => {
    const r = parseRosterCsv(read('fixtures/roster/bad/mixed.csv'));
    expect(r.participants.map((p) => p.participantId)).toEqual(['P121', 'P123']);
    expect(r.rejects.map((x) => x.line)).toEqual([3, 5]);
    const out = rejectsCsv(r).trim().split('\n');
    expect(out[0]).toMatch(/,reject_line,reject_reason$/);
    expect(out[1]).toMatch(/,3,bad-date: /);
  });

  it('warns about a DCN that is not 8 digits without rejecting it', () => {
    const text = read('fixtures/roster/roster.csv').replace('P003,10456789', 'P003,1045678');
    const r = parseRosterCsv(text);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toContainEqual(expect.objectContaining({ code: 'dcn-length', line: 4 }));
  });

  it('reads another layout through a column-mapping file', () => {
    const mapping = loadColumnMapping('mappings/roster-columns.example.yaml');
    const csv = [
      'MemberID,MedicaidID,Last,First,DOB,Gender,Program,ProviderID,SiteID,Start,End,Conditions',
      'P201,20000201,TESTER,ROSE,03/04/1975,Female,Primary Care Health Home,prov-swope,pchh-kc-east,01/01/2025,,DM',
    ].join('\n');
    const r = parseRosterCsv(csv, { mapping });
    expect(r.errors).toEqual([]);
    expect(r.participants[0]).toMatchObject({
      birthDate: '1975-03-04',
      sex: 'F',
      enrollments: [{ program: 'PCHH', conditions: ['diabetes'], start: '2025-01-01' }],
    });
  });
});

describe('roster FHIR import', () => {
  it('reads the example Bundle (Patients + ATR Group) into the same roster as the CSV', () => {
    const csv = parseRosterCsv(read('fixtures/roster/roster.csv'));
    const fhir = parseRosterBundle(JSON.parse(read('fixtures/roster/roster.bundle.json')));
    expect(fhir.errors).toEqual([]);
    expect(fhir.participants).toEqual(csv.participants);
  });

  it('rejects a member with an unknown program and one whose Patient is missing', () => {
    const bundle = rosterToBundle(parseRosterCsv(read('fixtures/roster/roster.csv')).participants);
    const group = bundle.entry!.find((e) => e.resource?.resourceType === 'Group')!.resource as fhir4.Group;
    group.member![0]!.extension!.find((x) => x.valueCode === 'PCHH')!.valueCode = 'XX';
    group.member![1]!.entity.reference = 'Patient/nobody';
    const r = parseRosterBundle(bundle);
    expect(r.errors.map((e) => [e.code, e.location])).toEqual([
      ['unknown-program', 'Group/mo-hh-roster.member[0]'],
      ['unknown-patient', 'Group/mo-hh-roster.member[1]'],
    ]);
  });
});

describe('roster rows with gaps', () => {
  it('loads rows lacking a name part, a birth date, a sex or a DCN, each a warning with its line', () => {
    const r = parseRosterCsv(read('fixtures/roster/gaps.csv'));
    expect(r.errors).toEqual([]);
    expect(r.participants.map((p) => p.participantId)).toEqual(['P201', 'P202', 'P203', 'P204']);
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ line: 2, code: 'missing-name', message: 'family_name is empty' }),
        expect.objectContaining({ line: 3, code: 'missing-name', message: 'given_name is empty' }),
        expect.objectContaining({ line: 4, code: 'missing-dcn' }),
        expect.objectContaining({ line: 4, code: 'missing-sex' }),
        expect.objectContaining({ line: 5, code: 'missing-birth-date' }),
      ]),
    );
    expect(r.participants[2]).toMatchObject({ dcn: '', sex: 'U' });
    expect(JSON.stringify(r.warnings)).not.toMatch(/TESTER|CARLA|1971/);
  });

  it('loads a FHIR Patient without a name or a gender, with a warning', () => {
    const bundle = rosterToBundle(parseRosterCsv(read('fixtures/roster/gaps.csv')).participants);
    const r = parseRosterBundle(bundle);
    expect(r.errors).toEqual([]);
    expect(r.participants).toHaveLength(4);
    expect(r.warnings.filter((w) => w.code === 'missing-name')).toHaveLength(2);
  });
});
