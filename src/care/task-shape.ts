import {
  DCN_SYSTEM,
  ENGINE_ORGANIZATION_SYSTEM,
  PRIORITY_ORDER,
  SITE_IDENTIFIER_SYSTEM,
  TASK_BUSINESS_STATUS_SYSTEM,
  TASK_CODE_SYSTEM,
  TASK_GROUP_SYSTEM,
  TASK_IDENTIFIER_SYSTEM,
  TASK_INPUT_SYSTEM,
  type PlannedTask,
  type Priority,
  type TaskSpecForVisit,
} from './types.ts';
import { taskDescription } from './task-text.ts';

/** Code, display and description for a site not allowed the Task's sensitive categories (activity kept). */
export function restrictedTask(pt: Omit<PlannedTask, 'task'>): { code: string; display: string; description: string } {
  const primary = pt.specs[0]!;
  const code = primary.restricted?.code ?? primary.code;
  const display = primary.restricted?.display ?? primary.display;
  const description = taskDescription(
    primary,
    { dueMs: effectiveTiming(pt).dueMs },
    { restricted: true, activity: display },
  );
  return { code, display, description };
}

export const ENGINE_ORGANIZATION_ID = 'tc-alerts';
const SNOMED = 'http://snomed.info/sct';

export function raisePriority(p: Priority, levels = 1): Priority {
  const i = PRIORITY_ORDER.indexOf(p);
  return PRIORITY_ORDER[Math.min(PRIORITY_ORDER.length - 1, i + Math.max(0, levels))]!;
}

export function maxPriority(ps: readonly Priority[]): Priority {
  return ps.reduce<Priority>((a, b) => (PRIORITY_ORDER.indexOf(b) > PRIORITY_ORDER.indexOf(a) ? b : a), 'routine');
}

function encounterReference(ref: TaskSpecForVisit['encounterRef']): fhir4.Reference | undefined {
  if (!ref) return undefined;
  return {
    ...(ref.id ? { reference: `Encounter/${ref.id}` } : {}),
    type: 'Encounter',
    ...(ref.identifier ? { identifier: ref.identifier } : {}),
  };
}

/** The effective values of a planned Task: primary visit's anchor, tightest due, priority raised per R27 visit. */
export function effectiveTiming(pt: Pick<PlannedTask, 'specs' | 'lateAtCreation' | 'escalationLevels'>): {
  due: string;
  dueMs: number;
  priority: Priority;
} {
  const tightest = pt.specs.reduce((a, b) => (b.dueMs < a.dueMs ? b : a));
  const base = maxPriority(pt.specs.map((s) => s.priority));
  const raised = raisePriority(base, pt.specs.length - 1 + (pt.lateAtCreation ? 1 : 0) + (pt.escalationLevels ?? 0));
  return { due: tightest.due, dueMs: tightest.dueMs, priority: raised };
}

/**
 * The FHIR R4 Task for a planned Task (care-rules.md "Suggested FHIR Task shape"): status requested,
 * intent order, project code (+ SNOMED CT where listed), for = Patient by DCN, encounter and focus =
 * the Encounter, owner = site, requester = engine, restriction.period = anchor → due, hard stop in
 * input, groupIdentifier per visit, deterministic identifier.
 */
