import { parseHl7Time } from '../hl7/index.ts';
import type { Hl7Time, ParsedMessage, SegmentView } from '../hl7/types.ts';
import type { CodeTables } from '../mappings/codes.ts';
import type { CanonicalFacility, SenderProfile } from '../mappings/sender-profile.ts';
import type { SenderProfiles } from '../mappings/senders.ts';
import { hash } from 'node:crypto';
import { stableId } from '../util/hash.ts';
import { facilityKey as keyOf, findMrn, readFieldRef, resolveFacility } from './facility.ts';
import { address, contactPoint, humanName, reps, toInstant, uuidOf, val } from './datatypes.ts';
import { informationOutcome } from './outcome.ts';
import type { ConvertResult, ConvertedMessage } from './types.ts';

export interface ConvertContext {
  profiles: SenderProfiles;
  codes: CodeTables;
}

export const HANDLED_EVENTS = new Set([
  'A01',
  'A02',
  'A03',
  'A04',
  'A05',
  'A06',
  'A07',
  'A08',
  'A11',
  'A12',
  'A13',
  'A40',
  'A34',
  'A39',
  'A47',
]);
export const MERGE_EVENTS = new Set(['A40', 'A34', 'A39', 'A47']);

export const SYS = {
  v2_0003: 'http://terminology.hl7.org/CodeSystem/v2-0003',
  v2_0004: 'http://terminology.hl7.org/CodeSystem/v2-0004',
  v2_0023: 'http://terminology.hl7.org/CodeSystem/v2-0023',
  v2_0063: 'http://terminology.hl7.org/CodeSystem/v2-0063',
  v2_0103: 'http://terminology.hl7.org/CodeSystem/v2-0103',
  v2_0112: 'http://terminology.hl7.org/CodeSystem/v2-0112',
  v2_0203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  nubc: 'https://www.nubc.org/CodeSystem/PatDischargeStatus',
  participation: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  ssn: 'http://hl7.org/fhir/sid/us-ssn',
  originalPatientClass: 'https://tc-alerts.org/fhir/StructureDefinition/original-patient-class',
} as const;

/** References are relative `Type/id`: ids are deterministic, so a receiver can PUT each resource by id. */
const ref = (type: string, id: string): string => `${type}/${id}`;
/** uuidOf(stableId(...parts)), computed with the one-shot crypto.hash (4x cheaper than createHash per id). */
const rid = (...parts: (string | undefined)[]): string =>
  uuidOf(hash('sha256', parts.map((p) => p ?? '').join('\u001f'), 'hex').slice(0, 32));
const upper = (s: string | undefined): string => (s ?? '').toUpperCase();
const inList = (list: readonly string[], v: string | undefined): boolean =>
  !!v && list.some((x) => x.toUpperCase() === upper(v));

/** Per-message working state: the profile, facility and helpers every mapper needs. */
interface Work {
  msg: ParsedMessage;
  profile: SenderProfile;
  codes: CodeTables;
  facility: CanonicalFacility;
  fKey: string;
  event: string;
  warnings: string[];
  z: Partial<Record<'medicaidId' | 'patientType' | 'hospitalService' | 'dischargeDisposition' | 'visitNumber', string>>;
  entries: fhir4.BundleEntry[];
  seen: Set<string>;
  /** Timestamps already read in this message (PV1-44 is read for the period, the visit id and the check). */
  times: Map<string, Hl7Time | undefined>;
}

function time(w: Work, raw: string | undefined): Hl7Time | undefined {
  if (!raw || raw === '""') return undefined;
  if (w.times.has(raw)) return w.times.get(raw);
  const t = parseHl7Time(raw, w.profile.timeZone);
  w.times.set(raw, t);
  return t;
}
const dateTime = (w: Work, raw: string | undefined): string | undefined => {
  const t = time(w, raw);
  return t?.fhir.includes('T') ? toInstant(t) : t?.fhir;
};

function add(w: Work, resource: fhir4.FhirResource & { id?: string }): void {
  const id = resource.id!;
  if (w.seen.has(id)) return;
  w.seen.add(id);
  w.entries.push({ fullUrl: `urn:uuid:${id}`, resource });
}

/** The event a message is handled as: MSH-9.2, else EVN-1. */
export function eventOf(msg: ParsedMessage): string | undefined {
  return upper(msg.header.triggerEvent ?? val(msg.segment('EVN'), 1)) || undefined;
}

function authoritySystem(w: Work, authority: string | undefined, type: string | undefined): string {
  if (authority) {
    const mapped = w.profile.identifierSystems[authority] ?? w.profile.identifierSystems[upper(authority)];
    if (mapped) return mapped;
    if (upper(type) === 'SS') return SYS.ssn;
    return `urn:tc-alerts:authority:${encodeURIComponent(authority)}`;
  }
  if (upper(type) === 'SS') return SYS.ssn;
  // No assigning authority: scoped to the canonical facility, so two hospitals' MRNs never collide.
  return `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:${encodeURIComponent(upper(type) || 'id')}`;
}

