import { SITE_IDENTIFIER_SYSTEM } from '../care/types.ts';
import type { RosterImport } from './import-csv.ts';
import { addRosterWarnings } from './import-csv.ts';
import type { ConditionCode, Enrollment, Participant, Program, RosterIssue } from './types.ts';
import { validateParticipant } from './validate.ts';

/**
 * The roster as FHIR R4: a Bundle of Patients plus a Group shaped like the Da Vinci ATR member-attribution
 * Group (member.entity → Patient, member.period → enrollment, ext-attributedProvider → the site Organization).
 * The program and the qualifying conditions ride on member extensions of our own (docs/roster.md).
 */
export const PARTICIPANT_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/participant';
export const DCN_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/mo-dcn';
export const PROVIDER_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/provider';
export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
export const ATR_ATTRIBUTED_PROVIDER = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-attributedProvider';
export const ATR_CHANGE_TYPE = 'http://hl7.org/fhir/us/davinci-atr/StructureDefinition/ext-changeType';
export const PROGRAM_EXTENSION = 'https://tc-alerts.mo-hh.org/fhir/StructureDefinition/health-home-program';
export const CONDITION_EXTENSION = 'https://tc-alerts.mo-hh.org/fhir/StructureDefinition/qualifying-condition';
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

function typeCodes(id: fhir4.Identifier): string[] {
  return (id.type?.coding ?? []).filter((c) => !c.system || c.system === V2_0203).map((c) => c.code ?? '');
}

const GENDER_TO_SEX: Record<string, Participant['sex']> = { female: 'F', male: 'M', other: 'O', unknown: 'U' };

function patientDemographics(
  p: fhir4.Patient,
  issues: RosterIssue[],
  location: string,
): Omit<Participant, 'enrollments'> | undefined {
  const err = (code: string, message: string): void => {
    issues.push({ location, code, message });
  };
  const participantId = p.identifier?.find((i) => i.system === PARTICIPANT_SYSTEM)?.value ?? p.id ?? '';
  const dcnIds = (p.identifier ?? []).filter(
    (i) => i.system === DCN_SYSTEM || (typeCodes(i).includes('MA') && !typeCodes(i).includes('MC')),
  );
  const primary = dcnIds.find((i) => i.use !== 'secondary' && i.use !== 'old') ?? dcnIds[0];
  // Gaps (no DCN, no current name, no gender) are left to validateParticipant: warnings while the Patient is
  // still identified by a DCN or a name with a birth date.
  const official = p.name?.find((n) => n.use === 'official' || n.use === 'usual' || n.use === undefined);
  const sex = p.gender ? GENDER_TO_SEX[p.gender] : 'U';
  if (!sex) err('unknown-sex', 'Patient.gender is not male, female, other or unknown');
  if (!sex) return undefined;
  const out: Omit<Participant, 'enrollments'> = {
    participantId,
    dcn: primary?.value ?? '',
    aliasDcns: dcnIds.filter((i) => i !== primary && i.value).map((i) => i.value!),
    familyName: official?.family ?? '',
    givenName: official?.given?.[0] ?? '',
    previousNames: (p.name ?? [])
      .filter((n) => (n.use === 'old' || n.use === 'maiden') && n.family)
      .map((n) => (n.given?.[0] ? { family: n.family!, given: n.given[0] } : { family: n.family! })),
    birthDate: p.birthDate ?? '',
    sex,
  };
  const middle = official?.given?.slice(1).join(' ');
  if (middle) out.middleName = middle;
  const a = p.address?.find((x) => x.use !== 'old') ?? p.address?.[0];
  if (a) {
    const address: NonNullable<Participant['address']> = {};
    if (a.line?.length) address.line = a.line.join(' ');
    if (a.city) address.city = a.city;
    if (a.state) address.state = a.state;
    if (a.postalCode) address.postalCode = a.postalCode;
    out.address = address;
  }
  const phone = p.telecom?.find((t) => t.system === 'phone')?.value;
  if (phone) out.phone = phone;
  const ssn = p.identifier?.find((i) => i.system === SSN_SYSTEM || typeCodes(i).includes('SS'))?.value;
  if (ssn) out.ssnLast4 = ssn.replace(/\D/g, '').slice(-4);
  return out;
}

function refId(ref: string | undefined): string | undefined {
  if (!ref) return undefined;
  const m = /([A-Za-z]+)\/([^/]+)$/.exec(ref);
  return m ? m[2] : ref;
}

