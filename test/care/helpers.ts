import { join } from 'node:path';
import { loadRuleSet } from '../../src/care/load-rules.ts';
import type { RuleSet } from '../../src/care/rule-set.ts';
import type { ConvertedMessage } from '../../src/fhir/types.ts';
import type { Eligibility, Participant } from '../../src/roster/types.ts';

export const MAPPINGS = join(import.meta.dirname, '../../mappings');
let cached: RuleSet | undefined;
export function defaultRules(): RuleSet {
  cached ??= loadRuleSet(MAPPINGS);
  return cached;
}

const FACILITY = 'http://hl7.org/fhir/sid/us-npi|1922000011';

export interface MsgSpec {
  event: string;
  visit?: string;
  controlId?: string;
  eventTime: string;
  classCode?: string;
  admit?: string;
  discharge?: string;
  disposition?: string;
  dx?: { code: string; rank?: number }[];
  psych?: boolean;
  part2?: boolean;
}

/** A ConvertedMessage as the converter gives it, built directly for planner unit tests. */
export function converted(s: MsgSpec): ConvertedMessage {
  const visit = s.visit ?? 'V1';
  const conditions: fhir4.Condition[] = (s.dx ?? []).map((d, i) => ({
    resourceType: 'Condition',
    id: `c${i}`,
    subject: { reference: 'Patient/p' },
    code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: d.code }] },
  }));
  const encounter: fhir4.Encounter = {
    resourceType: 'Encounter',
    id: `enc-${visit}`,
    identifier: [{ system: 'urn:test:visit', value: visit }],
    status: s.event === 'A03' ? 'finished' : 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: s.classCode ?? 'IMP' },
    ...(s.admit || s.discharge
      ? { period: { ...(s.admit ? { start: s.admit } : {}), ...(s.discharge ? { end: s.discharge } : {}) } }
      : {}),
    diagnosis: (s.dx ?? []).map((d, i) => ({
      condition: { reference: `Condition/c${i}` },
      ...(d.rank ? { rank: d.rank } : {}),
    })),
  };
  return {
    bundle: { resourceType: 'Bundle', type: 'message', entry: [] },
    event: s.event,
    controlId: s.controlId ?? `${s.event}-${s.eventTime}`,
    sendingFacility: 'MERCYSGF',
    profileId: 'mercy-springfield',
    facilityKey: FACILITY,
    visitKey: `${FACILITY}|${visit}`,
    eventTime: s.eventTime,
    messageTime: s.eventTime,
    isTest: false,
    patient: { resourceType: 'Patient' },
    encounter,
    conditions,
    coverages: [],
    medicaidIds: [],
    flags: { psychiatricUnit: s.psych ?? false, part2: s.part2 ?? false },
    ...(s.disposition ? { dischargeDisposition: s.disposition } : {}),
    warnings: [],
  };
}

export function participant(over: Partial<Participant> = {}): Participant {
  return {
    participantId: 'P001',
    dcn: '10234567',
    aliasDcns: [],
    familyName: 'ALVAREZ',
    givenName: 'MARIA',
    previousNames: [],
    birthDate: '1978-03-14',
    sex: 'F',
    enrollments: [
      {
        program: 'PCHH',
        providerId: 'prov-jordan-valley',
        siteId: 'pchh-springfield-north',
        start: '2025-01-01',
        conditions: ['diabetes'],
      },
    ],
    ...over,
  };
}

export function enrolled(
  sites: { program: 'PCHH' | 'CMHC'; siteId: string }[] = [{ program: 'PCHH', siteId: 'pchh-springfield-north' }],
): Eligibility {
  return {
    enrolled: true,
    program: sites[0]!.program,
    siteId: sites[0]!.siteId,
    providerId: 'prov',
    reason: 'enrolled',
    active: sites.map((s) => ({ ...s, providerId: 'prov' })),
  };
}