function identifierType(w: Work, code: string | undefined): fhir4.CodeableConcept | undefined {
  if (!code) return undefined;
  const m = w.codes['identifier-type'].lookup(code);
  if (m) return { coding: [{ system: SYS.v2_0203, code: m.code, ...(m.display ? { display: m.display } : {}) }] };
  w.warnings.push(`identifier type unmapped (table 0203), kept as sent`);
  return { coding: [{ system: SYS.v2_0203, code }] };
}

/** CX repetition → Identifier. */
function cx(w: Work, seg: SegmentView, field: number, rep: number): fhir4.Identifier | undefined {
  const value = val(seg, field, 1, 1, rep);
  if (!value) return undefined;
  const authority = val(seg, field, 4, 1, rep);
  const typeCode = val(seg, field, 5, 1, rep);
  const id: fhir4.Identifier = { system: authoritySystem(w, authority, typeCode), value };
  const type = identifierType(w, typeCode);
  if (type) id.type = type;
  if (authority) id.assigner = { display: authority };
  return id;
}

function mapCoding(
  w: Work,
  table: keyof CodeTables,
  code: string | undefined,
  display?: string,
): { mapped?: fhir4.Coding; original?: fhir4.Coding } {
  if (!code) return {};
  const t = w.codes[table];
  const m = t.lookup(code);
  const original: fhir4.Coding = { system: t.source, code, ...(display ? { display } : {}) };
  if (!m) {
    w.warnings.push(`${table}: code unmapped, kept as original coding`);
    return { original };
  }
  return { mapped: { system: m.system, code: m.code, ...(m.display ? { display: m.display } : {}) }, original };
}

function practitioner(w: Work, seg: SegmentView, field: number): string | undefined {
  const idv = val(seg, field, 1);
  const family = val(seg, field, 2);
  if (!idv && !family) return undefined;
  const id = rid('Practitioner', w.fKey, idv ?? '', family ?? '', val(seg, field, 3) ?? '');
  const p: fhir4.Practitioner = { resourceType: 'Practitioner', id };
  if (idv) {
    const auth = val(seg, field, 9);
    const system =
      upper(val(seg, field, 13)) === 'NPI' || upper(auth) === 'NPI'
        ? 'http://hl7.org/fhir/sid/us-npi'
        : authoritySystem(w, auth, 'PRN');
    p.identifier = [{ system, value: idv }];
  }
  if (family || val(seg, field, 3)) {
    const n: fhir4.HumanName = {};
    if (family) n.family = family;
    const given = [val(seg, field, 3), val(seg, field, 4)].filter((x): x is string => !!x);
    if (given.length) n.given = given;
    p.name = [n];
  }
  add(w, p);
  return id;
}

function organization(w: Work, f: CanonicalFacility): string {
  const id = rid('Organization', f.system, f.value);
  add(w, {
    resourceType: 'Organization',
    id,
    identifier: [{ system: f.system, value: f.value }],
    name: f.name,
    active: true,
  });
  return id;
}

function location(w: Work, seg: SegmentView, field: number, orgId: string): string | undefined {
  const parts = [1, 2, 3].map((c) => val(seg, field, c));
  const facilityName = val(seg, field, 4);
  if (!parts.some(Boolean)) return undefined;
  const id = rid('Location', w.fKey, ...parts.map((p) => p ?? ''));
  const name = parts.filter(Boolean).join(' ');
  const loc: fhir4.Location = {
    resourceType: 'Location',
    id,
    name,
    mode: 'instance',
    identifier: [
      {
        system: `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:location`,
        value: parts.map((p) => p ?? '').join('^'),
      },
    ],
    managingOrganization: { reference: ref('Organization', orgId) },
  };
  if (facilityName) loc.description = facilityName;
  add(w, loc);
  return id;
}

