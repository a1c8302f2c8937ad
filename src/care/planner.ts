import { canonicalJson } from '../util/hash.ts';
import type { ConvertedMessage } from '../fhir/types.ts';
import type { Eligibility, Participant, Program } from '../roster/types.ts';
import type { Clock } from '../util/clock.ts';
import { stableId } from '../util/hash.ts';
import { addBusinessDays } from './calendar.ts';
import type { RuleSet } from './rule-set.ts';
import type { Offset, Rule } from './rules-schema.ts';
import { buildTask, effectiveTiming, restrictedTask } from './task-shape.ts';
import { addCalendarDays, ageOn, endOfLocalDay, localDate, parseFhirDateTime, toLocalDateTime } from './time.ts';
import type {
  HospitalContact,
  PlannedTask,
  PlanResult,
  TaskContext,
  TaskIntent,
  TaskSpecForVisit,
  VisitState,
} from './types.ts';
import { CARE_TIME_ZONE } from './time.ts';
import { mergeVisit, messageFingerprint, principalDiagnosis } from './visit.ts';

/** Everything the planner reads; it does no I/O and returns the new state instead of writing it. */
export interface PlanInput {
  message: ConvertedMessage;
  eligibility: Eligibility;
  participant: Participant;
  /** The visit's merged state before this message (undefined for a new visit). */
  visit?: VisitState;
  /** The participant's other recent visits (readmission, hospice). */
  recentVisits: readonly VisitState[];
  /** The participant's planned Tasks (any visit, open or cancelled). */
  tasks: readonly PlannedTask[];
  /** Sender profile diagnoses.a08: snapshot (default) or incremental. */
  diagnosisMode?: 'snapshot' | 'incremental';
  /** Hashed facility patient key (facility|MRN), kept on the visit for A40 merges. */
  patientKey?: string;
  /** The hospital's case-management contact (sender profile `contact`), for the Task description. */
  hospitalContact?: HospitalContact;
  /** IANA time zone of the sites (dates in the Task description); America/Chicago by default. */
  siteTimeZone?: string;
  /**
   * The receiving site's IANA time zone by site id (the site directory's `timeZone`): due dates (end of the local
   * day, business days), the anchor and the description are written in it; `siteTimeZone` for a site not listed.
   */
  siteTimeZones?: ReadonlyMap<string, string>;
}

interface Site {
  program: Program;
  siteId: string;
}

const DAY_MS = 86_400_000;

function activeSites(e: Eligibility): Site[] {
  if (e.active?.length) return e.active.map((a) => ({ program: a.program, siteId: a.siteId }));
  return e.program && e.siteId ? [{ program: e.program, siteId: e.siteId }] : [];
}

function route(routing: string, e: Eligibility): Site[] {
  const sites = activeSites(e);
  if (!sites.length) return [];
  if (routing === 'each-site') return sites;
  if (routing === 'primary') return [sites.find((s) => s.siteId === e.siteId) ?? sites[0]!];
  const want = routing === 'prefer-CMHC' ? 'CMHC' : 'PCHH';
  return [sites.find((s) => s.program === want) ?? sites[0]!];
}

function applyOffset(anchorMs: number, offset: Offset, rules: RuleSet, tz: string): { iso: string; epochMs: number } {
  if (offset.hours !== undefined) {
    const ms = anchorMs + offset.hours * 3_600_000;
    return { iso: toLocalDateTime(ms, tz), epochMs: ms };
  }
  const day = localDate(anchorMs, tz);
  const target =
    offset.businessDays !== undefined
      ? addBusinessDays(day, offset.businessDays, rules.calendar)
      : addCalendarDays(day, offset.calendarDays ?? 0);
  return endOfLocalDay(target, tz);
}

const zoneOf = (ctx: EvalContext, siteId: string): string =>
  ctx.siteTimeZones?.get(siteId) ?? ctx.siteTimeZone ?? CARE_TIME_ZONE;

/** Identifier: canonical facility + visit + rule + site (+ discharge generation after an A13). */
export function taskIdentifier(visit: VisitState, ruleId: string, siteId: string, phase: string): string {
  const gen = phase !== 'admission' && visit.dischargeGeneration > 0 ? `g${visit.dischargeGeneration}` : undefined;
  return stableId('task', visit.facilityKey, visit.visitKey, ruleId, siteId, gen);
}