/** Parses a roster Bundle (Patients + ATR Group + site Organizations). Errors name the entry or member. */
export function parseRosterBundle(input: unknown): RosterImport {
  const result: RosterImport = {
    format: 'fhir',
    participants: [],
    errors: [],
    warnings: [],
    rejects: [],
    header: [],
    rows: 0,
    enrollments: 0,
  };
  const bundle = input as fhir4.Bundle;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    result.errors.push({ location: 'Bundle', code: 'not-a-bundle', message: 'the file is not a FHIR Bundle' });
    return result;
  }
  const patients = new Map<string, { resource: fhir4.Patient; location: string }>();
  const organizations = new Map<string, fhir4.Organization>();
  const groups: { resource: fhir4.Group; location: string }[] = [];
  (bundle.entry ?? []).forEach((e, i) => {
    const r = e.resource;
    const location = `Bundle.entry[${i}]`;
    if (!r) return;
    if (r.resourceType === 'Patient') {
      if (r.id) patients.set(`Patient/${r.id}`, { resource: r, location });
      if (e.fullUrl) patients.set(e.fullUrl, { resource: r, location });
    } else if (r.resourceType === 'Organization') {
      if (r.id) organizations.set(`Organization/${r.id}`, r);
      if (e.fullUrl) organizations.set(e.fullUrl, r);
    } else if (r.resourceType === 'Group') groups.push({ resource: r, location });
  });
  if (!groups.length) {
    result.errors.push({ location: 'Bundle', code: 'no-group', message: 'the Bundle has no member-attribution Group' });
    return result;
  }

  const people = new Map<string, { participant: Participant; location: string }>();
  const demographicsCache = new Map<fhir4.Patient, Omit<Participant, 'enrollments'> | null>();
  for (const g of groups) {
    (g.resource.member ?? []).forEach((m, k) => {
      const location = `Group/${g.resource.id ?? k}.member[${k}]`;
      result.rows++;
      const issues: RosterIssue[] = [];
      const err = (code: string, message: string): void => {
        issues.push({ location, code, message });
      };
      const change = m.extension?.find((x) => x.url === ATR_CHANGE_TYPE)?.valueCode;
      if (m.inactive || change === 'dropped') {
        result.warnings.push({ location, code: 'inactive-member', message: 'inactive or dropped member skipped' });
        return;
      }
      const pat = patients.get(m.entity.reference ?? '');
      if (!pat) err('unknown-patient', 'member.entity does not reference a Patient in the Bundle');
      let demo: Omit<Participant, 'enrollments'> | undefined;
      if (pat) {
        if (!demographicsCache.has(pat.resource)) {
          const patientIssues: RosterIssue[] = [];
          demographicsCache.set(pat.resource, patientDemographics(pat.resource, patientIssues, pat.location) ?? null);
          issues.push(...patientIssues);
        }
        demo = demographicsCache.get(pat.resource) ?? undefined;
        if (!demo && !issues.length) err('bad-patient', 'the referenced Patient was rejected');
      }
      const providerRef = m.extension?.find((x) => x.url === ATR_ATTRIBUTED_PROVIDER)?.valueReference?.reference;
      const org = providerRef ? organizations.get(providerRef) : undefined;
      const siteId = org?.identifier?.find((i) => i.system === SITE_IDENTIFIER_SYSTEM)?.value ?? refId(providerRef);
      const providerId =
        org?.identifier?.find((i) => i.system === PROVIDER_SYSTEM)?.value ?? refId(org?.partOf?.reference);
      if (!siteId) err('missing-field', 'member has no attributed provider (site)');
      if (!providerId)
        err('missing-field', 'the attributed site Organization has no provider id (identifier or partOf)');
      const program = m.extension?.find((x) => x.url === PROGRAM_EXTENSION)?.valueCode as Program | undefined;
      if (!program || !['PCHH', 'CMHC'].includes(program))
        err('unknown-program', 'member program extension is not PCHH or CMHC');
      if (!m.period?.start) err('bad-date', 'member.period.start is missing');
      const conditions = (m.extension ?? [])
        .filter((x) => x.url === CONDITION_EXTENSION)
        .map((x) => x.valueCode ?? '') as ConditionCode[];
      if (!issues.length && demo && siteId && providerId && program && m.period?.start) {
        const enrollment: Enrollment = { program, providerId, siteId, start: m.period.start.slice(0, 10), conditions };
        if (m.period.end) enrollment.end = m.period.end.slice(0, 10);
        const known = people.get(demo.participantId);
        const candidate: Participant = known
          ? { ...known.participant, enrollments: [...known.participant.enrollments, enrollment] }
          : { ...demo, enrollments: [enrollment] };
        const { errors, warnings } = validateParticipant(candidate);
        // Only problems of the new enrollment (or the whole person on first sight) reject this member.
        const relevant = known
          ? errors.filter((e) => e.message.startsWith(`enrollment ${candidate.enrollments.length}`))
          : errors;
        for (const e of relevant)
          issues.push({ location, participantId: demo.participantId, code: e.code, message: e.message });
        if (!known)
          for (const w of warnings) result.warnings.push({ location, participantId: demo.participantId, ...w });
        if (!relevant.length) people.set(demo.participantId, { participant: candidate, location });
      }
      if (issues.length) {
        result.errors.push(...issues);
        result.rejects.push({ line: k + 1, cells: [location], issues });
      }
    });
  }
  result.participants = [...people.values()].map((p) => p.participant);
  result.enrollments = result.participants.reduce((n, p) => n + p.enrollments.length, 0);
  result.header = ['member'];
  addRosterWarnings(result);
  return result;
}