function patient(w: Work, pid: SegmentView, pd: { links?: fhir4.PatientLink[] }): fhir4.Patient {
  const identifier: fhir4.Identifier[] = [];
  for (let r = 0; r < reps(pid, 3); r++) {
    const i = cx(w, pid, 3, r);
    if (i) identifier.push(i);
  }
  for (let r = 0; r < reps(pid, 2); r++) {
    const i = cx(w, pid, 2, r);
    if (i && !identifier.some((x) => x.value === i.value && x.system === i.system)) identifier.push(i);
  }
  const ssn = val(pid, 19);
  if (ssn && !identifier.some((x) => x.system === SYS.ssn))
    identifier.push({ system: SYS.ssn, value: ssn, type: identifierType(w, 'SS')! });
  const key = identifier[0]
    ? `${identifier[0].system}|${identifier[0].value}`
    : `${w.msg.header.controlId ?? ''}|${pid.index}`;
  const p: fhir4.Patient = { resourceType: 'Patient', id: rid('Patient', w.fKey, key) };
  if (identifier.length) p.identifier = identifier;
  const names: fhir4.HumanName[] = [];
  for (let r = 0; r < Math.max(1, reps(pid, 5)); r++) {
    const n = humanName(pid, 5, r);
    if (n) names.push(n);
  }
  if (names.length) p.name = names;
  const sex = val(pid, 8);
  if (sex) {
    const m = w.codes['administrative-sex'].lookup(sex);
    if (m) p.gender = m.code as fhir4.Patient['gender'];
    else {
      p.gender = 'unknown';
      w.warnings.push('PID-8: administrative sex unmapped (table 0001), gender unknown');
    }
  }
  const birth = time(w, val(pid, 7));
  if (birth) p.birthDate = birth.fhir.slice(0, 10);
  const addresses: fhir4.Address[] = [];
  for (let r = 0; r < reps(pid, 11); r++) {
    const a = address(pid, 11, r);
    if (a) addresses.push(a);
  }
  if (addresses.length) p.address = addresses;
  const telecom: fhir4.ContactPoint[] = [];
  for (let r = 0; r < reps(pid, 13); r++) {
    const c = contactPoint(pid, 13, r, 'home');
    if (c) telecom.push(c);
  }
  for (let r = 0; r < reps(pid, 14); r++) {
    const c = contactPoint(pid, 14, r, 'work');
    if (c) telecom.push(c);
  }
  if (telecom.length) p.telecom = telecom;
  const death = dateTime(w, val(pid, 29));
  if (death) p.deceasedDateTime = death;
  else if (upper(val(pid, 30)) === 'Y') p.deceasedBoolean = true;
  const contacts: fhir4.PatientContact[] = [];
  for (
    let nk1 = w.msg.segment('NK1', pid.index);
    nk1 && nk1.index < (nextSegment(w.msg, pid.index, ['PID', 'PV1']) ?? Infinity);
    nk1 = w.msg.segment('NK1', nk1.index)
  ) {
    const c: fhir4.PatientContact = {};
    const n = humanName(nk1, 2, 0);
    if (n) c.name = n;
    const rel = val(nk1, 3);
    if (rel)
      c.relationship = [
        { coding: [{ system: SYS.v2_0063, code: rel }], ...(val(nk1, 3, 2) ? { text: val(nk1, 3, 2) } : {}) },
      ];
    const t = contactPoint(nk1, 5, 0, 'home');
    if (t) c.telecom = [t];
    if (Object.keys(c).length) contacts.push(c);
  }
  if (contacts.length) p.contact = contacts;
  if (pd.links?.length) p.link = pd.links;
  return p;
}

function nextSegment(msg: ParsedMessage, after: number, names: string[]): number | undefined {
  let min: number | undefined;
  for (const n of names) {
    const s = msg.segment(n, after);
    if (s && (min === undefined || s.index < min)) min = s.index;
  }
  return min;
}

function unitFlag(
  sel: SenderProfile['psychiatricUnits'],
  service: string | undefined,
  pointOfCare: string | undefined,
): boolean {
  return sel.wholeFacility || inList(sel.hospitalService, service) || inList(sel.pointOfCare, pointOfCare);
}

