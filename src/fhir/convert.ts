/**
 * One ADT message → a FHIR R4 message Bundle (HL7 v2-to-FHIR IG), one module per resource: patient.ts,
 * encounter.ts, condition.ts, coverage.ts, practitioner.ts, location.ts, organization.ts, message.ts
 * (MessageHeader, Provenance, Bundle). Deviations from the IG: docs/conversion.md.
 */
import type { ParsedMessage } from '../hl7/types.ts';
import type { CodeTables } from '../mappings/codes.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';
import type { SenderProfiles } from '../mappings/senders.ts';
import { stableId } from '../util/hash.ts';
import { conditions } from './condition.ts';
import { MedicaidIds, coverages, pid3Medicaid } from './coverage.ts';
import { toInstant, val } from './datatypes.ts';
import { type EncounterResult, encounter, unitFlag } from './encounter.ts';
import { facilityKey as keyOf, findMrn, readFieldRef, resolveFacility } from './facility.ts';
import { messageBundle } from './message.ts';
import { organization } from './organization.ts';
import { informationOutcome } from './outcome.ts';
import { mergePatients, patient, pidGroups } from './patient.ts';
import { controlLocations, mayHoldControls, mayHoldOddSpaces, normaliseCodes, scrubControls } from './strings.ts';
import type { ConvertResult, ConvertedMessage } from './types.ts';
import { type Work, add, inList, ref, rid, time, upper } from './work.ts';

export { SYS } from './work.ts';

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

/** The event a message is handled as: MSH-9.2, else EVN-1. */
export function eventOf(msg: ParsedMessage): string | undefined {
  return upper(msg.header.triggerEvent ?? val(msg.segment('EVN'), 1)) || undefined;
}

/** An event code as table 0003 shapes it (A01, Q05, …): only such a value may appear in an outcome. */
const EVENT_CODE = /^[A-Z][0-9A-Z]{2}$/;

function zValues(msg: ParsedMessage, profile: SenderProfile): Work['z'] {
  const z: Work['z'] = {};
  for (const m of profile.zSegments) {
    const v = readFieldRef(msg, m.field);
    if (v && v !== '""') z[m.target] = v.trim();
  }
  return z;
}

function ignored(
  controlId: string | undefined,
  event: string | undefined,
  profile: SenderProfile,
  handled: boolean,
): ConvertResult {
  // A trigger event is a code, but MSH-9.2/EVN-1 can carry anything: a value that is not code-shaped is named by
  // its field, never quoted (outcomes carry ids and codes only).
  const code = event && EVENT_CODE.test(event) ? event : undefined;
  const what = code ? `event ${code}` : event ? 'the event in MSH-9.2/EVN-1 (not an event code)' : 'event (none)';
  const why = handled ? `${what} is not enabled for sender profile ${profile.id}` : `${what} is not handled`;
  return {
    status: 'ignored',
    outcome: informationOutcome(`message ${controlId ?? '(no MSH-10)'}: ${why}`),
    ...(code ? { event: code } : {}),
    ...(controlId ? { controlId } : {}),
  };
}