interface Desired {
  identifier: string;
  rule: Rule;
  spec: TaskSpecForVisit;
}

interface EvalContext {
  hospitalContact?: HospitalContact;
  siteTimeZone?: string;
  siteTimeZones?: ReadonlyMap<string, string>;
  visit: VisitState;
  participant: Participant;
  eligibility: Eligibility;
  recentVisits: readonly VisitState[];
  rules: RuleSet;
}

function phaseHappened(rule: Rule, v: VisitState): boolean {
  switch (rule.trigger.phase) {
    case 'admission':
      return v.admitted && v.status !== 'cancelled';
    case 'registration':
      return v.status !== 'cancelled' && v.status !== 'pending' && v.firstClassGroup === 'ed';
    case 'discharge':
      return v.status === 'finished';
  }
}

function triggerMatches(rule: Rule, ctx: EvalContext): { ok: boolean; facts: string[]; dx: fhir4.Coding[] } {
  const { visit: v, rules } = ctx;
  const t = rule.trigger;
  const no = { ok: false, facts: [], dx: [] };
  if (!rule.enabled || !phaseHappened(rule, v)) return no;
  // Registration rules speak of the class at registration; the others of the class now.
  const cls = t.phase === 'registration' ? (v.firstClassGroup ?? v.classGroup) : v.classGroup;
  if (!t.classes.includes(cls)) return no;
  const facts = [`phase ${t.phase}`, `class ${cls}`];
  if (t.phase === 'discharge' || t.dispositionGroups) {
    const group = rules.dispositionGroupOf(v.disposition);
    if (t.dispositionGroups && !t.dispositionGroups.includes(group)) return no;
    facts.push(`disposition-group ${group}`);
  }
  const anchor = t.phase === 'discharge' ? v.dischargeTime : v.admitTime;
  const anchorMs = anchor ? parseFhirDateTime(anchor) : undefined;
  if (anchorMs === undefined) return no;
  if (t.ageMin !== undefined || t.ageMax !== undefined) {
    const age = ageOn(ctx.participant.birthDate, localDate(anchorMs));
    if (t.ageMin !== undefined && age < t.ageMin) return no;
    if (t.ageMax !== undefined && age > t.ageMax) return no;
    facts.push(`age-gate ok`);
  }
  let dx: fhir4.Coding[] = [];
  if (t.clinical) {
    const principal = principalDiagnosis(v.diagnoses);
    const hits: string[] = [];
    if (principal) {
      const groups = rules.diagnosisGroupsOf(principal);
      const g = t.clinical.principal.find((x) => groups.includes(x));
      if (g) {
        hits.push(`principal-dx ${g}`);
        dx.push({ system: principal.system, code: principal.code, display: principal.display });
      }
    }
    for (const d of v.diagnoses) {
      const g = t.clinical.any.find((x) => rules.diagnosisGroupsOf(d).includes(x));
      if (g) {
        hits.push(`dx ${g}`);
        dx.push({ system: d.system, code: d.code, display: d.display });
      }
    }
    if (t.clinical.psychiatricStay && v.psychiatricStay) hits.push('psychiatric-unit');
    if (t.clinical.part2Unit && v.part2) hits.push('part2-unit');
    if (!hits.length) return no;
    facts.push(...new Set(hits));
    dx = [...new Map(dx.map((c) => [`${c.system}|${c.code}`, c])).values()];
  }
  const others = ctx.recentVisits.filter((r) => r.visitKey !== v.visitKey);
  if (t.suppressAfterHospiceDays) {
    const hospice = others.some((r) => {
      if (r.status !== 'finished' || rules.dispositionGroupOf(r.disposition) !== 'hospice' || !r.dischargeTime)
        return false;
      const d = parseFhirDateTime(r.dischargeTime)!;
      return d <= anchorMs && anchorMs - d <= t.suppressAfterHospiceDays! * DAY_MS;
    });
    if (hospice) return no;
  }
  if (t.prior) {
    const p = t.prior;
    const prior = others.find((r) => {
      if (r.status !== 'finished' || !r.dischargeTime || !p.classes.includes(r.classGroup)) return false;
      if (p.excludePlannedReadmission && rules.isPlannedReadmission(r.disposition)) return false;
      const d = parseFhirDateTime(r.dischargeTime)!;
      return d <= anchorMs && anchorMs - d <= p.dischargedWithinDays * DAY_MS;
    });
    if (!prior) return no;
    facts.push(`prior-discharge within ${p.dischargedWithinDays}d`);
  }
  return { ok: true, facts, dx };
}

