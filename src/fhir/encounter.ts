import type { SegmentView } from '../hl7/types.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';
import { reps, val } from './datatypes.ts';
import { location } from './location.ts';
import { practitioner } from './practitioner.ts';
import {
  SYS,
  type Work,
  aliasCI,
  dateTime,
  inList,
  localSystem,
  mapCoding,
  ref,
  rid,
  sentCoding,
  targetCoding,
  time,
  upper,
} from './work.ts';

export function unitFlag(
  sel: SenderProfile['psychiatricUnits'],
  service: string | undefined,
  pointOfCare: string | undefined,
): boolean {
  return sel.wholeFacility || inList(sel.hospitalService, service) || inList(sel.pointOfCare, pointOfCare);
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

/** PV1-2 (after aliases and the profile's class rules) → Encounter.class; the code as sent is kept too. */
function encounterClass(w: Work, pv1: SegmentView): { cls: fhir4.Coding; original?: fhir4.Coding } {
  const sent = val(pv1, 2);
  const aliased = sent ? (aliasCI(w.profile.codeAliases.patientClass, sent) ?? sent) : undefined;
  const patientType = w.z.patientType ?? val(pv1, 18);
  const service = w.z.hospitalService ?? val(pv1, 10);
  const poc = val(pv1, 3);
  const table = w.codes['patient-class'];
  const original = sent ? sentCoding(w, table, sent) : undefined;
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
  const m = table.lookup(aliased);
  if (m) return { cls: targetCoding(w, table, m), original };
  w.warnings.push('PV1-2: patient class unmapped (table 0004), kept as original coding');
  return { cls: sentCoding(w, table, aliased), original };
}

/**
 * Encounter.status by event: A11 cancelled, A13 and A04 in-progress, A03 finished, A05 (pre-admit) planned even
 * with a discharge date; otherwise a valued PV1-45 means finished, else the event-status table.
 */
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
    case 'A05':
      return 'planned';
  }
  if (dischargeValued) return 'finished';
  const m = w.codes['event-status'].lookup(w.event);
  return (m?.code ?? 'unknown') as fhir4.Encounter['status'];
}

type Visit = { id: fhir4.Identifier; key: string };

/**
 * Visit identifier by precedence: PV1-19 (own CX-4), else PV1-50, else PID-18, else MRN + admit date. PID-18 is the
 * account number: typed AN (not VN), with a warning, so a visit keyed by account is visible.
 */
