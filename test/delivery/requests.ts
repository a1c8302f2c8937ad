/**
 * DeliveryRequests built by hand from the personas of fixtures/PERSONAS.md (the planner is written in parallel):
 * the shape the pipeline gives delivery (src/engine/handle.ts deliveryRequests) with a Task as src/care/task-shape.ts
 * builds it.
 */
import { randomUUID } from 'node:crypto';
import {
  DCN_SYSTEM,
  ENGINE_ORGANIZATION_SYSTEM,
  SITE_IDENTIFIER_SYSTEM,
  TASK_CODE_SYSTEM,
  TASK_GROUP_SYSTEM,
  TASK_IDENTIFIER_SYSTEM,
  type Priority,
  type TaskAction,
} from '../../src/care/types.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import { stableId } from '../../src/util/hash.ts';

const NPI = 'http://hl7.org/fhir/sid/us-npi';
const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';

export const FACILITIES = {
  mercy: { npi: '1922000011', name: 'Mercy Hospital Springfield', authority: 'MERCY' },
  boone: { npi: '1922000029', name: 'Boone Hospital Center', authority: 'BOONE' },
  cox: { npi: '1922000037', name: 'Cox Medical Center South', authority: 'COX' },
  bjh: { npi: '1922000045', name: 'Barnes-Jewish Hospital', authority: 'BJH' },
} as const;

export const PERSONAS = {
  P001: {
    dcn: '10234567',
    family: 'ALVAREZ',
    given: 'MARIA',
    birthDate: '1978-03-14',
    sex: 'F',
    siteId: 'pchh-springfield-north',
    program: 'PCHH',
    facility: 'mercy',
    mrn: 'M1001',
  },
  P002: {
    dcn: '10345678',
    family: 'THOMPSON',
    given: 'WILLIAM',
    birthDate: '1965-11-02',
    sex: 'M',
    siteId: 'pchh-kc-east',
    program: 'PCHH',
    facility: 'cox',
    mrn: 'C2002',
  },
  P003: {
    dcn: '10456789',
    family: 'NGUYEN',
    given: 'LINH',
    birthDate: '1990-07-21',
    sex: 'F',
    siteId: 'cmhc-burrell-springfield',
    program: 'CMHC',
    facility: 'mercy',
    mrn: 'M1003',
  },
  P004: {
    dcn: '10567890',
    family: 'WASHINGTON',
    given: 'DESHAWN',
    birthDate: '2001-01-30',
    sex: 'M',
    siteId: 'cmhc-compass-columbia',
    program: 'CMHC',
    facility: 'bjh',
    mrn: 'B4004',
  },
  P005: {
    dcn: '10678901',
    family: "O'BRIEN-KELLY",
    given: 'MARGARET',
    birthDate: '1952-09-09',
    sex: 'F',
    siteId: 'pchh-columbia-central',
    program: 'PCHH',
    facility: 'boone',
    mrn: 'BH5005',
  },
  P006: {
    dcn: '10789012',
    family: 'SMITH',
    given: 'JOHN',
    birthDate: '1980-05-05',
    sex: 'M',
    siteId: 'pchh-stl-south',
    program: 'PCHH',
    facility: 'bjh',
    mrn: 'B6006',
  },
  P010: {
    dcn: '01234567',
    family: 'MÜLLER',
    given: 'ZOË',
    birthDate: '1988-02-29',
    sex: 'F',
    siteId: 'pchh-springfield-north',
    program: 'PCHH',
    facility: 'mercy',
    mrn: 'M1010',
  },
} as const;
export type PersonaId = keyof typeof PERSONAS;

export interface RequestOptions {
  persona: PersonaId;
  /** Visit number suffix (PV1-19), e.g. 'V1'. */
  visit?: string;
  rule?: string;
  action?: TaskAction;
  siteId?: string;
  priority?: Priority;
  /** ICD-10-CM codes of the visit's diagnoses (principal first). */
  dx?: string[];
  /** reasonCode codes on the Task (default: the principal diagnosis). */
  reason?: string[];
  sensitivity?: ('mh' | 'sud')[];
  part2?: boolean;
  isTest?: boolean;
  encounterStatus?: fhir4.Encounter['status'];
  classCode?: 'EMER' | 'IMP' | 'OBSENC';
  discharged?: boolean;
  cancelReason?: string;
  due?: string;
}

/** The Task identifier the planner would give (facility + visit + rule + site). */
export function taskIdentifierOf(o: Pick<RequestOptions, 'persona' | 'visit' | 'rule' | 'siteId'>): string {
  const p = PERSONAS[o.persona];
  const f = FACILITIES[p.facility];
  return stableId(f.npi, `${p.mrn}-${o.visit ?? 'V1'}`, o.rule ?? 'R7', o.siteId ?? p.siteId);
}

