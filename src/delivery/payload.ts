import { DCN_SYSTEM, TASK_CODE_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import { sortedLabels } from './labels.ts';
import { ownerReference, type Site } from './sites.ts';
import type { DeliveryRequest } from './types.ts';
import { stamped } from './visit-order.ts';

/**
 * What a site receives: the minimum necessary to act on the Task.
 *  - Patient: DCN, name, birth date, gender from the roster (never the hospital's PID: no SSN, MRN, address,
 *    telecom, next-of-kin), conditionally created by DCN.
 *  - Encounter: visit identifier, status, class, period, the hospital as an identifier-only serviceProvider,
 *    discharge disposition and the diagnoses the site may receive (contained Conditions), conditionally written on
 *    its identifier. No location, practitioner, Coverage or address.
 *    It carries the event time it reflects (visit-order.ts): it is only ever sent when it moves the visit forward.
 *  - Task: the planner's Task, owner = the site's Organization (found or created by its identifier), for/encounter/
 *    focus bound to what was written at the site; every other reference identifier-only.
 * When a sensitive category is not allowed for the site (mh, sud; SUD under 42 CFR Part 2 needs sud), the Task is a
 * generic follow-up: no SUD or mental-health codes, reasonCode or diagnoses, and meta.security labels.
 */
export interface SitePayload {
  /**
   * The site's own Organization (Task.owner), conditionally created by its identifier: a bare server has none, and
   * HAPI refuses a Task whose owner does not resolve (HAPI-1094).
   */
  owner?: { organization: fhir4.Organization; query: string };
  patient: fhir4.Patient;
  /** Without subject: bound at write time. */
  encounter?: fhir4.Encounter;
  /** Without for/encounter/focus: bound at write time. */
  task: fhir4.Task;
  generic: boolean;
  /** Search/conditional queries (identifier=system|value). */
  patientQuery: string;
  encounterQuery?: string;
  taskQuery: string;
  /** How much was held back for this site (counts only). */
  withheld: { diagnoses: number };
}

export type Sensitivity = 'mh' | 'sud';
/** The sensitive categories a diagnosis coding belongs to (empty when none). */
export type SensitivityOf = (coding: fhir4.Coding) => Sensitivity[];

const GENDER = { F: 'female', M: 'male', O: 'other', U: 'unknown' } as const;
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const CONDITION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/condition-category';
const DIAGNOSIS_ROLE = 'http://terminology.hl7.org/CodeSystem/diagnosis-role';
const GENERIC_TEXT = 'Transitional-care follow-up';

/**
 * Built-in ICD-10-CM classification, the same ranges as mappings/diagnosis-groups.yaml (use
 * `loadDiagnosisSensitivity` to follow that file): F10-F19 except F17 and drug poisonings T36-T50 (intent 1-4) are
 * SUD; the rest of chapter F, intentional self-harm X71-X83 and T14.91 are mental health. Non-ICD codings are
 * treated as sensitive only when their text says so (never guessed: a site gets fewer codes, not more).
 */
export const icd10Sensitivity: SensitivityOf = (coding) => {
  if (!coding.code) return [];
  const code = coding.code.replace(/\./g, '').toUpperCase();
  const out = new Set<Sensitivity>();
  if (/^F1[0-689]/.test(code) || /^T(3[6-9]|4\d|50)[0-9A-Z]{2}[1-4]/.test(code)) out.add('sud');
  if (
    /^F[02-9]/.test(code) ||
    /^X(7[1-9]|8[0-3])/.test(code) ||
    /^T1491/.test(code) ||
    /^T(3[6-9]|4\d|50)[0-9A-Z]{2}2/.test(code)
  )
    out.add('mh');
  return [...out];
};

/** May this site receive the intent's sensitive categories? SUD from a Part 2 program needs 'sud' explicitly. */
export function allowedFor(req: DeliveryRequest, site: Pick<Site, 'categories'>): boolean {
  const needs = new Set(req.intent.sensitivity);
  if (req.intent.part2) needs.add('sud');
  return [...needs].every((c) => site.categories.includes(c));
}

/** meta.security labels for sensitive content (v3 Confidentiality R; ActCode ETH, PSY, 42CFRPart2, NORDSCLCD). */
export function securityLabels(req: DeliveryRequest): fhir4.Coding[] {
  return sortedLabels(unsortedLabels(req));
}

function unsortedLabels(req: DeliveryRequest): fhir4.Coding[] {
  const s = new Set(req.intent.sensitivity);
  if (req.intent.part2) s.add('sud');
  if (!s.size) return [];
  const labels: fhir4.Coding[] = [{ system: CONFIDENTIALITY, code: 'R', display: 'restricted' }];
  if (s.has('sud')) labels.push({ system: ACT_CODE, code: 'ETH', display: 'substance abuse information sensitivity' });
  if (s.has('mh')) labels.push({ system: ACT_CODE, code: 'PSY', display: 'psychiatry information sensitivity' });
  if (req.intent.part2) {
    labels.push({ system: ACT_CODE, code: '42CFRPart2', display: '42 CFR Part2' });
    labels.push({ system: ACT_CODE, code: 'NORDSCLCD', display: 'no redisclosure without consent directive' });
  }
  return labels;
}

const query = (system: string | undefined, value: string) =>
  `identifier=${encodeURIComponent(system ? `${system}|${value}` : value)}`;

/** A Reference reduced to its identifier (and type, display): it never points at a resource the site lacks. */
function identifierOnly(ref: fhir4.Reference | undefined): fhir4.Reference | undefined {
  if (!ref?.identifier) return undefined;
  return {
    ...(ref.type ? { type: ref.type } : {}),
    identifier: { ...(ref.identifier.system ? { system: ref.identifier.system } : {}), value: ref.identifier.value },
    ...(ref.display ? { display: ref.display } : {}),
  };
}

function visitIdentifier(e: fhir4.Encounter): fhir4.Identifier | undefined {
  const ids = (e.identifier ?? []).filter((i) => i.system && i.value);
  const vn = ids.find((i) => i.type?.coding?.some((c) => c.code === 'VN')) ?? ids[0];
  return vn ? { system: vn.system, value: vn.value } : undefined;
}

function diagnoses(
  req: DeliveryRequest,
  allowed: readonly Sensitivity[],
  sensitivityOf: SensitivityOf,
): { contained: fhir4.Condition[]; diagnosis: fhir4.EncounterDiagnosis[]; withheld: number } {
  const e = req.encounter;
  const byId = new Map((req.conditions ?? []).filter((c) => c.id).map((c) => [c.id!, c]));
  const listed = (e?.diagnosis ?? [])
    // Converted Bundles reference entries by fullUrl (urn:uuid:<id>); a relative Condition/<id> is read too.
    .map((d) => ({ d, c: byId.get((d.condition.reference ?? '').replace(/^(urn:uuid:|Condition\/)/, '')) }))
    .filter((x): x is { d: fhir4.EncounterDiagnosis; c: fhir4.Condition } => !!x.c);
  // Conditions the Encounter does not list still count as encounter diagnoses of this message.
  for (const c of req.conditions ?? [])
    if (!listed.some((x) => x.c === c)) listed.push({ d: { condition: { reference: `Condition/${c.id}` } }, c });
  const contained: fhir4.Condition[] = [];
  const diagnosis: fhir4.EncounterDiagnosis[] = [];
  let withheld = 0;
  for (const { d, c } of listed) {
    const codings = (c.code?.coding ?? []).filter((x) => x.code);
    if (!codings.length) continue;
    if (codings.some((x) => sensitivityOf(x).some((s) => !allowed.includes(s)))) {
      withheld++;
      continue;
    }
    const id = `dx${contained.length + 1}`;
    contained.push({
      resourceType: 'Condition',
      id,
      category: [{ coding: [{ system: CONDITION_CATEGORY, code: 'encounter-diagnosis' }] }],
      code: {
        coding: codings.map((x) => ({
          ...(x.system ? { system: x.system } : {}),
          code: x.code,
          ...(x.display ? { display: x.display } : {}),
        })),
      },
      subject: { reference: '' }, // bound with the Patient at write time
    });
    diagnosis.push({
      condition: { reference: `#${id}` },
      ...(d.use?.coding?.length ? { use: { coding: d.use.coding.filter((u) => u.system === DIAGNOSIS_ROLE) } } : {}),
      ...(d.rank ? { rank: d.rank } : {}),
    });
  }
  return { contained, diagnosis, withheld };
}

export function buildSitePayload(
  req: DeliveryRequest,
  site: Pick<Site, 'categories'> & Partial<Pick<Site, 'siteId' | 'name' | 'organization' | 'npi'>>,
  options: { sensitivityOf?: SensitivityOf } = {},
): SitePayload {
  const sensitivityOf = options.sensitivityOf ?? icd10Sensitivity;
  const p = req.participant;
  const patient: fhir4.Patient = {
    resourceType: 'Patient',
    identifier: [{ system: DCN_SYSTEM, value: p.dcn }],
    gender: GENDER[p.sex],
  };
  // A roster row may lack a name part, a birth date or a DCN (a warning at load): FHIR has no empty strings.
  const name: fhir4.HumanName = {};
  if (p.familyName) name.family = p.familyName;
  if (p.givenName) name.given = [p.givenName];
  if (name.family || name.given) patient.name = [name];
  if (p.birthDate) patient.birthDate = p.birthDate;
  if (!p.dcn) delete patient.identifier;
  const generic = !allowedFor(req, site);
  const labels = securityLabels(req);
  const [facilitySystem, facilityValue] = req.facilityKey.includes('|')
    ? req.facilityKey.split('|', 2)
    : [undefined, req.facilityKey];

  let encounter: fhir4.Encounter | undefined;
  let encounterQuery: string | undefined;
  let withheld = 0;
  const e = req.encounter;
  const visitId = e ? visitIdentifier(e) : undefined;
  if (e && visitId?.value) {
    const dx = generic ? { contained: [], diagnosis: [], withheld: 0 } : diagnoses(req, site.categories, sensitivityOf);
    withheld = generic ? (req.conditions?.length ?? 0) : dx.withheld;
    const disposition = e.hospitalization?.dischargeDisposition;
    encounter = stamped(
      {
        resourceType: 'Encounter',
        ...(labels.length ? { meta: { security: labels } } : {}),
        ...(dx.contained.length ? { contained: dx.contained } : {}),
        identifier: [visitId],
        status: e.status,
        class: { system: e.class.system, code: e.class.code, ...(e.class.display ? { display: e.class.display } : {}) },
        ...(e.period
          ? {
              period: {
                ...(e.period.start ? { start: e.period.start } : {}),
                ...(e.period.end ? { end: e.period.end } : {}),
              },
            }
          : {}),
        ...(!generic && disposition?.coding?.length
          ? { hospitalization: { dischargeDisposition: { coding: disposition.coding.map((c) => ({ ...c })) } } }
          : {}),
        ...(dx.diagnosis.length ? { diagnosis: dx.diagnosis } : {}),
        serviceProvider: {
          type: 'Organization',
          identifier: { ...(facilitySystem ? { system: facilitySystem } : {}), value: facilityValue! },
          ...(req.facilityName ? { display: req.facilityName } : {}),
        },
      },
      req.eventTime,
    );
    encounterQuery = query(visitId.system, visitId.value);
  }

  const t: fhir4.Task = structuredClone(req.intent.task);
  delete t.meta;
  delete t.text;
  delete t.contained;
  delete t.note;
  delete t.output;
  delete t.reasonReference;
  delete t.for;
  delete t.encounter;
  delete t.focus;
  delete t.location;
  delete t.insurance;
  delete t.relevantHistory;
  if (t.requester) t.requester = identifierOnly(t.requester);
  if (!t.requester) delete t.requester;
  for (const k of ['basedOn', 'partOf'] as const) {
    const refs = (t[k] ?? []).map(identifierOnly).filter((r): r is fhir4.Reference => !!r);
    if (refs.length) t[k] = refs;
    else delete t[k];
  }
  if (t.input) {
    t.input = t.input
      .map((i) => (i.valueReference ? { ...i, valueReference: identifierOnly(i.valueReference)! } : i))
      .filter((i) => !('valueReference' in i) || i.valueReference);
    if (!t.input.length) delete t.input;
  }
  if (t.restriction?.recipient) {
    const r = t.restriction.recipient.map(identifierOnly).filter((x): x is fhir4.Reference => !!x);
    t.restriction = { ...t.restriction, ...(r.length ? { recipient: r } : {}) };
    if (!r.length) delete t.restriction.recipient;
  }
  t.owner =
    site.siteId && site.name && site.organization
      ? ownerReference({ siteId: site.siteId, name: site.name, organization: site.organization })
      : (identifierOnly(t.owner) ?? t.owner);
  if (!t.owner) delete t.owner;
  if (generic) {
    // The activity is kept (the planner's restricted code, display and description); only the sensitive reason,
    // and the practitioners who could reveal it, are held back.
    const r = req.intent.restricted;
    const display = r?.display ?? GENERIC_TEXT;
    t.code = { coding: [{ system: TASK_CODE_SYSTEM, code: r?.code ?? 'tc-followup', display }], text: display };
    t.description = r?.description ?? GENERIC_TEXT;
    delete t.reasonCode;
    if (t.input) {
      t.input = t.input.filter((i) => !/-practitioner$|^hospital-contact$/.test(i.type.text ?? ''));
      if (!t.input.length) delete t.input;
    }
  } else if (t.reasonCode) {
    const kept = (t.reasonCode.coding ?? []).filter((c) => sensitivityOf(c).every((s) => site.categories.includes(s)));
    if (kept.length) t.reasonCode = { coding: kept };
    else delete t.reasonCode;
  }
  if (labels.length) t.meta = { security: labels };
  const owner = site.siteId && site.name && site.organization ? ownerOrganization(site as OwnerSite) : undefined;
  if (owner && t.owner) delete t.owner.reference; // bound at write time to the Organization the site has
  return {
    ...(owner ? { owner } : {}),
    patient,
    ...(encounter ? { encounter } : {}),
    ...(encounterQuery ? { encounterQuery } : {}),
    task: t,
    generic,
    patientQuery: query(DCN_SYSTEM, p.dcn),
    taskQuery: query(TASK_IDENTIFIER_SYSTEM, req.intent.taskIdentifier),
    withheld: { diagnoses: withheld },
  };
}

type OwnerSite = Pick<Site, 'siteId' | 'name' | 'organization'> & Partial<Pick<Site, 'npi'>>;

/** The site's Organization as the engine creates it when the site has none with its identifier. */
export function ownerOrganization(site: OwnerSite): { organization: fhir4.Organization; query: string } {
  const id = ownerReference(site).identifier!;
  return {
    organization: {
      resourceType: 'Organization',
      identifier: [id, ...(site.npi ? [{ system: 'http://hl7.org/fhir/sid/us-npi', value: site.npi }] : [])],
      name: site.name,
      active: true,
    },
    query: query(id.system, id.value!),
  };
}

/** The payload with its references bound to what exists at the site (ids or transaction urn:uuid fullUrls). */
export function bindPayload(
  p: SitePayload,
  refs: { patient: string; encounter?: string; owner?: string },
): { encounter?: fhir4.Encounter; task: fhir4.Task } {
  const patientRef: fhir4.Reference = { reference: refs.patient, type: 'Patient' };
  const encounter = p.encounter
    ? {
        ...p.encounter,
        subject: patientRef,
        ...(p.encounter.contained
          ? {
              contained: p.encounter.contained.map((c) =>
                c.resourceType === 'Condition' ? { ...c, subject: patientRef } : c,
              ),
            }
          : {}),
      }
    : undefined;
  const task: fhir4.Task = { ...p.task, for: patientRef };
  if (refs.owner && p.task.owner) task.owner = { reference: refs.owner, ...p.task.owner };
  if (refs.encounter) {
    const ref: fhir4.Reference = {
      reference: refs.encounter,
      type: 'Encounter',
      ...(p.encounter?.identifier?.[0] ? { identifier: p.encounter.identifier[0] } : {}),
    };
    task.encounter = ref;
    task.focus = ref;
  }
  return { ...(encounter ? { encounter } : {}), task };
}

/** Sensitivity from mappings/diagnosis-groups.yaml (the groups the planner uses), as a SensitivityOf. */
export function sensitivityFromGroups(groups: {
  [name: string]: { sensitivity?: Sensitivity; prefixes?: string[]; excludePrefixes?: string[]; patterns?: string[] };
}): SensitivityOf {
  const compiled = Object.values(groups)
    .filter((g) => g.sensitivity)
    .map((g) => ({
      s: g.sensitivity!,
      prefixes: g.prefixes ?? [],
      exclude: g.excludePrefixes ?? [],
      patterns: (g.patterns ?? []).map((p) => new RegExp(p)),
    }));
  return (coding) => {
    if (!coding.code) return [];
    const code = coding.code.replace(/\./g, '').toUpperCase();
    const out = new Set<Sensitivity>();
    for (const g of compiled) {
      if (g.exclude.some((p) => code.startsWith(p))) continue;
      if (g.prefixes.some((p) => code.startsWith(p)) || g.patterns.some((r) => r.test(code))) out.add(g.s);
    }
    return [...out];
  };
}