function encounterClass(w: Work, pv1: SegmentView): { cls: fhir4.Coding; original?: fhir4.Coding } {
  const sent = val(pv1, 2);
  const aliased = sent
    ? (w.profile.codeAliases.patientClass[sent] ?? aliasCI(w.profile.codeAliases.patientClass, sent) ?? sent)
    : undefined;
  const patientType = w.z.patientType ?? val(pv1, 18);
  const service = w.z.hospitalService ?? val(pv1, 10);
  const poc = val(pv1, 3);
  const original = sent ? { system: SYS.v2_0004, code: sent } : undefined;
  for (const rule of w.profile.encounterClass.rules) {
    const c = rule.when;
    if (c.patientClass && !inList(c.patientClass, aliased)) continue;
    if (c.patientType && !inList(c.patientType, patientType)) continue;
    if (c.hospitalService && !inList(c.hospitalService, service)) continue;
    if (c.pointOfCare && !inList(c.pointOfCare, poc)) continue;
    if (c.event && !inList(c.event, w.event)) continue;
    return { cls: actCode(rule.class), original };
  }
  if (!aliased)
    return { cls: { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' } };
  const m = w.codes['patient-class'].lookup(aliased);
  if (m) return { cls: { system: m.system, code: m.code, ...(m.display ? { display: m.display } : {}) }, original };
  w.warnings.push('PV1-2: patient class unmapped (table 0004), kept as original coding');
  return { cls: { system: SYS.v2_0004, code: aliased }, original };
}

const ACT_DISPLAY: Record<string, string> = {
  EMER: 'emergency',
  IMP: 'inpatient encounter',
  ACUTE: 'inpatient acute',
  NONAC: 'inpatient non-acute',
  AMB: 'ambulatory',
  OBSENC: 'observation encounter',
  SS: 'short stay',
  PRENC: 'pre-admission',
  HH: 'home health',
  VR: 'virtual',
  FLD: 'field',
};
const actCode = (code: string): fhir4.Coding => ({
  system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  code,
  display: ACT_DISPLAY[code] ?? code,
});

function aliasCI(map: Record<string, string>, key: string): string | undefined {
  const u = key.toUpperCase();
  for (const [k, v] of Object.entries(map)) if (k.toUpperCase() === u) return v;
  return undefined;
}

function encounterStatus(w: Work, dischargeValued: boolean): fhir4.Encounter['status'] {
  switch (w.event) {
    case 'A11':
      return 'cancelled';
    case 'A13':
      return 'in-progress';
    case 'A03':
      return 'finished';
    case 'A04':
      return 'in-progress';
  }
  if (dischargeValued) return 'finished';
  const m = w.codes['event-status'].lookup(w.event);
  return (m?.code ?? 'unknown') as fhir4.Encounter['status'];
}

/** Visit identifier by precedence: PV1-19 (own CX-4), else PV1-50, else PID-18, else MRN + admit date. */
function visitIdentifier(
  w: Work,
  pv1: SegmentView,
  pid: SegmentView | undefined,
  mrn: string | undefined,
): { id: fhir4.Identifier; key: string } | undefined {
  const facilityScope = `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:visit`;
  const pick = (
    seg: SegmentView | undefined,
    field: number,
    source: string,
  ): { id: fhir4.Identifier; key: string } | undefined => {
    const value = val(seg, field);
    if (!value) return undefined;
    const auth = val(seg, field, 4);
    const system = auth ? `${facilityScope}:${encodeURIComponent(auth)}` : facilityScope;
    return {
      id: {
        use: 'official',
        system,
        value,
        type: { coding: [{ system: SYS.v2_0203, code: 'VN', display: 'Visit number' }] },
      },
      key: `${w.fKey}|${source}|${auth ?? ''}|${value}`,
    };
  };
  if (w.z.visitNumber) {
    const value = w.z.visitNumber;
    return {
      id: { use: 'official', system: facilityScope, value, type: { coding: [{ system: SYS.v2_0203, code: 'VN' }] } },
      key: `${w.fKey}|Z||${value}`,
    };
  }
  const r = pick(pv1, 19, 'PV1-19') ?? pick(pv1, 50, 'PV1-50') ?? pick(pid, 18, 'PID-18');
  if (r) return r;
  const admit = time(w, val(pv1, 44));
  if (mrn && admit) {
    const value = `${mrn}-${admit.fhir.slice(0, 10)}`;
    return {
      id: { use: 'secondary', system: `${facilityScope}:mrn-admit-date`, value },
      key: `${w.fKey}|MRN+PV1-44||${value}`,
    };
  }
  return undefined;
}

function dischargeDisposition(w: Work, pv1: SegmentView): { cc?: fhir4.CodeableConcept; nubc?: string } {
  const sent = w.z.dischargeDisposition ?? val(pv1, 36);
  if (!sent) return {};
  const text = val(pv1, 36, 2);
  const alias =
    w.profile.codeAliases.dischargeDisposition[sent] ?? aliasCI(w.profile.codeAliases.dischargeDisposition, sent);
  const code = alias ?? sent;
  const table = w.codes['discharge-disposition'];
  if (/^\d{1,2}$/.test(code)) {
    const nubc = code.padStart(2, '0');
    const m = table.lookup(nubc);
    const coding: fhir4.Coding[] = [];
    if (m) coding.push({ system: m.system, code: m.code, ...(m.display ? { display: m.display } : {}) });
    else w.warnings.push('PV1-36: NUBC code unmapped, kept as original coding');
    coding.push({ system: SYS.nubc, code: nubc });
    const cc: fhir4.CodeableConcept = { coding };
    if (alias || text) cc.text = alias ? sent : text;
    return { cc, nubc };
  }
  w.warnings.push('PV1-36: discharge disposition not a NUBC code and no alias, kept as original coding');
  return { cc: { coding: [{ system: SYS.v2_0112, code: sent }], ...(text ? { text } : {}) } };
}

function encounter(
  w: Work,
  pv1: SegmentView,
  pid: SegmentView | undefined,
  patientId: string,
  orgId: string,
  mrn: string | undefined,
) {
  const visit = visitIdentifier(w, pv1, pid, mrn);
  const encId = rid('Encounter', w.fKey, visit?.key ?? `${w.msg.header.controlId ?? ''}|${pv1.index}`);
  const { cls, original } = encounterClass(w, pv1);
  const start = dateTime(w, val(pv1, 44));
  let end = w.event === 'A13' ? undefined : dateTime(w, val(pv1, 45));
  const endValued = !!val(pv1, 45) && w.event !== 'A13';
  if (start && end && time(w, val(pv1, 45))!.epochMs < time(w, val(pv1, 44))!.epochMs) {
    w.warnings.push('PV1-45 earlier than PV1-44: period.end dropped');
    end = undefined;
  }
  const enc: fhir4.Encounter = {
    resourceType: 'Encounter',
    id: encId,
    status: encounterStatus(w, endValued),
    class: cls,
    subject: { reference: ref('Patient', patientId) },
    serviceProvider: { reference: ref('Organization', orgId), display: w.facility.name },
  };
  if (original) enc.extension = [{ url: SYS.originalPatientClass, valueCoding: original }];
  if (visit)
    enc.identifier = [{ ...visit.id, assigner: { reference: ref('Organization', orgId), display: w.facility.name } }];
  const type: fhir4.CodeableConcept[] = [];
  const at = mapCoding(w, 'admission-type', val(pv1, 4));
  if (at.mapped || at.original) type.push({ coding: [at.mapped ?? at.original!] });
  if (original) type.push({ coding: [original], text: 'patient class as sent (PV1-2)' });
  if (type.length) enc.type = type;
  const service = w.z.hospitalService ?? val(pv1, 10);
  const hs = mapCoding(w, 'hospital-service', service);
  if (hs.mapped || hs.original) enc.serviceType = { coding: [hs.mapped ?? hs.original!] };
  if (start || end) enc.period = { ...(start ? { start } : {}), ...(end ? { end } : {}) };
  const hosp: fhir4.EncounterHospitalization = {};
  const srcSent = val(pv1, 14);
  if (srcSent) {
    const src = aliasCI(w.profile.codeAliases.admitSource, srcSent) ?? srcSent;
    const m = mapCoding(w, 'admit-source', src);
    hosp.admitSource = { coding: [m.mapped, m.original].filter((c): c is fhir4.Coding => !!c) };
  }
  const dd = dischargeDisposition(w, pv1);
  if (dd.cc) hosp.dischargeDisposition = dd.cc;
  if (Object.keys(hosp).length) enc.hospitalization = hosp;
  const locations: fhir4.EncounterLocation[] = [];
  const cur = location(w, pv1, 3, orgId);
  if (cur)
    locations.push({
      location: { reference: ref('Location', cur) },
      status: upper(val(pv1, 2)) === 'P' ? 'planned' : 'active',
    });
  if (w.event === 'A02') {
    const prior = location(w, pv1, 6, orgId);
    if (prior) locations.push({ location: { reference: ref('Location', prior) }, status: 'completed' });
  }
  if (locations.length) enc.location = locations;
  const participants: fhir4.EncounterParticipant[] = [];
  for (const [field, code, display] of [
    [7, 'ATND', 'attender'],
    [8, 'REF', 'referrer'],
    [9, 'CON', 'consultant'],
    [17, 'ADM', 'admitter'],
  ] as const) {
    for (let r = 0; r < Math.max(1, reps(pv1, field)); r++) {
      const pr = practitionerRep(w, pv1, field, r);
      if (pr)
        participants.push({
          type: [{ coding: [{ system: SYS.participation, code, display }] }],
          individual: { reference: ref('Practitioner', pr) },
        });
    }
  }
  if (participants.length) enc.participant = participants;
  return { enc, visitKey: visit?.key, nubc: dd.nubc, service, poc: val(pv1, 3) };
}

function practitionerRep(w: Work, seg: SegmentView, field: number, rep: number): string | undefined {
  if (rep === 0) return practitioner(w, seg, field);
  // Further repetitions: read through a view of that repetition.
  const view: SegmentView = {
    name: seg.name,
    index: seg.index,
    get: (f, c, s) => seg.get(f, c, s, rep),
    repCount: (f) => seg.repCount(f),
    fieldCount: () => seg.fieldCount(),
  };
  return practitioner(w, view, field);
}

function diagnosisSystem(w: Work, name: string | undefined): string {
  if (!name) return 'urn:tc-alerts:codesystem:unspecified';
  const alias = aliasCI(w.profile.codeAliases.diagnosisSystems, name);
  if (alias) return alias;
  const m = w.codes['diagnosis-system'].lookup(name);
  if (m) return m.code;
  w.warnings.push('DG1-3.3: coding system unmapped, kept under a local system');
  return `urn:tc-alerts:codesystem:${encodeURIComponent(name)}`;
}

function conditions(
  w: Work,
  patientId: string,
  encId: string | undefined,
  visitKey: string | undefined,
): fhir4.Condition[] {
  const out: fhir4.Condition[] = [];
  for (const dg1 of w.msg.all('DG1')) {
    const code = val(dg1, 3);
    const text = val(dg1, 3, 2) ?? val(dg1, 4);
    if (!code && !text) continue;
    const system = diagnosisSystem(w, val(dg1, 3, 3) ?? val(dg1, 2));
    const c: fhir4.Condition = {
      resourceType: 'Condition',
      id: rid('Condition', w.fKey, visitKey ?? patientId, system, code ?? text ?? ''),
      category: [
        { coding: [{ system: SYS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] },
      ],
      code: {
        ...(code ? { coding: [{ system, code, ...(val(dg1, 3, 2) ? { display: val(dg1, 3, 2) } : {}) }] } : {}),
        ...(text ? { text } : {}),
      },
      subject: { reference: ref('Patient', patientId) },
    };
    if (encId) c.encounter = { reference: ref('Encounter', encId) };
    const onset = dateTime(w, val(dg1, 5));
    if (onset) c.onsetDateTime = onset;
    const recorded = dateTime(w, val(dg1, 19));
    if (recorded) c.recordedDate = recorded;
    if (!w.seen.has(c.id!)) {
      out.push(c);
      add(w, c);
    }
  }
  return out;
}

function isMoHealthNetPlan(w: Work, in1: SegmentView): boolean {
  const m = w.profile.medicaidId;
  return inList(m.insurancePlanIds, val(in1, 2)) || inList(m.insuranceCompanyIds, val(in1, 3));
}

function coverages(w: Work, patientId: string, medicaid: ConvertedMessage['medicaidIds']): fhir4.Coverage[] {
  const out: fhir4.Coverage[] = [];
  for (const in1 of w.msg.all('IN1')) {
    const planId = val(in1, 2);
    const companyId = val(in1, 3);
    const companyName = val(in1, 4);
    const policy = val(in1, 36);
    const insuredId = val(in1, 49);
    if (!planId && !companyId && !companyName && !policy) continue;
    const moh = isMoHealthNetPlan(w, in1);
    if (moh) {
      for (const f of w.profile.medicaidId.insuranceFields) {
        const raw = f === 'IN1-36' ? policy : insuredId;
        pushMedicaid(medicaid, raw, f);
      }
    }
    const payorId = rid('Organization', 'payor', w.fKey, companyId ?? '', companyName ?? planId ?? '');
    const payor: fhir4.Organization = {
      resourceType: 'Organization',
      id: payorId,
      name: companyName ?? val(in1, 2, 2) ?? planId ?? companyId ?? 'unknown payor',
    };
    if (companyId)
      payor.identifier = [
        { system: `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:payor`, value: companyId },
      ];
    add(w, payor);
    const cov: fhir4.Coverage = {
      resourceType: 'Coverage',
      id: rid(
        'Coverage',
        w.fKey,
        patientId,
        planId ?? '',
        companyId ?? '',
        policy ?? insuredId ?? String(val(in1, 1) ?? ''),
      ),
      status: 'active',
      beneficiary: { reference: ref('Patient', patientId) },
      payor: [{ reference: ref('Organization', payorId) }],
    };
    const subscriberId = insuredId ?? policy;
    if (subscriberId) cov.subscriberId = subscriberId;
    if (policy)
      cov.identifier = [
        { system: `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:policy`, value: policy },
      ];
    if (planId)
      cov.class = [
        {
          type: { coding: [{ system: SYS.coverageClass, code: 'plan' }] },
          value: planId,
          ...(val(in1, 2, 2) ? { name: val(in1, 2, 2) } : {}),
        },
      ];
    if (moh) cov.type = { text: 'MO HealthNet' };
    const start = time(w, val(in1, 12));
    const end = time(w, val(in1, 13));
    if (start || end)
      cov.period = {
        ...(start ? { start: start.fhir.slice(0, 10) } : {}),
        ...(end ? { end: end.fhir.slice(0, 10) } : {}),
      };
    out.push(cov);
    add(w, cov);
  }
  return out;
}

function pushMedicaid(
  list: ConvertedMessage['medicaidIds'],
  raw: string | undefined,
  source: ConvertedMessage['medicaidIds'][number]['source'],
): void {
  const digits = (raw ?? '').replace(/\D/g, '');
  if (!digits) return;
  if (!list.some((m) => m.value === digits && m.source === source)) list.push({ value: digits, source });
}

function pid3Medicaid(w: Work, pid: SegmentView, list: ConvertedMessage['medicaidIds']): void {
  const m = w.profile.medicaidId;
  for (let r = 0; r < reps(pid, 3); r++) {
    const type = val(pid, 3, 5, 1, r);
    if (upper(type) === 'MC') continue; // the Medicare number, never the DCN
    if (inList(m.pid3Types, type) || inList(m.pid3Authorities, val(pid, 3, 4, 1, r)))
      pushMedicaid(list, val(pid, 3, 1, 1, r), 'PID-3');
  }
}

function zValues(msg: ParsedMessage, profile: SenderProfile): Work['z'] {
  const z: Work['z'] = {};
  for (const m of profile.zSegments) {
    const v = readFieldRef(msg, m.field);
    if (v && v !== '""') z[m.target] = v.trim();
  }
  return z;
}

/** Converts one parsed ADT message. Pure and deterministic; never throws for bad input data. */
export function convertMessage(msg: ParsedMessage, ctx: ConvertContext): ConvertResult {
  const h = msg.header;
  const event = eventOf(msg);
  const controlId = h.controlId;
  const { profile } = ctx.profiles.resolve(h.sendingApplication, h.sendingFacility);
  const enabled =
    !!event && (profile.events.includes(event) || (MERGE_EVENTS.has(event) && profile.events.includes('A40')));
  if (!event || !HANDLED_EVENTS.has(event) || !enabled) {
    const why =
      !event || !HANDLED_EVENTS.has(event)
        ? `event ${event ?? '(none)'} is not handled`
        : `event ${event} is not enabled for sender profile ${profile.id}`;
    return {
      status: 'ignored',
      outcome: informationOutcome(`message ${controlId ?? '(no MSH-10)'}: ${why}`),
      ...(event ? { event } : {}),
      ...(controlId ? { controlId } : {}),
    };
  }
  const facility = resolveFacility(msg, profile);
  const w: Work = {
    msg,
    profile,
    codes: ctx.codes,
    facility,
    fKey: keyOf(facility),
    event,
    warnings: [],
    z: zValues(msg, profile),
    entries: [],
    seen: new Set(),
    times: new Map(),
  };
  const isTest = !inList(profile.processingIds, h.processingId);
  const messageTime = time(w, h.dateTime);
  const evn = msg.segment('EVN');
  const evnRecorded = time(w, val(evn, 2));
  const evnOccurred = time(w, val(evn, 6));
  const eventTimeT = evnOccurred ?? evnRecorded ?? messageTime;
  const eventTime = eventTimeT ? (eventTimeT.fhir.includes('T') ? toInstant(eventTimeT) : eventTimeT.fhir) : undefined;

  const orgId = organization(w, facility);
  const pids = msg.all('PID');
  const pid = pids[0];
  const mrn = findMrn(msg);
  const medicaidIds: ConvertedMessage['medicaidIds'] = [];
  const merges: NonNullable<ConvertedMessage['merges']> = [];
  const patients: fhir4.Patient[] = [];

  if (MERGE_EVENTS.has(event)) {
    for (const p of pids) {
      const mrg = msg.segment('MRG', p.index);
      const nextPid = msg.segment('PID', p.index);
      const links: fhir4.PatientLink[] = [];
      const prior: fhir4.Identifier[] = [];
      if (mrg && (!nextPid || mrg.index < nextPid.index)) {
        for (let r = 0; r < reps(mrg, 1); r++) {
          const i = cx(w, mrg, 1, r);
          if (i) prior.push(i);
        }
      }
      const survivor = patient(w, p, {});
      if (prior.length) {
        const priorPatient: fhir4.Patient = {
          resourceType: 'Patient',
          id: rid('Patient', w.fKey, `${prior[0]!.system}|${prior[0]!.value}`),
          identifier: prior,
          active: false,
          link: [{ other: { reference: ref('Patient', survivor.id!) }, type: 'replaced-by' }],
        };
        links.push({ other: { reference: ref('Patient', priorPatient.id!), identifier: prior[0]! }, type: 'replaces' });
        survivor.link = links;
        add(w, priorPatient);
        merges.push({ survivor: survivor.identifier ?? [], prior });
      }
      add(w, survivor);
      patients.push(survivor);
    }
  } else if (pid) {
    const p = patient(w, pid, {});
    add(w, p);
    patients.push(p);
  }
  const mainPatient = patients[0] ?? { resourceType: 'Patient', id: rid('Patient', w.fKey, `${controlId ?? ''}|none`) };
  if (!patients.length) add(w, mainPatient);
  if (pid) pid3Medicaid(w, pid, medicaidIds);
  if (w.z.medicaidId) pushMedicaid(medicaidIds, w.z.medicaidId, 'Z');

  const pv1 = MERGE_EVENTS.has(event) ? undefined : msg.segment('PV1');
  let enc: ReturnType<typeof encounter> | undefined;
  if (pv1) {
    enc = encounter(w, pv1, pid, mainPatient.id!, orgId, mrn);
    add(w, enc.enc);
  }
  const conds = MERGE_EVENTS.has(event) ? [] : conditions(w, mainPatient.id!, enc?.enc.id, enc?.visitKey);
  if (enc && conds.length)
    enc.enc.diagnosis = conds.map((c, i) => ({ condition: { reference: ref('Condition', c.id!) }, rank: i + 1 }));
  const covs = MERGE_EVENTS.has(event) ? [] : coverages(w, mainPatient.id!, medicaidIds);

  const focus = enc ? enc.enc : mainPatient;
  const bundleKey = controlId ?? stableId(msg.text);
  const header: fhir4.MessageHeader = {
    resourceType: 'MessageHeader',
    id: rid('MessageHeader', profile.id, h.sendingApplication, h.sendingFacility, bundleKey),
    eventCoding: { system: SYS.v2_0003, code: event },
    source: {
      endpoint: `urn:tc-alerts:sender:${encodeURIComponent(profile.id)}:${encodeURIComponent(h.sendingApplication ?? '')}`,
      ...(h.sendingApplication ? { name: h.sendingApplication } : {}),
    },
    sender: { reference: ref('Organization', orgId), display: facility.name },
    focus: [{ reference: ref(focus.resourceType, focus.id!) }],
    meta: { tag: [{ system: SYS.v2_0103, code: h.processingId ?? 'P' }] },
  };
  const recorded = toInstant(evnRecorded) ?? toInstant(messageTime) ?? '1970-01-01T00:00:00Z';
  const prov: fhir4.Provenance = {
    resourceType: 'Provenance',
    id: rid('Provenance', header.id!),
    target: [{ reference: ref(focus.resourceType, focus.id!) }],
    recorded,
    activity: { coding: [{ system: SYS.v2_0003, code: event }] },
    agent: [{ who: { reference: ref('Organization', orgId), display: facility.name } }],
  };
  if (!toInstant(evnRecorded) && !toInstant(messageTime))
    w.warnings.push('EVN-2/MSH-7: no time to record, Provenance.recorded set to the epoch');
  const occurred = evnOccurred
    ? evnOccurred.fhir.includes('T')
      ? toInstant(evnOccurred)
      : evnOccurred.fhir
    : undefined;
  if (occurred) prov.occurredDateTime = occurred;

  const bundle: fhir4.Bundle = {
    resourceType: 'Bundle',
    id: rid('Bundle', profile.id, h.sendingApplication, h.sendingFacility, bundleKey),
    type: 'message',
    entry: [
      { fullUrl: `urn:uuid:${header.id}`, resource: header },
      ...w.entries,
      { fullUrl: `urn:uuid:${prov.id}`, resource: prov },
    ],
  };
  if (controlId)
    bundle.identifier = { system: `urn:tc-alerts:msh-10:${encodeURIComponent(profile.id)}`, value: controlId };
  const ts = toInstant(messageTime);
  if (ts) bundle.timestamp = ts;

  const flags = {
    psychiatricUnit: !!enc && unitFlag(profile.psychiatricUnits, enc.service, enc.poc),
    part2: !!enc && unitFlag(profile.part2Units, enc.service, enc.poc),
  };
  const converted: ConvertedMessage = {
    bundle,
    event,
    profileId: profile.id,
    facilityKey: w.fKey,
    isTest,
    patient: mainPatient,
    conditions: conds,
    coverages: covs,
    medicaidIds,
    flags,
    warnings: [...new Set(w.warnings)],
  };
  if (controlId) converted.controlId = controlId;
  if (h.version) converted.version = h.version;
  if (h.sendingApplication) converted.sendingApplication = h.sendingApplication;
  if (h.sendingFacility) converted.sendingFacility = h.sendingFacility;
  if (enc?.visitKey) converted.visitKey = enc.visitKey;
  if (mrn) converted.mrn = mrn;
  if (eventTime) converted.eventTime = eventTime;
  const mt = messageTime ? (messageTime.fhir.includes('T') ? toInstant(messageTime) : messageTime.fhir) : undefined;
  if (mt) converted.messageTime = mt;
  if (enc) converted.encounter = enc.enc;
  if (enc?.nubc) converted.dischargeDisposition = enc.nubc;
  if (MERGE_EVENTS.has(event)) converted.merges = merges;
  return { status: 'converted', converted };
}