export function deliveryRequest(o: RequestOptions): DeliveryRequest {
  const p = PERSONAS[o.persona];
  const f = FACILITIES[p.facility];
  const siteId = o.siteId ?? p.siteId;
  const visitNumber = `${p.mrn}-${o.visit ?? 'V1'}`;
  const visitSystem = `urn:tc-alerts:facility:${f.npi}:visit:${f.authority}`;
  const visitKey = `${NPI}|${f.npi}|PV1-19|${f.authority}|${visitNumber}`;
  const rule = o.rule ?? 'R7';
  const taskIdentifier = taskIdentifierOf(o);
  const encounterId = stableId('enc', visitKey);
  const patientId = stableId('pat', p.mrn);
  const orgId = stableId('org', f.npi);
  const dx = o.dx ?? ['J44.1'];
  const conditions: fhir4.Condition[] = dx.map((code, i) => ({
    resourceType: 'Condition',
    id: stableId('dx', visitKey, code),
    category: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }],
      },
    ],
    code: { coding: [{ system: ICD10, code, display: `diagnosis ${code}` }], text: `diagnosis ${code} (${i + 1})` },
    subject: { reference: `Patient/${patientId}` },
    encounter: { reference: `Encounter/${encounterId}` },
  }));
  const discharged = o.discharged ?? true;
  const encounter: fhir4.Encounter = {
    resourceType: 'Encounter',
    id: encounterId,
    identifier: [
      {
        use: 'official',
        system: visitSystem,
        value: visitNumber,
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'VN' }] },
        assigner: { reference: `Organization/${orgId}`, display: f.name },
      },
    ],
    status: o.encounterStatus ?? (discharged ? 'finished' : 'in-progress'),
    class: {
      system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
      code: o.classCode ?? 'IMP',
    },
    subject: { reference: `Patient/${patientId}` },
    serviceProvider: { reference: `Organization/${orgId}`, display: f.name },
    // What the hospital sends and the site must not get: unit, attending, facility address.
    serviceType: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: o.part2 ? 'DETOX' : 'MED' }],
    },
    location: [
      { location: { reference: `Location/${stableId('loc', visitKey)}`, display: o.part2 ? 'DETOX 3W' : '4N' } },
    ],
    participant: [{ individual: { reference: `Practitioner/${stableId('prac', visitKey)}`, display: 'DR ATTENDING' } }],
    period: {
      start: '2026-11-01T15:45:00-06:00',
      ...(discharged ? { end: '2026-11-06T09:30:00-06:00' } : {}),
    },
    ...(discharged
      ? {
          hospitalization: {
            dischargeDisposition: {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition',
                  code: 'home',
                  display: 'Home',
                },
                { system: 'https://www.nubc.org/CodeSystem/PatDischargeStatus', code: '01' },
              ],
            },
            destination: { display: '1420 N Benton Ave, Springfield MO 65803' },
          },
        }
      : {}),
    diagnosis: conditions.map((c, i) => ({ condition: { reference: `Condition/${c.id}` }, rank: i + 1 })),
  };
  const reasons = (o.reason ?? dx.slice(0, 1)).map((code) => ({ system: ICD10, code, display: `diagnosis ${code}` }));
  const encRef: fhir4.Reference = {
    reference: `Encounter/${encounterId}`,
    type: 'Encounter',
    identifier: { system: visitSystem, value: visitNumber },
  };
  const task: fhir4.Task = {
    resourceType: 'Task',
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: taskIdentifier }],
    groupIdentifier: { system: TASK_GROUP_SYSTEM, value: stableId('group', visitKey) },
    status: 'requested',
    intent: 'order',
    priority: o.priority ?? 'urgent',
    code: {
      coding: [
        { system: TASK_CODE_SYSTEM, code: o.part2 ? 'sud-followup' : 'pcp-followup', display: `${rule} follow-up` },
      ],
      text: `${rule} follow-up`,
    },
    description: `${rule} follow-up`,
    focus: encRef,
    encounter: encRef,
    for: { type: 'Patient', identifier: { system: DCN_SYSTEM, value: p.dcn } },
    authoredOn: '2026-11-06T10:00:00-06:00',
    requester: {
      type: 'Organization',
      identifier: { system: ENGINE_ORGANIZATION_SYSTEM, value: 'tc-alerts' },
      display: 'tc-alerts transitional-care engine',
    },
    owner: { type: 'Organization', identifier: { system: SITE_IDENTIFIER_SYSTEM, value: siteId } },
    restriction: { period: { start: '2026-11-06T09:30:00-06:00', end: o.due ?? '2026-11-13T23:59:59-06:00' } },
    reasonCode: { coding: reasons },
    reasonReference: { reference: `Condition/${conditions[0]?.id}` },
  };
  return {
    intent: {
      action: o.action ?? 'create',
      taskIdentifier,
      ruleId: rule,
      siteId,
      program: p.program,
      participantId: o.persona,
      visitKey,
      reason: `${rule}: test`,
      task,
      ...(o.cancelReason ? { cancelReason: o.cancelReason } : {}),
      sensitivity: o.sensitivity ?? [],
      part2: o.part2 ?? false,
    },
    participant: {
      participantId: o.persona,
      dcn: p.dcn,
      familyName: p.family,
      givenName: p.given,
      birthDate: p.birthDate,
      sex: p.sex,
    },
    encounter,
    conditions,
    facilityKey: `${NPI}|${f.npi}`,
    facilityName: f.name,
    isTest: o.isTest ?? false,
  };
}

/** The same request with another action (and optional changes to the Task). */
export function withAction(
  req: DeliveryRequest,
  action: TaskAction,
  change: Partial<fhir4.Task> = {},
  extra: { cancelReason?: string } = {},
): DeliveryRequest {
  return {
    ...req,
    intent: { ...req.intent, action, task: { ...req.intent.task, ...change }, ...extra },
  };
}

/** A fresh message id (outbox rows are unique per message, Task and action). */
export const messageId = (): string => `adt.inbound/0/${randomUUID()}`;

/** A clock the test moves (retry times, Retry-After) without waiting. */
export function manualClock(start = Date.now()): { now(): number; advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}
