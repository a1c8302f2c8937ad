import type { ParsedMessage, SegmentView } from '../hl7/types.ts';
import { address, contactPoint, humanName, reps, val } from './datatypes.ts';
import { IdentifierList, cx, identifierType } from './identifiers.ts';
import { SYS, type Work, add, dateTime, ref, rid, sentCoding, time, upper } from './work.ts';

/** PID-19 (SSN) and PID-20 (driver's licence) as identifiers: conversion keeps them, delivery never sends them. */
function pidNumbers(w: Work, pid: SegmentView, ids: IdentifierList): void {
  const ssn = val(pid, 19);
  if (ssn) ids.add({ system: SYS.ssn, value: ssn, type: identifierType(w, 'SS')! });
  const dl = val(pid, 20);
  if (dl) {
    const state = val(pid, 20, 2);
    const expires = time(w, val(pid, 20, 3));
    ids.add({
      system: `urn:tc-alerts:drivers-license${state ? `:${encodeURIComponent(upper(state))}` : ''}`,
      value: dl,
      type: identifierType(w, 'DL')!,
      ...(expires ? { period: { end: expires.fhir.slice(0, 10) } } : {}),
    });
  }
}

/** What follows each PID: its NK1s (until the next PID or PV1) and the first MRG before the next PID. */
export interface PidGroup {
  pid: SegmentView;
  nk1: SegmentView[];
  mrg?: SegmentView;
}

/** Every PID with its NK1s and MRG, in one pass over the segments (linear however many PIDs and NK1s). */
export function pidGroups(msg: ParsedMessage): PidGroup[] {
  const groups: PidGroup[] = [];
  let cur: PidGroup | undefined;
  let inVisit = false;
  for (const s of msg.segments) {
    if (s.name === 'PID') {
      cur = { pid: s, nk1: [] };
      groups.push(cur);
      inVisit = false;
    } else if (s.name === 'PV1') inVisit = true;
    else if (s.name === 'NK1' && cur && !inVisit) cur.nk1.push(s);
    else if (s.name === 'MRG' && cur && !cur.mrg) cur.mrg = s;
  }
  return groups;
}

/** A PID's NK1 segments → Patient.contact. */
function contacts(w: Work, nk1s: SegmentView[]): fhir4.PatientContact[] {
  const table = w.codes['contact-relationship'];
  const out: fhir4.PatientContact[] = [];
  for (const nk1 of nk1s) {
    const c: fhir4.PatientContact = {};
    const n = humanName(nk1, 2, 0);
    if (n) c.name = n;
    const rel = val(nk1, 3);
    if (rel) {
      const text = val(nk1, 3, 2);
      c.relationship = [{ coding: [sentCoding(w, table, rel)], ...(text ? { text } : {}) }];
    }
    const t = contactPoint(nk1, 5, 0, 'home');
    if (t) c.telecom = [t];
    // pat-1: a contact needs a name, telecom, address or organization; a relationship alone says nothing to act on.
    if (c.name || c.telecom) out.push(c);
    else if (c.relationship) w.warnings.push('NK1 with a relationship but no name or telephone: contact left out');
  }
  return out;
}

/** PID (+ its NK1s) → Patient. The id follows the first identifier, so every message about a person agrees. */
export function patient(w: Work, group: PidGroup): fhir4.Patient {
  const pid = group.pid;
  const ids = new IdentifierList();
  for (let r = 0; r < reps(pid, 3); r++) ids.add(cx(w, pid, 3, r));
  for (let r = 0; r < reps(pid, 2); r++) ids.add(cx(w, pid, 2, r));
  pidNumbers(w, pid, ids);
  const identifier = ids.list;
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
  const nk = contacts(w, group.nk1);
  if (nk.length) p.contact = nk;
  return p;
}

/**
 * A40/A34/A39/A47: each PID with the MRG that follows it. The survivor `replaces` the prior Patient, which is
 * inactive and `replaced-by` the survivor; both are added to the Bundle, the prior first.
 */
export function mergePatients(
  w: Work,
  groups: PidGroup[],
): { patients: fhir4.Patient[]; merges: { survivor: fhir4.Identifier[]; prior: fhir4.Identifier[] }[] } {
  const patients: fhir4.Patient[] = [];
  const merges: { survivor: fhir4.Identifier[]; prior: fhir4.Identifier[] }[] = [];
  for (const g of groups) {
    const prior = new IdentifierList();
    const mrg = g.mrg;
    if (mrg) for (let r = 0; r < reps(mrg, 1); r++) prior.add(cx(w, mrg, 1, r));
    const survivor = patient(w, g);
    const first = prior.list[0];
    if (first) {
      const priorPatient: fhir4.Patient = {
        resourceType: 'Patient',
        id: rid('Patient', w.fKey, `${first.system}|${first.value}`),
        identifier: prior.list,
        active: false,
        link: [{ other: { reference: ref(survivor.id!) }, type: 'replaced-by' }],
      };
      survivor.link = [{ other: { reference: ref(priorPatient.id!), identifier: first }, type: 'replaces' }];
      add(w, priorPatient);
      merges.push({ survivor: survivor.identifier ?? [], prior: prior.list });
    }
    add(w, survivor);
    patients.push(survivor);
  }
  return { patients, merges };
}