function desiredTasks(ctx: EvalContext, event: string): Desired[] {
  const { visit: v, rules } = ctx;
  const out: Desired[] = [];
  const principal = principalDiagnosis(v.diagnoses);
  for (const rule of rules.rules) {
    if (!rule.task) continue;
    if (rule.task.until && v.status === 'finished') continue;
    const m = triggerMatches(rule, ctx);
    if (!m.ok) continue;
    const task = rule.task;
    const anchor = task.anchor === 'discharge' ? v.dischargeTime! : v.admitTime!;
    const anchorMs = parseFhirDateTime(anchor)!;
    const group = rules.dispositionGroupOf(v.disposition);
    const variant = task.variants.find(
      (x) =>
        (x.when.dispositionGroups?.includes(group) ?? false) ||
        (x.when.dispositions?.includes(v.disposition ?? '') ?? false),
    );
    const sites = route(variant?.routing ?? task.routing, ctx.eligibility);
    for (const site of sites) {
      const prog = task.programs[site.program];
      const complexity = task.complexityDue
        ? rules.tcmComplexityOf(ctx.participant.participantId, site.siteId)
        : undefined;
      const dueOffset =
        variant?.due ?? (complexity ? task.complexityDue![complexity] : undefined) ?? prog?.due ?? task.due;
      const priority = variant?.priority ?? prog?.priority ?? task.priority;
      const hardStopOffset =
        prog?.hardStop !== undefined
          ? prog.hardStop
          : task.hardStop !== undefined
            ? task.hardStop
            : rules.defaults.hardStop;
      const tz = zoneOf(ctx, site.siteId);
      const due = applyOffset(anchorMs, dueOffset, rules, tz);
      const hardStop = hardStopOffset ? applyOffset(anchorMs, hardStopOffset, rules, tz) : undefined;
      const reasonCodes = m.dx.length
        ? m.dx
        : principal
          ? [{ system: principal.system, code: principal.code, display: principal.display }]
          : [];
      const sensitivity = new Set<'mh' | 'sud'>(task.sensitivity);
      for (const c of reasonCodes)
        for (const g of rules.diagnosisGroupsOf({ code: c.code ?? '' })) {
          const s = rules.groupSensitivity(g);
          if (s) sensitivity.add(s);
        }
      if (v.psychiatricStay) sensitivity.add('mh');
      if (v.part2) sensitivity.add('sud');
      const flags = task.anchor === 'discharge' && group === 'missing' ? ['disposition-unknown'] : [];
      const anchorSource = task.anchor === 'discharge' ? v.dischargeTimeSource : v.admitTimeSource;
      if (anchorSource === 'received') flags.push('anchor-time-received');
      const implemented = [rule.id, ...(variant?.implements ?? [])].join('+');
      out.push({
        identifier: taskIdentifier(v, rule.id, site.siteId, task.phase),
        rule,
        spec: {
          visitKey: v.visitKey,
          ruleId: rule.id,
          code: task.code,
          display: task.display,
          ...(task.snomed ? { snomed: task.snomed } : {}),
          phase: task.phase,
          siteId: site.siteId,
          program: site.program,
          anchor: toLocalDateTime(anchorMs, tz),
          anchorMs,
          due: due.iso,
          dueMs: due.epochMs,
          ...(hardStop ? { hardStop: hardStop.iso, hardStopMs: hardStop.epochMs } : {}),
          priority,
          reasonCodes,
          ...(v.encounterRef ? { encounterRef: v.encounterRef } : {}),
          groupId: stableId('group', v.facilityKey, v.visitKey),
          flags,
          sensitivity: [...sensitivity].sort(),
          part2: v.part2 && sensitivity.has('sud'),
          reason: `${implemented}: ${event} ${m.facts.join(', ')}${complexity ? `, tcm-complexity ${complexity}` : ''}`,
          ...(task.measure ? { measure: task.measure } : {}),
          ...(complexity ? { complexity } : {}),
          context: taskContext(ctx, group, tz),
          ...(task.restricted ? { restricted: task.restricted } : {}),
        },
      });
    }
  }
  // dueNoLaterThan (R9 never later than R10's due), same visit and site.
  for (const d of out) {
    const cap = d.rule.task!.dueNoLaterThan;
    if (!cap) continue;
    const other = out.find((o) => o.rule.id === cap && o.spec.siteId === d.spec.siteId);
    if (other && other.spec.dueMs < d.spec.dueMs) {
      d.spec.due = other.spec.due;
      d.spec.dueMs = other.spec.dueMs;
    }
  }
  return out;
}

