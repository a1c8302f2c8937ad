import type { Clock } from '../util/clock.ts';
import { stableId } from '../util/hash.ts';
import { addBusinessDays } from './calendar.ts';
import type { RuleSet } from './rule-set.ts';
import { buildTask, effectiveTiming, restrictedTask } from './task-shape.ts';
import { CARE_TIME_ZONE, addCalendarDays, endOfLocalDay, localDate, toLocalDateTime } from './time.ts';
import type { PlannedTask, TaskIntent } from './types.ts';

/**
 * Overdue and escalation (rules' `escalation`), pure: a planned Task of a listed rule that the site has not
 * completed `afterHours` past its due is raised (priority up, businessStatus overdue) once; for the rules listed
 * under `supervisor`, a Task for the provider's care-team supervisor is created, part of the overdue Task.
 * The caller says which Tasks the site still has open (read back, or the lifecycle table).
 */
export function planEscalation(
  pt: PlannedTask,
  rules: RuleSet,
  clock: Clock,
): { tasks: PlannedTask[]; intents: TaskIntent[] } | undefined {
  const e = rules.escalation;
  const primary = pt.specs[0]!;
  if (!e || pt.status !== 'open' || pt.escalatedAt || pt.partOf) return undefined;
  if (!e.rules.includes(primary.ruleId)) return undefined;
  const now = clock.now();
  if (now < effectiveTiming(pt).dueMs + e.afterHours * 3_600_000) return undefined;
  // The receiving site's zone (kept on the Task's context by the planner): today, the due day and its end are its.
  const tz = primary.context?.timeZone ?? CARE_TIME_ZONE;
  const nowIso = toLocalDateTime(now, tz);
  const { task: _t, ...rest } = pt;
  const raisedBase = { ...rest, escalatedAt: nowIso, escalationLevels: e.raiseLevels };
  const raised: PlannedTask = { ...raisedBase, task: buildTask(raisedBase) };
  const out: PlannedTask[] = [raised];
  const intents: TaskIntent[] = [intent(raised, 'update', `escalation: ${primary.ruleId} overdue, priority raised`)];
  const s = e.supervisor;
  if (s && s.rules.includes(primary.ruleId)) {
    const day = localDate(now, tz);
    const dueDay =
      s.due.businessDays !== undefined
        ? addBusinessDays(day, s.due.businessDays, rules.calendar)
        : addCalendarDays(day, s.due.calendarDays ?? 0);
    const due =
      s.due.hours !== undefined
        ? { iso: toLocalDateTime(now + s.due.hours * 3_600_000, tz), epochMs: now + s.due.hours * 3_600_000 }
        : endOfLocalDay(dueDay, tz);
    const base: Omit<PlannedTask, 'task'> = {
      identifier: stableId('task', pt.identifier, 'escalation'),
      participantId: pt.participantId,
      dcn: pt.dcn,
      status: 'open',
      authoredOn: nowIso,
      lateAtCreation: false,
      partOf: pt.identifier,
      performer: s.performer,
      specs: [
        {
          ...primary,
          ruleId: `${primary.ruleId}-esc`,
          code: s.code,
          display: `${s.display} (${primary.display})`,
          phase: 'administrative',
          anchor: nowIso,
          anchorMs: now,
          due: due.iso,
          dueMs: due.epochMs,
          priority: s.priority,
          flags: [],
          reason: `escalation: ${primary.ruleId} overdue`,
          ...(primary.restricted
            ? { restricted: { code: s.code, display: `${s.display} (${primary.restricted.display})` } }
            : {}),
        },
      ],
    };
    delete base.specs[0]!.hardStop;
    delete base.specs[0]!.hardStopMs;
    delete base.specs[0]!.measure;
    const sup: PlannedTask = { ...base, task: buildTask(base) };
    out.push(sup);
    intents.push(intent(sup, 'create', `escalation: supervisor Task for overdue ${primary.ruleId}`));
  }
  return { tasks: out, intents };
}

function intent(pt: PlannedTask, action: TaskIntent['action'], reason: string): TaskIntent {
  const p = pt.specs[0]!;
  return {
    action,
    taskIdentifier: pt.identifier,
    ruleId: p.ruleId,
    siteId: p.siteId,
    program: p.program,
    participantId: pt.participantId,
    visitKey: p.visitKey,
    reason,
    task: pt.task,
    sensitivity: [...new Set(pt.specs.flatMap((s) => s.sensitivity))].sort(),
    part2: pt.specs.some((s) => s.part2),
    restricted: restrictedTask(pt),
  };
}
