import { describe, expect, it } from 'vitest';
import { TASK_BUSINESS_STATUS_SYSTEM } from '../care/types.ts';
import { loadDataFile } from '../mappings/load.ts';
import { diagnosisGroupsSchema } from '../care/rules-schema.ts';
import { deliveryRequest } from '../../test/delivery/requests.ts';
import { alignTask, classifyFailure } from './deliver.ts';
import { FhirRequestError } from './http-error.ts';
import { bindPayload, buildSitePayload, icd10Sensitivity, sensitivityFromGroups } from './payload.ts';
import { coalesce } from './worker.ts';
import type { OutboxItem } from '../store/outbox.ts';

const north = {
  siteId: 'pchh-springfield-north',
  name: 'JV North',
  organization: { id: 'org-n' },
  categories: ['mh' as const],
};

describe('site payload (minimum necessary)', () => {
  it('keeps only identity from the roster, the visit facts and the Task; other references become identifier-only', () => {
    const req = deliveryRequest({ persona: 'P001', dx: ['E11.65'] });
    req.intent.task.input = [
      {
        type: { text: 'related-encounter' },
        valueReference: { reference: 'Encounter/hospital-enc-2', identifier: { system: 'urn:v', value: 'M1001-V2' } },
      },
      { type: { text: 'hard-stop' }, valueDateTime: '2026-11-20T23:59:59-06:00' },
    ];
    req.intent.task.note = [{ text: 'engine note' }];
    const p = buildSitePayload(req, north);
    expect(p.generic).toBe(false);
    expect(p.patient).toEqual({
      resourceType: 'Patient',
      identifier: [{ system: 'https://mydss.mo.gov/mhd/sid/dcn', value: '10234567' }],
      name: [{ family: 'ALVAREZ', given: ['MARIA'] }],
      gender: 'female',
      birthDate: '1978-03-14',
    });
    expect(p.encounter!.location).toBeUndefined();
    expect(p.encounter!.participant).toBeUndefined();
    expect(p.encounter!.serviceType).toBeUndefined();
    expect(p.encounter!.hospitalization).toEqual({
      dischargeDisposition: req.encounter!.hospitalization!.dischargeDisposition,
    });
    expect(p.task.input![0]!.valueReference).toEqual({ identifier: { system: 'urn:v', value: 'M1001-V2' } });
    expect(p.task.note).toBeUndefined();
    expect(p.task.reasonReference).toBeUndefined();
    // The owner is bound at write time to the Organization the site has (created by its identifier when absent).
    expect(p.task.owner).toMatchObject({ type: 'Organization', display: 'JV North' });
    expect(p.task.owner?.reference).toBeUndefined();
    expect(p.owner?.organization.identifier?.[0]).toEqual(p.task.owner?.identifier);
    expect(p.owner?.query).toBe(
      `identifier=${encodeURIComponent(`${p.task.owner!.identifier!.system}|${p.task.owner!.identifier!.value}`)}`,
    );
    const bound = bindPayload(p, { patient: 'Patient/p1', encounter: 'Encounter/e1' });
    expect(bound.task.for).toEqual({ reference: 'Patient/p1', type: 'Patient' });
    expect(bound.task.focus?.reference).toBe('Encounter/e1');
    expect((bound.encounter!.contained![0] as fhir4.Condition).subject).toEqual({
      reference: 'Patient/p1',
      type: 'Patient',
    });
    expect(JSON.stringify(bound)).not.toMatch(/Practitioner|Location|hospital-enc|Benton|DR ATTENDING/);
  });

  it('sends a generic Task with labels when a category is not allowed, and nothing sensitive anywhere', () => {
    const req = deliveryRequest({ persona: 'P004', part2: true, sensitivity: ['sud', 'mh'], dx: ['F11.20', 'F33.1'] });
    const p = buildSitePayload(req, { categories: ['mh'] });
    expect(p.generic).toBe(true);
    expect(p.task.code?.coding?.[0]?.code).toBe('tc-followup');
    expect(p.task.description).toBe('Transitional-care follow-up');
    // Sorted by system, then code (as HAPI stores them): a replay compares equal.
    expect(p.task.meta?.security?.map((c) => c.code)).toEqual(['42CFRPart2', 'ETH', 'NORDSCLCD', 'PSY', 'R']);
    expect(p.encounter!.meta?.security?.map((c) => c.code)).toContain('42CFRPart2');
    expect(p.withheld.diagnoses).toBe(2);
    expect(JSON.stringify(p)).not.toMatch(/F11|F33|sud-followup|DETOX|diagnosis/);
  });

  it('keeps the planner restricted activity at a site not allowed the category, without contact or practitioners', () => {
    const req = deliveryRequest({ persona: 'P004', part2: true, sensitivity: ['sud'], dx: ['F10.239'] });
    req.intent.restricted = {
      code: 'followup-visit-7d',
      display: 'Follow-up visit within 7 days after the discharge',
      description: 'Hospital: discharged home Wed 11/18 13:30. Follow-up visit within 7 days after the discharge.',
    };
    req.intent.task.input = [
      { type: { text: 'hard-stop' }, valueDateTime: '2026-12-18T23:59:59-06:00' },
      { type: { text: 'hospital-contact' }, valueString: 'Detox unit 314-555-0199' },
      {
        type: { text: 'attending-practitioner' },
        valueReference: { type: 'Practitioner', identifier: { system: 'urn:npi', value: '1' }, display: 'DR X' },
      },
    ];
    const p = buildSitePayload(req, { categories: ['mh'] });
    expect(p.generic).toBe(true);
    expect(p.task.code).toEqual({
      coding: [
        {
          system: 'https://tc-alerts.mo-hh.org/fhir/CodeSystem/mo-hh-transition-task',
          code: 'followup-visit-7d',
          display: 'Follow-up visit within 7 days after the discharge',
        },
      ],
      text: 'Follow-up visit within 7 days after the discharge',
    });
    expect(p.task.description).toBe(req.intent.restricted.description);
    expect(p.task.input?.map((i) => i.type.text)).toEqual(['hard-stop']);
    expect(JSON.stringify(p)).not.toMatch(/F10|Detox|DR X|sud-followup/);
    // Allowed: the contact and the attending stay (the attending identifier-only with its display).
    const allowed = buildSitePayload(req, { categories: ['mh', 'sud'] });
    expect(allowed.task.input?.map((i) => i.type.text)).toEqual([
      'hard-stop',
      'hospital-contact',
      'attending-practitioner',
    ]);
  });

  it('classifies diagnoses as the diagnosis-groups mapping does', () => {
    const file = loadDataFile(diagnosisGroupsSchema, 'mappings/diagnosis-groups.yaml');
    const fromFile = sensitivityFromGroups(file.groups);
    const codes = [
      'F10.20',
      'F17.210',
      'F32.9',
      'T40.1X1A',
      'T40.1X2A',
      'T40.1X5A',
      'X78.0XXA',
      'E11.65',
      'J44.1',
      'F41.1',
      'T14.91XA',
    ];
    for (const code of codes) expect(icd10Sensitivity({ code }).sort(), code).toEqual(fromFile({ code }).sort());
    expect(icd10Sensitivity({ code: 'F17.210' })).toEqual([]);
    expect(icd10Sensitivity({ code: 'T40.1X2A' }).sort()).toEqual(['mh', 'sud']);
  });
});