function taskContext(ctx: EvalContext, dispositionGroup: string, timeZone: string): TaskContext {
  const v = ctx.visit;
  const admitMs = v.admitTime ? parseFhirDateTime(v.admitTime) : undefined;
  const dischargeMs = v.dischargeTime ? parseFhirDateTime(v.dischargeTime) : undefined;
  return {
    ...(v.facilityName ? { facilityName: v.facilityName } : {}),
    classGroup: v.classGroup,
    ...(admitMs !== undefined ? { admitMs } : {}),
    ...(dischargeMs !== undefined && v.status === 'finished' ? { dischargeMs } : {}),
    ...(v.disposition ? { disposition: v.disposition } : {}),
    dispositionGroup,
    sensitiveStay: v.psychiatricStay || v.part2,
    timeZone,
    ...(ctx.hospitalContact ? { hospitalContact: ctx.hospitalContact } : {}),
    practitioners: v.practitioners ?? [],
  };
}

function rebuild(pt: PlannedTask): PlannedTask {
  const { task: _old, ...rest } = pt;
  return { ...rest, task: buildTask(rest) };
}

/** Key order is not meaning: a Task read back from JSONB has its keys reordered. */
function sameTask(a: fhir4.Task, b: fhir4.Task): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function intentFor(pt: PlannedTask, action: TaskIntent['action'], reason: string): TaskIntent {
  const primary = pt.specs[0]!;
  return {
    action,
    taskIdentifier: pt.identifier,
    ruleId: primary.ruleId,
    siteId: primary.siteId,
    program: primary.program,
    participantId: pt.participantId,
    visitKey: primary.visitKey,
    reason,
    task: pt.task,
    ...(action === 'cancel' && pt.cancelReason ? { cancelReason: pt.cancelReason } : {}),
    sensitivity: [...new Set(pt.specs.flatMap((s) => s.sensitivity))].sort(),
    part2: pt.specs.some((s) => s.part2),
    restricted: restrictedTask(pt),
  };
}

/**
 * Plans the Tasks one converted message calls for. Pure: the same input and clock give the same
 * result. A replayed or unchanged message gives no intent.
 */
