import { describe, expect, it } from 'vitest';
import { convertInput } from '../../src/fhir/input.ts';
import { loadCodeTables } from '../../src/mappings/codes.ts';
import { senderProfileSchema } from '../../src/mappings/sender-profile.ts';
import { createSenderProfiles } from '../../src/mappings/senders.ts';
import { ROOT } from './helpers.ts';
import { join } from 'node:path';

const codes = loadCodeTables(join(ROOT, 'mappings', 'codes'));
const profile = (extra: Record<string, unknown>) =>
  senderProfileSchema.parse({
    id: 'cape',
    match: { sendingApplication: 'CERNER', sendingFacility: 'CAPE' },
    facility: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1922000099', name: 'Cape Regional' },
    ...extra,
  });
const msg = (event: string, pid3: string, extra = '') =>
  [
    `MSH|^~\\&|CERNER|CAPE|TC|MOHH|20261101120000||ADT^${event}|CTL-${event}|P|2.5.1`,
    `EVN|${event}|20261101120000`,
    `PID|1||${pid3}||DOE^JANE||19800101|F`,
    `PV1|1|E|ED^1^^CAPE||||||||||||||||V9^^^CAPE^VN|||||||||||||||||ZZ||||||||20261101110000`,
    extra,
  ]
    .filter(Boolean)
    .join('\r');

describe('sender profile rules in conversion', () => {
  it('ignores an event the profile does not enable', () => {
    const ctx = { profiles: createSenderProfiles([profile({ events: ['A01', 'A03'] })]), codes };
    const [r] = convertInput(msg('A04', 'M1^^^CAPE^MR'), ctx);
    expect(r?.status).toBe('ignored');
    if (r?.status === 'ignored')
      expect(r.outcome.issue[0]?.diagnostics).toMatch(/A04 is not enabled for sender profile cape/);
  });

  it('never takes MC (the Medicare number) as the DCN, even under a Medicaid authority, and keeps leading zeros', () => {
    const ctx = {
      profiles: createSenderProfiles([profile({ medicaidId: { pid3Authorities: ['MOHEALTHNET'] } })]),
      codes,
    };
    const [r] = convertInput(msg('A04', 'M1^^^CAPE^MR~1EG4TE5MK72^^^MOHEALTHNET^MC~0012-3456^^^MOHEALTHNET^MA'), ctx);
    if (r?.status !== 'converted') throw new Error('expected converted');
    expect(r.converted.medicaidIds).toEqual([{ value: '00123456', source: 'PID-3' }]);
  });

  it('reads the DCN from IN1-49 of a plan marked by company id', () => {
    const ctx = {
      profiles: createSenderProfiles([
        profile({ medicaidId: { insuranceFields: ['IN1-49'], insuranceCompanyIds: ['MHN'] } }),
      ]),
      codes,
    };
    const in1 = 'IN1|1|PLAN1|MHN|MO HEALTHNET' + '|'.repeat(45) + '10999999';
    const [r] = convertInput(msg('A04', 'M1^^^CAPE^MR', in1), ctx);
    if (r?.status !== 'converted') throw new Error('expected converted');
    expect(r.converted.medicaidIds).toEqual([{ value: '10999999', source: 'IN1-49' }]);
    expect(r.converted.coverages[0]?.subscriberId).toBe('10999999');
  });

  it("keeps an unmapped PV1-36 under the sender's own table 0112 system and resolves an alias to NUBC", () => {
    const plain = { profiles: createSenderProfiles([profile({})]), codes };
    const [a] = convertInput(msg('A03', 'M1^^^CAPE^MR'), plain);
    if (a?.status !== 'converted') throw new Error('expected converted');
    expect(a.converted.encounter?.hospitalization?.dischargeDisposition?.coding).toEqual([
      { system: 'urn:tc-alerts:sender:cape:codesystem:v2-0112', code: 'ZZ' },
    ]);
    expect(a.converted.dischargeDisposition).toBeUndefined();
    expect(a.converted.warnings.join(' ')).not.toContain('ZZ');
    const aliased = {
      profiles: createSenderProfiles([profile({ codeAliases: { dischargeDisposition: { zz: '62' } } })]),
      codes,
    };
    const [b] = convertInput(msg('A03', 'M1^^^CAPE^MR'), aliased);
    if (b?.status !== 'converted') throw new Error('expected converted');
    expect(b.converted.dischargeDisposition).toBe('62');
    expect(b.converted.encounter?.hospitalization?.dischargeDisposition?.coding?.[0]?.code).toBe('rehab');
  });

  it('uses the default profile for an unknown sender and scopes identifiers to it', () => {
    const ctx = { profiles: createSenderProfiles([]), codes };
    const [r] = convertInput(msg('A01', 'M1^^^CAPE^MR'), ctx);
    if (r?.status !== 'converted') throw new Error('expected converted');
    expect(r.converted.profileId).toBe('default');
    // 2026-11-01 11:00 is after the DST change at 02:00 that morning: Central Standard Time.
    expect(r.converted.encounter?.period?.start).toBe('2026-11-01T11:00:00-06:00');
    expect(r.converted.facilityKey).toBe('urn:tc-alerts:unknown-facility|unknown');
    expect(r.converted.patient.identifier?.[0]?.system).toBe('urn:tc-alerts:authority:CAPE');
  });
});