/** Converts one parsed ADT message. Pure and deterministic; never throws for bad input data. */
export function convertMessage(msg: ParsedMessage, ctx: ConvertContext): ConvertResult {
  const h = msg.header;
  const event = eventOf(msg);
  const controlId = h.controlId;
  const { profile } = ctx.profiles.resolve(h.sendingApplication, h.sendingFacility);
  if (!event || !HANDLED_EVENTS.has(event)) return ignored(controlId, event, profile, false);
  if (!(profile.events.includes(event) || (MERGE_EVENTS.has(event) && profile.events.includes('A40'))))
    return ignored(controlId, event, profile, true);
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
  const isMerge = MERGE_EVENTS.has(event);
  const messageTime = time(w, h.dateTime);
  const evn = msg.segment('EVN');
  const evnRecorded = time(w, val(evn, 2));
  const evnOccurred = time(w, val(evn, 6));
  const eventTimeT = evnOccurred ?? evnRecorded ?? messageTime;

  const orgId = organization(w, facility);
  const groups = pidGroups(msg);
  const pid = groups[0]?.pid;
  const mrn = findMrn(msg);
  const medicaid = new MedicaidIds();
  let merges: NonNullable<ConvertedMessage['merges']> = [];
  let patients: fhir4.Patient[] = [];
  if (isMerge) ({ patients, merges } = mergePatients(w, groups));
  else if (groups[0]) {
    const p = patient(w, groups[0]);
    add(w, p);
    patients = [p];
  }
  const mainPatient = patients[0] ?? { resourceType: 'Patient', id: rid('Patient', w.fKey, `${controlId ?? ''}|none`) };
  if (!patients.length) add(w, mainPatient);
  if (pid) pid3Medicaid(w, pid, medicaid);
  if (w.z.medicaidId) medicaid.push(w.z.medicaidId, 'Z');

  const pv1 = isMerge ? undefined : msg.segment('PV1');
  let enc: EncounterResult | undefined;
  if (pv1) {
    enc = encounter(w, pv1, pid, mainPatient.id!, orgId, mrn);
    add(w, enc.enc);
  }
  const conds = isMerge ? [] : conditions(w, mainPatient.id!, enc?.enc.id, enc?.visitKey);
  if (enc && conds.length)
    enc.enc.diagnosis = conds.map((c, i) => ({ condition: { reference: ref(c.id!) }, rank: i + 1 }));
  const covs = isMerge ? [] : coverages(w, mainPatient.id!, medicaid);

  const bundle = messageBundle(
    w,
    // A merge is about every survivor (one per PID/MRG pair): each is a focus, so no entry is unreachable.
    enc ? [enc.enc] : patients.length ? patients : [mainPatient],
    orgId,
    { message: messageTime, recorded: evnRecorded, occurred: evnOccurred },
    controlId ?? stableId(msg.text),
  );
  const controls = mayHoldControls(msg);
  if (controls && scrubControls(bundle) > 0)
    w.warnings.push(`control characters replaced in FHIR strings (${controlLocations(msg).join(', ') || 'escapes'})`);
  if ((controls || mayHoldOddSpaces(msg)) && normaliseCodes(bundle) > 0)
    w.warnings.push('white space in codes made single (FHIR code: no leading, trailing or doubled spaces)');

  const converted: ConvertedMessage = {
    bundle,
    event,
    profileId: profile.id,
    facilityKey: w.fKey,
    isTest: !inList(profile.processingIds, h.processingId),
    patient: mainPatient,
    conditions: conds,
    coverages: covs,
    medicaidIds: medicaid.list,
    flags: {
      psychiatricUnit: !!enc && unitFlag(profile.psychiatricUnits, enc.service, enc.poc),
      part2: !!enc && unitFlag(profile.part2Units, enc.service, enc.poc),
    },
    warnings: [...new Set(w.warnings)],
  };
  if (controlId) converted.controlId = controlId;
  if (h.version) converted.version = h.version;
  if (h.sendingApplication) converted.sendingApplication = h.sendingApplication;
  if (h.sendingFacility) converted.sendingFacility = h.sendingFacility;
  if (enc?.visitKey) converted.visitKey = enc.visitKey;
  if (mrn) converted.mrn = mrn;
  const fhirTime = (t: typeof messageTime) => (t ? (t.fhir.includes('T') ? toInstant(t) : t.fhir) : undefined);
  const eventTime = fhirTime(eventTimeT);
  if (eventTime) converted.eventTime = eventTime;
  const mt = fhirTime(messageTime);
  if (mt) converted.messageTime = mt;
  if (enc) converted.encounter = enc.enc;
  if (enc?.nubc) converted.dischargeDisposition = enc.nubc;
  if (isMerge) converted.merges = merges;
  return { status: 'converted', converted };
}