export function plan(input: PlanInput, rules: RuleSet, clock: Clock): PlanResult {
  const msg = input.message;
  const effect = rules.events[msg.event];
  if (!effect || effect.ignore)
    return { outcome: 'ignored', detail: `event-${msg.event}-not-handled`, intents: [], tasks: [] };
  if (!msg.visitKey) return { outcome: 'ignored', detail: 'no-visit', intents: [], tasks: [] };
  if (input.visit?.seen.includes(messageFingerprint(msg)))
    return { outcome: 'processed', detail: 'duplicate', intents: [], tasks: [], visit: input.visit };

  const merged = mergeVisit(input.visit, msg, effect, {
    participantId: input.participant.participantId,
    rules,
    diagnosisMode: input.diagnosisMode ?? 'snapshot',
    ...(input.patientKey ? { patientKey: input.patientKey } : {}),
    receivedMs: clock.now(),
  });
  const visit = merged.visit;
  const warnings = anchorWarnings(msg, visit);
  if (!merged.changed)
    return { outcome: 'processed', detail: 'no-change', intents: [], tasks: [], visit, ...warn(warnings) };

  const now = clock.now();
  const nowIso = toLocalDateTime(now);
  const ctx: EvalContext = {
    ...(input.hospitalContact ? { hospitalContact: input.hospitalContact } : {}),
    ...(input.siteTimeZone ? { siteTimeZone: input.siteTimeZone } : {}),
    ...(input.siteTimeZones ? { siteTimeZones: input.siteTimeZones } : {}),
    visit,
    participant: input.participant,
    eligibility: input.eligibility,
    recentVisits: input.recentVisits,
    rules,
  };
  const enrolled = input.eligibility.enrolled;
  let desired = enrolled ? desiredTasks(ctx, msg.event) : [];
  const exclusive = desired.filter((d) => d.rule.cancels?.scope === 'participant');
  if (exclusive.length) desired = exclusive;

  const tasks = new Map(input.tasks.map((t) => [t.identifier, structuredClone(t)]));
  const changed = new Map<string, PlannedTask>();
  const intents: TaskIntent[] = [];
  let skippedPastHardStop = 0;
  const emit = (pt: PlannedTask, action: TaskIntent['action'], reason: string): void => {
    const built = rebuild(pt);
    tasks.set(built.identifier, built);
    changed.set(built.identifier, built);
    intents.push(intentFor(built, action, reason));
  };
  const specIndex = (pt: PlannedTask, ruleId: string, siteId: string): number =>
    pt.specs.findIndex((s) => s.visitKey === visit.visitKey && s.ruleId === ruleId && s.siteId === siteId);

  const wanted = new Set<string>(); // `${identifier}#${specIndex key}` of this visit's specs still wanted
  for (const d of desired) {
    const key = (pt: PlannedTask) => `${pt.identifier}#${d.spec.ruleId}#${d.spec.siteId}`;
    // The Task serving this (visit, rule, site): its own, else another visit's Task it joined under R27.
    // A cancelled Task of an earlier discharge generation has another identifier and does not serve.
    const all = [...tasks.values()];
    const serving =
      tasks.get(d.identifier) ??
      all.find((pt) => pt.status === 'open' && specIndex(pt, d.spec.ruleId, d.spec.siteId) >= 0) ??
      all.find((pt) => pt.specs[0]!.visitKey !== visit.visitKey && specIndex(pt, d.spec.ruleId, d.spec.siteId) >= 0);
    if (serving) {
      wanted.add(key(serving));
      if (serving.status === 'cancelled') continue; // never revive a cancelled Task
      const i = specIndex(serving, d.spec.ruleId, d.spec.siteId);
      const next: PlannedTask = { ...serving, specs: serving.specs.map((s, j) => (j === i ? d.spec : s)) };
      const candidate = rebuild(next);
      if (!sameTask(candidate.task, serving.task)) emit(next, 'update', `${d.spec.reason} (updated)`);
      continue;
    }
    if (d.spec.hardStopMs !== undefined && now > d.spec.hardStopMs) {
      skippedPastHardStop += 1;
      continue;
    }
    // R27: an equivalent open Task of another visit whose window holds this anchor is updated instead.
    const equivalent = [...tasks.values()].find((pt) => {
      if (!rules.dedup.enabled) return false;
      if (pt.status !== 'open' || pt.participantId !== input.participant.participantId) return false;
      const p = pt.specs[0]!;
      if (p.code !== d.spec.code || p.siteId !== d.spec.siteId || pt.specs.some((s) => s.visitKey === visit.visitKey))
        return false;
      return p.anchorMs <= d.spec.anchorMs && d.spec.anchorMs <= effectiveTiming(pt).dueMs;
    });
    if (equivalent) {
      wanted.add(`${equivalent.identifier}#${d.spec.ruleId}#${d.spec.siteId}`);
      emit(
        { ...equivalent, specs: [...equivalent.specs, d.spec] },
        'update',
        `R27: ${d.spec.reason}; open equivalent Task updated`,
      );
      visit.taskIds = [...new Set([...visit.taskIds, equivalent.identifier])];
      continue;
    }
    const created: PlannedTask = {
      identifier: d.identifier,
      participantId: input.participant.participantId,
      dcn: input.participant.dcn,
      status: 'open',
      specs: [d.spec],
      authoredOn: nowIso,
      lateAtCreation: now > d.spec.dueMs,
      task: {} as fhir4.Task,
    };
    wanted.add(`${d.identifier}#${d.spec.ruleId}#${d.spec.siteId}`);
    emit(created, 'create', created.lateAtCreation ? `${d.spec.reason}; late: created-overdue` : d.spec.reason);
    visit.taskIds = [...new Set([...visit.taskIds, d.identifier])];
  }

  // This visit's specs no longer wanted: drop them; a Task left with no visit is cancelled.
  const participantCancel = exclusive[0]?.rule.cancels;
  const eventReason = !enrolled
    ? rules.notEnrolledReason
    : (effect.cancelReason ?? `no longer indicated after ${msg.event}`);
  const superseded = supersededSpecs(ctx, [...tasks.values()]);
  for (const pt of [...tasks.values()]) {
    if (pt.status !== 'open') continue;
    const mine = pt.specs.filter((s) => s.visitKey === visit.visitKey);
    const dropMine = mine.filter((s) => !wanted.has(`${pt.identifier}#${s.ruleId}#${s.siteId}`));
    const dropOld = superseded ? pt.specs.filter((s) => s.visitKey !== visit.visitKey && superseded.has(s)) : [];
    const drop = participantCancel
      ? desired.some((d) => d.identifier === pt.identifier)
        ? []
        : pt.specs
      : [...dropMine, ...dropOld];
    if (!drop.length) continue;
    const rest = pt.specs.filter((s) => !drop.includes(s));
    const untilReason = dropMine.length
      ? rules.rules.find((r) => r.id === dropMine[0]!.ruleId)?.task?.until?.reason
      : undefined;
    const reasonText = participantCancel
      ? participantCancel.reason
      : !dropMine.length && dropOld.length
        ? rules.supersede!.onAdmission.reason
        : enrolled && untilReason && visit.status === 'finished'
          ? untilReason
          : eventReason;
    const ruleTag = participantCancel ? exclusive[0]!.rule.id : msg.event;
    if (rest.length) {
      emit(
        { ...pt, specs: rest },
        'update',
        `${ruleTag}: visit no longer qualifies (${reasonText}); Task still serves another visit`,
      );
    } else {
      emit({ ...pt, status: 'cancelled', cancelReason: reasonText }, 'cancel', `${ruleTag}: ${reasonText}`);
    }
  }

  const outcome = intents.length ? 'planned' : skippedPastHardStop ? 'stale' : 'processed';
  return {
    outcome,
    ...(outcome === 'stale'
      ? { detail: 'past-hard-stop' }
      : outcome === 'processed'
        ? { detail: 'nothing-to-do' }
        : {}),
    intents,
    visit,
    tasks: [...changed.values()],
    ...warn(warnings),
  };
}