describe('requester-owned alignment and failure classes', () => {
  const site: fhir4.Task = {
    resourceType: 'Task',
    id: 't1',
    meta: { versionId: '3' },
    status: 'in-progress',
    intent: 'order',
    priority: 'routine',
    note: [{ text: 'called twice' }],
    output: [{ type: { text: 'visit' }, valueString: 'done' }],
    owner: { reference: 'PractitionerRole/cm-7' },
    businessStatus: { coding: [{ system: 'https://site.example/bs', code: 'visit-scheduled' }] },
    statusReason: { text: 'waiting for callback' },
  };
  const want: fhir4.Task = {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    priority: 'stat',
    owner: { reference: 'Organization/org-n' },
    statusReason: { text: 'ours' },
    businessStatus: { coding: [{ system: TASK_BUSINESS_STATUS_SYSTEM, code: 'created-overdue' }] },
    restriction: { period: { end: '2026-11-30' } },
  };

  it("never overwrites the site's status, notes, output, owner, business status or status reason", () => {
    const next = alignTask(site, want);
    expect(next).toMatchObject({
      status: 'in-progress',
      note: site.note,
      output: site.output,
      owner: site.owner,
      businessStatus: site.businessStatus,
      statusReason: site.statusReason,
      priority: 'stat',
      restriction: want.restriction,
    });
    // Our own business status codes are ours to update while the site has none of its own.
    const ours = alignTask({ ...site, businessStatus: undefined, status: 'requested' }, want);
    expect(ours.businessStatus).toEqual(want.businessStatus);
    expect(ours.statusReason).toEqual({ text: 'ours' });
  });

  it('follows the Da Vinci delivery rules', () => {
    const c = (status?: number, retryAfterMs?: number) =>
      classifyFailure(
        new FhirRequestError({ ...(status ? { status } : {}), reason: 'x', ...(retryAfterMs ? { retryAfterMs } : {}) }),
      );
    expect(c(429, 5000)).toMatchObject({ kind: 'retry', siteWide: true, retryAfterMs: 5000 });
    for (const s of [408, 502, 503, 504, undefined]) expect(c(s)).toMatchObject({ kind: 'retry', siteWide: true });
    for (const s of [500, 409]) expect(c(s)).toMatchObject({ kind: 'retry', siteWide: false });
    for (const s of [401, 403, 404]) expect(c(s).kind).toBe('hold');
    for (const s of [400, 412, 413, 422]) expect(c(s).kind).toBe('dead');
  });

  it('coalesces pending writes per Task; a create followed by updates stays a create carrying the latest Task', () => {
    const req = deliveryRequest({ persona: 'P002' });
    const item = (id: number, action: OutboxItem['action'], rule = 'R7'): OutboxItem => ({
      id,
      siteId: 's',
      visitKey: 'v',
      taskIdentifier: rule,
      action,
      request: {
        ...req,
        intent: { ...req.intent, action, taskIdentifier: rule, task: { ...req.intent.task, description: `#${id}` } },
      },
      messageId: `m${id}`,
      status: 'pending',
      attempts: 0,
      createdAt: '2026-11-23T00:00:00Z',
    });
    const units = coalesce([item(1, 'create'), item(2, 'create', 'R8'), item(3, 'update'), item(4, 'update')]);
    expect(units.map((u) => [u.items.map((i) => i.id), u.carrier.id, u.carrier.request.intent.action])).toEqual([
      [[2], 2, 'create'],
      [[1, 3, 4], 4, 'create'],
    ]);
    expect(units[1]!.carrier.request.intent.task.description).toBe('#4');
    expect(coalesce([item(5, 'create'), item(6, 'cancel')])[0]!.carrier.request.intent.action).toBe('cancel');
  });
});