/** The roster as a FHIR Bundle (collection) of site Organizations, Patients and one ATR Group. */
export function rosterToBundle(participants: readonly Participant[], options: { groupId?: string } = {}): fhir4.Bundle {
  const entries: fhir4.BundleEntry[] = [];
  const sites = new Map<string, string>();
  for (const p of participants) for (const e of p.enrollments) sites.set(e.siteId, e.providerId);
  for (const [siteId, providerId] of [...sites].sort()) {
    const org: fhir4.Organization = {
      resourceType: 'Organization',
      id: siteId,
      identifier: [
        { system: SITE_IDENTIFIER_SYSTEM, value: siteId },
        { system: PROVIDER_SYSTEM, value: providerId },
      ],
      partOf: { reference: `Organization/${providerId}` },
    };
    entries.push({ fullUrl: `Organization/${siteId}`, resource: org });
  }
  const members: fhir4.GroupMember[] = [];
  for (const p of participants) {
    const identifier: fhir4.Identifier[] = [
      { system: PARTICIPANT_SYSTEM, value: p.participantId },
      ...(p.dcn
        ? [
            {
              use: 'official' as const,
              type: { coding: [{ system: V2_0203, code: 'MA' }] },
              system: DCN_SYSTEM,
              value: p.dcn,
            },
          ]
        : []),
      ...p.aliasDcns.map((a) => ({
        use: 'secondary' as const,
        type: { coding: [{ system: V2_0203, code: 'MA' }] },
        system: DCN_SYSTEM,
        value: a,
      })),
    ];
    if (p.ssnLast4) identifier.push({ system: SSN_SYSTEM, value: p.ssnLast4 });
    const patient: fhir4.Patient = {
      resourceType: 'Patient',
      id: p.participantId,
      identifier,
      name: [
        {
          use: 'official',
          ...(p.familyName ? { family: p.familyName } : {}),
          given: [p.givenName, ...(p.middleName ? [p.middleName] : [])].filter(Boolean),
        },
        ...p.previousNames.map((n) => ({
          use: 'old' as const,
          family: n.family,
          ...(n.given ? { given: [n.given] } : {}),
        })),
      ],
      gender: ({ F: 'female', M: 'male', O: 'other', U: 'unknown' } as const)[p.sex],
      ...(p.birthDate ? { birthDate: p.birthDate } : {}),
    };
    if (p.phone) patient.telecom = [{ system: 'phone', value: p.phone }];
    if (p.address) {
      const a: fhir4.Address = { use: 'home' };
      if (p.address.line) a.line = [p.address.line];
      if (p.address.city) a.city = p.address.city;
      if (p.address.state) a.state = p.address.state;
      if (p.address.postalCode) a.postalCode = p.address.postalCode;
      patient.address = [a];
    }
    entries.push({ fullUrl: `Patient/${p.participantId}`, resource: patient });
    for (const e of p.enrollments) {
      members.push({
        entity: { reference: `Patient/${p.participantId}` },
        period: { start: e.start, ...(e.end ? { end: e.end } : {}) },
        extension: [
          { url: ATR_ATTRIBUTED_PROVIDER, valueReference: { reference: `Organization/${e.siteId}` } },
          { url: PROGRAM_EXTENSION, valueCode: e.program },
          ...e.conditions.map((c) => ({ url: CONDITION_EXTENSION, valueCode: c })),
        ],
      });
    }
  }
  const group: fhir4.Group = {
    resourceType: 'Group',
    id: options.groupId ?? 'mo-hh-roster',
    type: 'person',
    actual: true,
    name: 'MO HealthNet Health Home enrolled participants',
    member: members,
  };
  entries.push({ fullUrl: `Group/${group.id}`, resource: group });
  return { resourceType: 'Bundle', type: 'collection', entry: entries };
}