const warn = (w: string[]): { warnings?: string[] } => (w.length ? { warnings: w } : {});

/**
 * Say when an anchor did not come from PV1-44/45 (never silently): the converter's notes on those fields and the
 * event times are passed on, and a time stood in for a missing or unusable one is named.
 */
function anchorWarnings(msg: ConvertedMessage, v: VisitState): string[] {
  const out = msg.warnings.filter((w) => /^(PV1-4[45]|EVN-[26]|MSH-7)\b/.test(w));
  if (!msg.eventTime && !msg.messageTime)
    out.push('EVN-6/EVN-2/MSH-7: no usable event time, the time received is used');
  const opensAdmission = msg.event === 'A01' || msg.event === 'A04' || msg.event === 'A06';
  if (opensAdmission && !msg.encounter?.period?.start && v.admitTimeSource !== 'pv1')
    out.push(
      `PV1-44: not sent or not a valid date/time, admission anchored on the ${v.admitTimeSource ?? 'event'} time`,
    );
  if (msg.event === 'A03' && !msg.encounter?.period?.end && v.dischargeTimeSource !== 'pv1')
    out.push(
      `PV1-45: not sent or not a valid date/time, discharge anchored on the ${v.dischargeTimeSource ?? 'event'} time`,
    );
  return [...new Set(out)];
}

/**
 * A new admission (rules' supersede.onAdmission) supersedes the open Task specs of the participant's earlier
 * visits in the listed phases: anchored before this admission, for another visit.
 */
function supersededSpecs(ctx: EvalContext, tasks: readonly PlannedTask[]): Set<TaskSpecForVisit> | undefined {
  const s = ctx.rules.supersede?.onAdmission;
  const v = ctx.visit;
  if (!s || !ctx.eligibility.enrolled || !v.admitted || v.status !== 'in-progress') return undefined;
  if (!s.classes.includes(v.classGroup) || !v.admitTime) return undefined;
  const admitMs = parseFhirDateTime(v.admitTime)!;
  const out = new Set<TaskSpecForVisit>();
  for (const pt of tasks) {
    if (pt.status !== 'open') continue;
    for (const spec of pt.specs)
      if (spec.visitKey !== v.visitKey && s.phases.includes(spec.phase) && spec.anchorMs <= admitMs) out.add(spec);
  }
  return out.size ? out : undefined;
}