export function buildTask(pt: Omit<PlannedTask, 'task'>): fhir4.Task {
  const primary = pt.specs[0]!;
  const { due, priority } = effectiveTiming(pt);
  const codings: fhir4.Coding[] = [{ system: TASK_CODE_SYSTEM, code: primary.code, display: primary.display }];
  if (primary.snomed) codings.push({ system: SNOMED, code: primary.snomed.code, display: primary.snomed.display });
  const enc = encounterReference(primary.encounterRef);
  const business = [
    ...(pt.lateAtCreation ? ['created-overdue'] : []),
    ...(pt.escalatedAt ? ['overdue'] : []),
    ...new Set(pt.specs.flatMap((s) => s.flags)),
  ];
  const reasons = new Map<string, fhir4.Coding>();
  for (const s of pt.specs) for (const c of s.reasonCodes) reasons.set(`${c.system}|${c.code}`, c);
  const input: fhir4.TaskInput[] = [];
  const hardStop = pt.specs
    .map((s) => s.hardStop)
    .filter((h): h is string => !!h)
    .sort()
    .at(-1);
  if (primary.hardStop) {
    input.push({
      type: { coding: [{ system: TASK_INPUT_SYSTEM, code: 'hard-stop', display: 'Hard stop' }], text: 'hard-stop' },
      valueDateTime: hardStop ?? primary.hardStop,
    });
  }
  for (const s of pt.specs.slice(1)) {
    const ref = encounterReference(s.encounterRef);
    if (!ref) continue;
    input.push({
      type: {
        coding: [{ system: TASK_INPUT_SYSTEM, code: 'related-encounter', display: 'Later qualifying encounter (R27)' }],
        text: 'related-encounter',
      },
      valueReference: ref,
    });
  }
  const ctx = primary.context;
  if (ctx?.hospitalContact) {
    const c = ctx.hospitalContact;
    const text = [[c.role, c.name].filter(Boolean).join(' '), c.phone, c.direct].filter(Boolean).join(', ');
    if (text)
      input.push({
        type: {
          coding: [{ system: TASK_INPUT_SYSTEM, code: 'hospital-contact', display: 'Hospital contact' }],
          text: 'hospital-contact',
        },
        valueString: text,
      });
  }
  for (const p of ctx?.practitioners ?? []) {
    input.push({
      type: {
        coding: [{ system: TASK_INPUT_SYSTEM, code: `${p.role}-practitioner`, display: `${p.role} practitioner` }],
        text: `${p.role}-practitioner`,
      },
      valueReference: {
        type: 'Practitioner',
        ...(p.identifier ? { identifier: p.identifier } : {}),
        ...(p.display ? { display: p.display } : {}),
      },
    });
  }
  const task: fhir4.Task = {
    resourceType: 'Task',
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: pt.identifier }],
    groupIdentifier: { system: TASK_GROUP_SYSTEM, value: primary.groupId },
    status: pt.status === 'cancelled' ? 'cancelled' : 'requested',
    ...(pt.status === 'cancelled' && pt.cancelReason ? { statusReason: { text: pt.cancelReason } } : {}),
    ...(business.length
      ? {
          businessStatus: {
            coding: business.map((code) => ({ system: TASK_BUSINESS_STATUS_SYSTEM, code })),
            text: business.join(', '),
          },
        }
      : {}),
    intent: 'order',
    priority,
    code: { coding: codings, text: primary.display },
    description: taskDescription(
      primary,
      { dueMs: effectiveTiming(pt).dueMs },
      {
        restricted: false,
        activity: primary.display,
      },
    ),
    ...(enc ? { focus: enc, encounter: enc } : {}),
    for: { type: 'Patient', identifier: { system: DCN_SYSTEM, value: pt.dcn } },
    authoredOn: pt.authoredOn,
    requester: {
      type: 'Organization',
      identifier: { system: ENGINE_ORGANIZATION_SYSTEM, value: ENGINE_ORGANIZATION_ID },
      display: 'tc-alerts transitional-care engine',
    },
    owner: { type: 'Organization', identifier: { system: SITE_IDENTIFIER_SYSTEM, value: primary.siteId } },
    restriction: { period: { start: primary.anchor, end: due } },
    ...(pt.partOf
      ? { partOf: [{ type: 'Task', identifier: { system: TASK_IDENTIFIER_SYSTEM, value: pt.partOf } }] }
      : {}),
    ...(pt.performer ? { performerType: [{ text: pt.performer }] } : {}),
    ...(reasons.size ? { reasonCode: { coding: [...reasons.values()] } } : {}),
    ...(input.length ? { input } : {}),
  };
  return task;
}
