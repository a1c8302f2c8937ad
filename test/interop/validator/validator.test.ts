/**
 * HAPI FHIR 8.8.0's FhirInstanceValidator (offline) over everything we emit: every Bundle converted from the public
 * corpus, fixtures/adt and fixtures/scenarios, and the Patient, Encounter and Task each site receives for the
 * scenarios' plans. 0 findings outside the reviewed allow-list (allow-list.ts). One JVM for the whole file: the
 * first run builds the Maven module into .cache/fhir-validator (a few minutes with an empty ~/.m2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOWED, allowedBy } from './allow-list.ts';
import { type ValidationIssue, type Validator, startValidator } from './client.ts';
import { type Item, type Source, deliveredResources, emittedBundles } from './sources.ts';

let validator: Validator | undefined;
let items: Item[] = [];
const results = new Map<string, ValidationIssue[]>();
const used = new Set<string>();

/** Known-bad resources: the validator must find these, or a green run proves nothing. */
const CANARIES: { id: string; resource: object; expect: RegExp }[] = [
  {
    id: 'canary/dangling-reference',
    resource: {
      resourceType: 'Bundle',
      type: 'message',
      entry: [
        {
          fullUrl: 'urn:uuid:0b1c7d4e-0000-4000-8000-000000000001',
          resource: {
            resourceType: 'MessageHeader',
            eventCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: 'A01' },
            source: { endpoint: 'urn:test' },
            focus: [{ reference: 'Patient/0b1c7d4e-0000-4000-8000-000000000002' }],
          },
        },
        {
          fullUrl: 'urn:uuid:0b1c7d4e-0000-4000-8000-000000000002',
          resource: { resourceType: 'Patient', id: '0b1c7d4e-0000-4000-8000-000000000002' },
        },
      ],
    },
    expect: /BUNDLE_BUNDLE_ENTRY_NOTFOUND/,
  },
  {
    id: 'canary/local-code-under-hl7-table',
    resource: {
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
      serviceType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0069', code: 'PSY' }] },
    },
    expect: /Terminology_PassThrough_TX_Message/,
  },
];

beforeAll(async () => {
  const bundles = emittedBundles();
  // Sites receive many identical Patients and Tasks: each distinct resource is validated once.
  const seen = new Set<string>();
  const delivered = (await deliveredResources()).filter((i) => {
    const key = JSON.stringify(i.resource);
    return !seen.has(key) && !!seen.add(key);
  });
  items = [...bundles, ...delivered];
  validator = await startValidator();
  const answers = await validator.validate([
    ...CANARIES.map((c) => ({ id: c.id, resource: c.resource })),
    ...items.map((i) => ({ id: i.id, resource: i.resource })),
  ]);
  for (const [id, issues] of answers) results.set(id, issues);
}, 1_800_000);

afterAll(async () => {
  await validator?.close();
});

/** Findings no allow-list entry accepts, as "id location messageId: message". */
function unexpected(source: Source): string[] {
  const out: string[] = [];
  for (const item of items.filter((i) => i.source === source)) {
    for (const issue of results.get(item.id) ?? []) {
      const a = allowedBy(issue);
      if (a) used.add(a.id);
      else out.push(`${item.id} ${issue.location} ${issue.messageId}: ${issue.message}`);
    }
  }
  return out;
}

describe("HAPI FHIR's validator over everything we emit", () => {
  it('finds the errors in known-bad resources (the validator is really checking)', () => {
    for (const c of CANARIES) {
      const issues = results.get(c.id) ?? [];
      expect(issues.map((i) => i.messageId).join(' '), c.id).toMatch(c.expect);
      expect(issues.some((i) => i.severity === 'error' || i.severity === 'fatal')).toBe(true);
    }
  });

  it('validated every Bundle of the corpus (21), the fixtures and the scenarios, and delivered resources', () => {
    const count = (s: Source) => items.filter((i) => i.source === s).length;
    expect(count('corpus')).toBe(21);
    expect(count('fixtures')).toBeGreaterThanOrEqual(35);
    expect(count('scenarios')).toBeGreaterThanOrEqual(100);
    expect(items.filter((i) => i.source === 'delivered' && i.id.endsWith('/Task')).length).toBeGreaterThan(20);
    expect(items.filter((i) => i.source === 'delivered' && i.id.endsWith('/Patient')).length).toBeGreaterThan(5);
    for (const i of items) expect(results.has(i.id), i.id).toBe(true);
  });

  for (const source of ['corpus', 'fixtures', 'scenarios', 'delivered'] as const) {
    it(`finds nothing outside the allow-list in the ${source} resources`, () => {
      expect(unexpected(source)).toEqual([]);
    });
  }

  it('uses every allow-list entry (an entry nothing needs any more is removed)', () => {
    for (const source of ['corpus', 'fixtures', 'scenarios', 'delivered'] as const) unexpected(source);
    expect(ALLOWED.map((a) => a.id).filter((id) => !used.has(id))).toEqual([]);
  });
});