function visitIdentifier(
  w: Work,
  pv1: SegmentView,
  pid: SegmentView | undefined,
  mrn: string | undefined,
): Visit | undefined {
  const facilityScope = `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:visit`;
  const VN = { coding: [{ system: SYS.v2_0203, code: 'VN', display: 'Visit number' }] };
  const AN = { coding: [{ system: SYS.v2_0203, code: 'AN', display: 'Account number' }] };
  const pick = (seg: SegmentView | undefined, field: number, source: string): Visit | undefined => {
    const value = val(seg, field);
    if (!value) return undefined;
    const auth = val(seg, field, 4);
    const system = auth ? `${facilityScope}:${encodeURIComponent(auth)}` : facilityScope;
    const type = source === 'PID-18' ? AN : VN;
    return { id: { use: 'official', system, value, type }, key: `${w.fKey}|${source}|${auth ?? ''}|${value}` };
  };
  if (w.z.visitNumber) {
    const value = w.z.visitNumber;
    return {
      id: { use: 'official', system: facilityScope, value, type: { coding: [{ system: SYS.v2_0203, code: 'VN' }] } },
      key: `${w.fKey}|Z||${value}`,
    };
  }
  const r = pick(pv1, 19, 'PV1-19') ?? pick(pv1, 50, 'PV1-50');
  if (r) return r;
  const account = pick(pid, 18, 'PID-18');
  if (account) {
    w.warnings.push('PV1-19 empty: visit keyed by the account number (PID-18), typed AN');
    return account;
  }
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

/**
 * PV1-36 → hospitalization.dischargeDisposition. A NUBC code (1–2 digits, or via an alias) maps to the FHIR
 * discharge-disposition and keeps the NUBC coding. Anything else is the sender's own code: under the coding
 * system it names in PV1-36.3, else the sender's table 0112 system (never HL7's v2-0112, which has no such code).
 */
function dischargeDisposition(w: Work, pv1: SegmentView): { cc?: fhir4.CodeableConcept; nubc?: string } {
  const sent = w.z.dischargeDisposition ?? val(pv1, 36);
  if (!sent) return {};
  const text = val(pv1, 36, 2);
  const alias = aliasCI(w.profile.codeAliases.dischargeDisposition, sent);
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
  const named = w.z.dischargeDisposition ? undefined : val(pv1, 36, 3);
  const system = named && upper(named) !== 'HL70112' ? localSystem(w, named) : localSystem(w, 'v2-0112');
  return {
    cc: { coding: [{ system, code: sent, ...(text ? { display: text } : {}) }], ...(text ? { text } : {}) },
  };
}

const PARTICIPANTS = [
  [7, 'ATND', 'attender'],
  [8, 'REF', 'referrer'],
  [9, 'CON', 'consultant'],
  [17, 'ADM', 'admitter'],
] as const;

export interface EncounterResult {
  enc: fhir4.Encounter;
  visitKey?: string;
  nubc?: string;
  service?: string;
  poc?: string;
}

/** PV1 → Encounter (with its Locations and Practitioners added to the Bundle). */
export function encounter(
  w: Work,
  pv1: SegmentView,
  pid: SegmentView | undefined,
  patientId: string,
  orgId: string,
  mrn: string | undefined,
): EncounterResult {
  const visit = visitIdentifier(w, pv1, pid, mrn);
  const encId = rid('Encounter', w.fKey, visit?.key ?? `${w.msg.header.controlId ?? ''}|${pv1.index}`);
  const { cls, original } = encounterClass(w, pv1);
  const admitRaw = val(pv1, 44);
  const dischargeRaw = w.event === 'A13' ? undefined : val(pv1, 45);
  const start = dateTime(w, admitRaw);
  let end = dateTime(w, dischargeRaw);
  if (start && end && time(w, dischargeRaw)!.epochMs < time(w, admitRaw)!.epochMs) {
    w.warnings.push('PV1-45 earlier than PV1-44: period.end dropped');
    end = undefined;
  }
  const enc: fhir4.Encounter = {
    resourceType: 'Encounter',
    id: encId,
    status: encounterStatus(w, !!dischargeRaw),
    class: cls,
    subject: { reference: ref(patientId) },
    serviceProvider: { reference: ref(orgId), display: w.facility.name },
  };
  if (original) enc.extension = [{ url: SYS.originalPatientClass, valueCoding: original }];
  if (visit) enc.identifier = [{ ...visit.id, assigner: { reference: ref(orgId), display: w.facility.name } }];
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
  if (hosp.admitSource || hosp.dischargeDisposition) enc.hospitalization = hosp;
  const locations: fhir4.EncounterLocation[] = [];
  const cur = location(w, pv1, 3, orgId);
  if (cur)
    locations.push({ location: { reference: ref(cur) }, status: upper(val(pv1, 2)) === 'P' ? 'planned' : 'active' });
  if (w.event === 'A02') {
    const prior = location(w, pv1, 6, orgId);
    if (prior) locations.push({ location: { reference: ref(prior) }, status: 'completed' });
  }
  if (locations.length) enc.location = locations;
  const participants: fhir4.EncounterParticipant[] = [];
  for (const [field, code, display] of PARTICIPANTS) {
    const n = Math.max(1, reps(pv1, field));
    for (let r = 0; r < n; r++) {
      const pr = practitioner(w, pv1, field, r);
      if (pr)
        participants.push({
          type: [{ coding: [{ system: SYS.participation, code, display }] }],
          individual: { reference: ref(pr) },
        });
    }
  }
  if (participants.length) enc.participant = participants;
  const poc = val(pv1, 3);
  return {
    enc,
    ...(visit ? { visitKey: visit.key } : {}),
    ...(dd.nubc ? { nubc: dd.nubc } : {}),
    ...(service ? { service } : {}),
    ...(poc ? { poc } : {}),
  };
}
