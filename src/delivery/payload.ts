import { DCN_SYSTEM, TASK_CODE_SYSTEM } from '../care/types.ts';
import type { Site } from './sites.ts';
import type { DeliveryRequest } from './types.ts';

export interface SitePayload {
  patient: fhir4.Patient;
  encounter?: fhir4.Encounter;
  task: fhir4.Task;
  /** True when sensitive content was withheld (category not allowed for the site, or 42 CFR Part 2). */
  generic: boolean;
}

const GENDER = { F: 'female', M: 'male', O: 'other', U: 'unknown' } as const;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

/** May this site receive the intent's sensitive categories? SUD from a Part 2 program needs 'sud' explicitly. */
export function allowedFor(req: DeliveryRequest, site: Pick<Site, 'categories'>): boolean {
  const needs = new Set(req.intent.sensitivity);
  if (req.intent.part2) needs.add('sud');
  return [...needs].every((c) => site.categories.includes(c));
}

/**
 * The minimum necessary for the site to act: identity from the roster (DCN, name, birth date, gender), the Encounter
 * stripped to class, status, period, facility (identifier only) and disposition, and the Task. Never an SSN,
 * next-of-kin, Coverage or hospital address. Not-allowed sensitive content becomes a generic follow-up Task.
 */
export function buildSitePayload(req: DeliveryRequest, site: Pick<Site, 'categories'>): SitePayload {
  const p = req.participant;
  const patient: fhir4.Patient = {
    resourceType: 'Patient',
    identifier: [{ system: DCN_SYSTEM, value: p.dcn }],
    name: [{ family: p.familyName, given: [p.givenName] }],
    gender: GENDER[p.sex],
    birthDate: p.birthDate,
  };
  const generic = !allowedFor(req, site);
  const [facilitySystem, facilityValue] = req.facilityKey.split('|');
  const e = req.encounter;
  const encounter: fhir4.Encounter | undefined = e
    ? {
        resourceType: 'Encounter',
        ...(e.identifier?.[0]
          ? { identifier: [{ system: e.identifier[0].system, value: e.identifier[0].value }] }
          : {}),
        status: e.status,
        class: e.class,
        ...(e.period ? { period: e.period } : {}),
        serviceProvider: {
          identifier: { system: facilitySystem, value: facilityValue },
          ...(req.facilityName ? { display: req.facilityName } : {}),
        },
        ...(!generic && e.hospitalization?.dischargeDisposition
          ? { hospitalization: { dischargeDisposition: e.hospitalization.dischargeDisposition } }
          : {}),
      }
    : undefined;
  const task: fhir4.Task = structuredClone(req.intent.task);
  if (generic) {
    task.code = {
      coding: [{ system: TASK_CODE_SYSTEM, code: 'tc-followup', display: 'Transitional-care follow-up' }],
      text: 'Transitional-care follow-up',
    };
    delete task.reasonCode;
    delete task.reasonReference;
    delete task.description;
    delete task.note;
    const labels: fhir4.Coding[] = [{ system: CONFIDENTIALITY, code: 'R', display: 'restricted' }];
    if (req.intent.part2) labels.push({ system: ACT_CODE, code: '42CFRPart2' });
    if (req.intent.sensitivity.includes('sud')) labels.push({ system: ACT_CODE, code: 'ETH' });
    if (req.intent.sensitivity.includes('mh')) labels.push({ system: ACT_CODE, code: 'PSY' });
    task.meta = { ...(task.meta ?? {}), security: labels };
  }
  return { patient, ...(encounter ? { encounter } : {}), task, generic };
}
