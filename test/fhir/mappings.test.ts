import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCodeTables } from '../../src/mappings/codes.ts';
import { MappingError } from '../../src/mappings/load.ts';
import { loadSenderProfiles } from '../../src/mappings/senders.ts';

describe('code tables', () => {
  const codes = loadCodeTables();

  it('maps every NUBC discharge status the issue lists to the FHIR discharge-disposition code', () => {
    const expected: Record<string, string> = {
      '01': 'home',
      '06': 'home',
      '02': 'other-hcf',
      '05': 'other-hcf',
      '43': 'other-hcf',
      '66': 'other-hcf',
      '70': 'other-hcf',
      '03': 'snf',
      '61': 'snf',
      '04': 'long',
      '63': 'long',
      '64': 'long',
      '07': 'aadvice',
      '20': 'exp',
      '40': 'exp',
      '41': 'exp',
      '42': 'exp',
      '50': 'hosp',
      '51': 'hosp',
      '62': 'rehab',
      '65': 'psy',
      '21': 'oth',
      '81': 'home',
      '82': 'other-hcf',
      '83': 'snf',
      '84': 'long',
      '86': 'home',
      '89': 'snf',
      '90': 'rehab',
      '93': 'psy',
      '95': 'other-hcf',
    };
    for (const [nubc, fhir] of Object.entries(expected))
      expect(codes['discharge-disposition'].lookup(nubc)?.code, nubc).toBe(fhir);
    expect(codes['discharge-disposition'].lookup('99')).toBeUndefined();
  });

  it('maps patient class, sex and diagnosis systems as the v2-to-FHIR IG does', () => {
    expect(codes['patient-class'].lookup('e')?.code).toBe('EMER');
    expect(codes['patient-class'].lookup('R')).toBeUndefined();
    expect(codes['administrative-sex'].lookup('F')?.code).toBe('female');
    expect(codes['diagnosis-system'].lookup('I10')?.code).toBe('http://hl7.org/fhir/sid/icd-10-cm');
    expect(codes['diagnosis-system'].lookup('I9')?.code).toBe('http://hl7.org/fhir/sid/icd-9-cm');
    expect(codes['event-status'].lookup('A04')?.code).toBe('in-progress');
  });

  it('rejects an invalid table with an error naming the file and the path inside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codes-'));
    writeFileSync(join(dir, 'bad.yaml'), 'id: patient-class\nsource: x\ntarget: y\nmap:\n  E: { kode: EMER }\n');
    expect(() => loadCodeTables(dir)).toThrow(MappingError);
    expect(() => loadCodeTables(dir)).toThrow(/bad\.yaml: invalid[\s\S]*map\.E/);
  });

  it('names the tables that are missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'codes-'));
    expect(() => loadCodeTables(dir)).toThrow(/missing code table\(s\): patient-class/);
  });
});

describe('sender profiles', () => {
  const profiles = loadSenderProfiles();

  it('loads the three persona senders and resolves them by MSH-3 + MSH-4, case-insensitively', () => {
    expect(profiles.all.map((p) => p.id).sort()).toEqual(['boone-columbia', 'mercy-springfield', 'mo-hie']);
    expect(profiles.resolve('EPIC', 'MERCYSGF')).toMatchObject({ known: true, profile: { id: 'mercy-springfield' } });
    expect(profiles.resolve('meditech', 'boone').profile.id).toBe('boone-columbia');
  });

  it('gives the documented default profile, not known, to a sender with no file', () => {
    const r = profiles.resolve('EPIC', 'ELSEWHERE');
    expect(r.known).toBe(false);
    expect(r.profile.id).toBe('default');
    expect(r.profile.timeZone).toBe('America/Chicago');
  });

  it("matches any application when a profile's MSH-3 is '*'", () => {
    const dir = mkdtempSync(join(tmpdir(), 'senders-'));
    writeFileSync(
      join(dir, 'any.yaml'),
      "id: any-app\nmatch: { sendingApplication: '*', sendingFacility: CAPE }\nfacility: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1', name: Cape }\n",
    );
    const p = loadSenderProfiles(dir);
    expect(p.resolve('ANYTHING', 'CAPE')).toMatchObject({ known: true, profile: { id: 'any-app' } });
    expect(p.resolve('ANYTHING', 'OTHER').known).toBe(false);
  });

  it('rejects a profile with an unknown key, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'senders-'));
    writeFileSync(
      join(dir, 'x.yaml'),
      "id: x\nmatch: { sendingApplication: A, sendingFacility: B }\nfacility: { system: 'http://x.org', value: '1', name: X }\ntimezone: UTC\n",
    );
    expect(() => loadSenderProfiles(dir)).toThrow(/x\.yaml: invalid/);
  });
});
