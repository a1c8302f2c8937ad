import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRuleSet } from '../../src/care/load-rules.ts';
import { plan, type PlanInput } from '../../src/care/planner.ts';
import type { RuleSet } from '../../src/care/rule-set.ts';
import type { PlannedTask, PlanResult, VisitState } from '../../src/care/types.ts';
import type { Eligibility, Participant } from '../../src/roster/types.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { converted, defaultRules, enrolled, MAPPINGS, participant, type MsgSpec } from './helpers.ts';

/** The shipped rules with 00-settings.yaml's tcmComplexity block replaced. */
function rulesWithComplexity(block: string): RuleSet {
  const dir = mkdtempSync(join(tmpdir(), 'tc-tcm-'));
  for (const sub of ['rules', 'calendars']) cpSync(join(MAPPINGS, sub), join(dir, sub), { recursive: true });
  cpSync(join(MAPPINGS, 'diagnosis-groups.yaml'), join(dir, 'diagnosis-groups.yaml'));
  const f = join(dir, 'rules', '00-settings.yaml');
  writeFileSync(f, readFileSync(f, 'utf8').replace(/tcmComplexity:\n( {2}.*\n)+/, block));
  return loadRuleSet(dir);
}

/** Runs messages in order through the planner with a tiny in-test state, like the pipeline does. */
function run(
  msgs: MsgSpec[],
  opts: { now: string; who?: Participant; elig?: Eligibility; mode?: 'snapshot' | 'incremental'; rules?: RuleSet },
): { results: PlanResult[]; tasks: Map<string, PlannedTask>; visits: Map<string, VisitState> } {
  const rules = opts.rules ?? defaultRules();
  const visits = new Map<string, VisitState>();
  const tasks = new Map<string, PlannedTask>();
  const results: PlanResult[] = [];
  for (const s of msgs) {
    const message = converted(s);
    const input: PlanInput = {
      message,
      eligibility: opts.elig ?? enrolled(),
      participant: opts.who ?? participant(),
      visit: visits.get(message.visitKey!),
      recentVisits: [...visits.values()],
      tasks: [...tasks.values()],
      diagnosisMode: opts.mode ?? 'snapshot',
    };
    const r = plan(input, rules, fixedClock(opts.now));
    if (r.visit) visits.set(r.visit.visitKey, r.visit);
    for (const t of r.tasks) tasks.set(t.identifier, t);
    results.push(r);
  }
  return { results, tasks, visits };
}

const codes = (r: PlanResult) => r.intents.map((i) => `${i.action}:${i.ruleId}:${i.task.code?.coding?.[0]?.code}`);
const A01 = {
  event: 'A01',
  eventTime: '2026-11-16T09:00:00-06:00',
  admit: '2026-11-16T08:45:00-06:00',
  classCode: 'IMP',
};
const A03 = {
  event: 'A03',
  eventTime: '2026-11-18T14:00:00-06:00',
  admit: '2026-11-16T08:45:00-06:00',
  discharge: '2026-11-18T13:30:00-06:00',
  classCode: 'IMP',
  disposition: '01',
};

describe('planner', () => {
  it('plans admission outreach (R1) due one business day after the admit date', () => {
    const { results } = run([A01], { now: '2026-11-16T10:00:00-06:00' });
    expect(results[0]!.outcome).toBe('planned');
    expect(codes(results[0]!)).toEqual(['create:R1:admission-outreach']);
    const t = results[0]!.intents[0]!.task;
    expect(t.restriction?.period).toEqual({ start: '2026-11-16T08:45:00-06:00', end: '2026-11-17T23:59:59-06:00' });
    expect(t.priority).toBe('urgent');
    expect(t.status).toBe('requested');
    expect(t.intent).toBe('order');
    expect(t.for?.identifier?.value).toBe('10234567');
    expect(t.owner?.identifier?.value).toBe('pchh-springfield-north');
    expect(t.encounter?.reference).toBe('Encounter/enc-V1');
    expect(t.focus).toEqual(t.encounter);
    expect(t.authoredOn).toBe('2026-11-16T10:00:00-06:00');
  });

  it('plans R7-R10 on a community discharge with the TCM and TRC timers', () => {
    const { results } = run([A01, A03], { now: '2026-11-18T15:00:00-06:00' });
    const r = results[1]!;
    expect(codes(r)).toEqual([
      'create:R7:tc-interactive-contact',
      'create:R8:tc-discharge-info-review',
      'create:R9:tc-med-reconciliation',
      'create:R10:tc-followup-visit',
      'cancel:R1:admission-outreach',
    ]);
    const due = Object.fromEntries(
      r.intents
        .filter((i) => i.action === 'create')
        .map((i) => [i.ruleId, [i.task.restriction?.period?.end, i.task.priority]]),
    );
    expect(due).toEqual({
      R7: ['2026-11-20T23:59:59-06:00', 'asap'],
      R8: ['2026-11-20T23:59:59-06:00', 'urgent'],
      R9: ['2026-11-25T23:59:59-06:00', 'urgent'],
      R10: ['2026-11-25T23:59:59-06:00', 'urgent'],
    });
    const r10 = r.intents.find((i) => i.ruleId === 'R10')!.task;
    expect(r10.code?.coding?.[1]).toMatchObject({ system: 'http://snomed.info/sct', code: '185389009' });
    expect(r10.input?.[0]).toMatchObject({ type: { text: 'hard-stop' }, valueDateTime: '2026-12-18T23:59:59-06:00' });
  });

  it('gives the TCM face-to-face 14 days for a moderate-complexity site or participant, 7 by default', () => {
    const dueOf = (rules?: RuleSet) => {
      const r = run([A03], { now: '2026-11-18T15:00:00-06:00', ...(rules ? { rules } : {}) }).results[0]!;
      const r10 = r.intents.find((i) => i.ruleId === 'R10')!;
      const r9 = r.intents.find((i) => i.ruleId === 'R9')!;
      return [r10.task.restriction?.period?.end, r9.task.restriction?.period?.end, r10.reason.includes('moderate')];
    };
    expect(dueOf()).toEqual(['2026-11-25T23:59:59-06:00', '2026-11-25T23:59:59-06:00', false]);
    const bySite = rulesWithComplexity(
      'tcmComplexity:\n  default: high\n  sites: { pchh-springfield-north: moderate }\n  participants: {}\n',
    );
    // Medication reconciliation stays due at 7 days (never later than the visit).
    expect(dueOf(bySite)).toEqual(['2026-12-02T23:59:59-06:00', '2026-11-25T23:59:59-06:00', true]);
    const byParticipant = rulesWithComplexity(
      'tcmComplexity:\n  default: moderate\n  sites: {}\n  participants: { P001: high }\n',
    );
    expect(dueOf(byParticipant)[0]).toBe('2026-11-25T23:59:59-06:00');
  });

  it('gives no new intent for a replayed message or 50 identical A08s', () => {
    const a08 = (i: number) => ({
      ...A03,
      event: 'A08',
      eventTime: `2026-11-18T${String(15 + Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00-06:00`,
      controlId: `A08-${i}`,
    });
    const msgs = [A01, A03, A03, ...Array.from({ length: 50 }, (_, i) => a08(i))];
    const { results } = run(msgs, { now: '2026-11-18T20:00:00-06:00' });
    expect(results[2]!.detail).toBe('duplicate');
    const later = results.slice(2).flatMap((r) => r.intents);
    expect(later).toEqual([]);
  });

  it('updates at most once when A08s add a mental-health principal diagnosis (R22, R11)', () => {
    const a08 = (i: number) => ({
      ...A03,
      event: 'A08',
      eventTime: `2026-11-18T16:${String(i).padStart(2, '0')}:00-06:00`,
      controlId: `A08-${i}`,
      dx: [{ code: 'F32.9', rank: 1 }],
    });
    const { results } = run([A01, A03, ...Array.from({ length: 50 }, (_, i) => a08(i))], {
      now: '2026-11-18T20:00:00-06:00',
    });
    const after = results.slice(2).flatMap((r) => r.intents);
    // One message changes the projection: R11 and its 30-day companion created, R1/R7-R10 updated with the reasonCode; the rest nothing.
    expect(results.slice(3).flatMap((r) => r.intents)).toEqual([]);
    expect(after.filter((i) => i.action === 'create').map((i) => i.ruleId)).toEqual(['R11', 'R11-30d']);
    expect(after.find((i) => i.ruleId === 'R11')!.sensitivity).toEqual(['mh']);
  });

  it('opens no admission Task for an A01 arriving after its A03', () => {
    const { results } = run([A03, A01], { now: '2026-11-18T15:00:00-06:00' });
    expect(results[1]!.intents).toEqual([]);
  });

  it('never regresses a discharge for an A08 older than the A03', () => {
    const old = {
      ...A01,
      event: 'A08',
      eventTime: '2026-11-17T09:00:00-06:00',
      disposition: undefined,
      controlId: 'old',
    };
    const { results, visits } = run([A01, A03, old], { now: '2026-11-18T15:00:00-06:00' });
    expect(results[2]!.intents).toEqual([]);
    expect([...visits.values()][0]!.status).toBe('finished');
  });

  it('A01 → A03 → A13 → A03 cancels discharge Tasks and plans a new generation; admission Task stays', () => {
    const a13 = { event: 'A13', eventTime: '2026-11-18T16:00:00-06:00', classCode: 'IMP' };
    const a03b = {
      ...A03,
      eventTime: '2026-11-19T10:00:00-06:00',
      discharge: '2026-11-19T09:30:00-06:00',
      controlId: 'A03b',
    };
    const { results } = run([A01, A03, a13, a03b], { now: '2026-11-19T11:00:00-06:00' });
    expect(codes(results[2]!)).toEqual([
      'cancel:R7:tc-interactive-contact',
      'cancel:R8:tc-discharge-info-review',
      'cancel:R9:tc-med-reconciliation',
      'cancel:R10:tc-followup-visit',
    ]);
    expect(results[2]!.intents[0]!.cancelReason).toBe('discharge cancelled by hospital');
    expect(codes(results[3]!)).toEqual([
      'create:R7:tc-interactive-contact',
      'create:R8:tc-discharge-info-review',
      'create:R9:tc-med-reconciliation',
      'create:R10:tc-followup-visit',
    ]);
    const ids2 = results[1]!.intents.map((i) => i.taskIdentifier);
    expect(results[3]!.intents.every((i) => !ids2.includes(i.taskIdentifier))).toBe(true);
    expect(results[3]!.intents[0]!.task.restriction?.period?.end).toBe('2026-11-23T23:59:59-06:00');
  });

  it('A01 → A11 cancels the admission Task', () => {
    const a11 = { event: 'A11', eventTime: '2026-11-16T12:00:00-06:00' };
    const { results } = run([A01, a11], { now: '2026-11-16T12:30:00-06:00' });
    expect(codes(results[1]!)).toEqual(['cancel:R1:admission-outreach']);
    expect(results[1]!.intents[0]!.cancelReason).toBe('admission cancelled by hospital');
  });

  it("plans stale for a replay of last month's discharge", () => {
    const old = {
      ...A03,
      eventTime: '2026-10-10T14:00:00-05:00',
      admit: '2026-10-08T10:00:00-05:00',
      discharge: '2026-10-10T13:00:00-05:00',
    };
    const { results } = run([old], { now: '2026-11-23T10:00:00-06:00' });
    expect(results[0]!.outcome).toBe('stale');
    expect(results[0]!.intents).toEqual([]);
  });

  it('marks a late message created-overdue and raises its priority one level', () => {
    const { results } = run([A03], { now: '2026-11-23T10:00:00-06:00' });
    const r7 = results[0]!.intents.find((i) => i.ruleId === 'R7')!.task;
    expect(r7.businessStatus?.coding?.[0]?.code).toBe('created-overdue');
    expect(r7.priority).toBe('stat');
    const r10 = results[0]!.intents.find((i) => i.ruleId === 'R10')!.task;
    expect(r10.businessStatus).toBeUndefined();
    expect(r10.priority).toBe('urgent');
  });

  it('updates the open ED follow-up Task for a second ED visit inside its window (R27)', () => {
    const ed1 = {
      event: 'A03',
      visit: 'E1',
      classCode: 'EMER',
      eventTime: '2026-11-16T22:00:00-06:00',
      admit: '2026-11-16T18:00:00-06:00',
      discharge: '2026-11-16T21:30:00-06:00',
      disposition: '01',
    };
    const ed2 = {
      ...ed1,
      visit: 'E2',
      eventTime: '2026-11-18T22:00:00-06:00',
      admit: '2026-11-18T19:00:00-06:00',
      discharge: '2026-11-18T21:00:00-06:00',
    };
    const { results } = run([ed1, ed2], { now: '2026-11-18T23:00:00-06:00' });
    expect(codes(results[0]!)).toEqual(['create:R3:ed-followup-contact', 'create:R4:ed-followup-visit']);
    expect(codes(results[1]!)).toEqual(['update:R3:ed-followup-contact', 'update:R4:ed-followup-visit']);
    const r3 = results[1]!.intents[0]!;
    expect(r3.taskIdentifier).toBe(results[0]!.intents[0]!.taskIdentifier);
    expect(r3.task.priority).toBe('asap');
    expect(r3.task.input?.some((x) => x.valueReference?.reference === 'Encounter/enc-E2')).toBe(true);
    // An A11 on the second visit removes it from the Task but never cancels it.
    const { results: r2 } = run([ed1, ed2, { event: 'A11', visit: 'E2', eventTime: '2026-11-18T23:00:00-06:00' }], {
      now: '2026-11-18T23:30:00-06:00',
    });
    expect(r2[2]!.intents.map((i) => i.action)).toEqual(['update', 'update']);
    expect(r2[2]!.intents[0]!.task.priority).toBe('urgent');
  });

  it('cancels every open Task of the participant when the patient expires (R17)', () => {
    const ed1 = {
      event: 'A03',
      visit: 'E1',
      classCode: 'EMER',
      eventTime: '2026-11-10T22:00:00-06:00',
      discharge: '2026-11-10T21:30:00-06:00',
      disposition: '01',
    };
    const death = { ...A03, disposition: '20' };
    const { results } = run([ed1, A01, death], { now: '2026-11-18T15:00:00-06:00' });
    // The admission already superseded the ED visit's follow-up (readmitted); the death cancels the rest.
    expect(codes(results[1]!).sort()).toEqual(
      ['cancel:R3:ed-followup-contact', 'cancel:R4:ed-followup-visit', 'create:R1:admission-outreach'].sort(),
    );
    expect(results[1]!.intents.filter((i) => i.action === 'cancel').map((i) => i.cancelReason)).toEqual([
      'readmitted, follow-up moves to the new stay',
      'readmitted, follow-up moves to the new stay',
    ]);
    const r = results[2]!;
    expect(codes(r).sort()).toEqual(['cancel:R1:admission-outreach', 'create:R17:administrative-death-review'].sort());
    expect(r.intents.filter((i) => i.action === 'cancel').every((i) => i.cancelReason === 'patient expired')).toBe(
      true,
    );
    expect(r.intents.find((i) => i.ruleId === 'R17')!.task.restriction?.period?.end).toBe('2026-11-25T23:59:59-06:00');
  });

  it('routes BH follow-up to the CMHC site and generic Tasks to the PCHH site for a dual enrollee', () => {
    const both = enrolled([
      { program: 'PCHH', siteId: 'pchh-springfield-north' },
      { program: 'CMHC', siteId: 'cmhc-burrell-springfield' },
    ]);
    const { results } = run([{ ...A03, dx: [{ code: 'F33.1', rank: 1 }] }], {
      now: '2026-11-18T15:00:00-06:00',
      elig: both,
    });
    const owners = Object.fromEntries(results[0]!.intents.map((i) => [i.ruleId, i.siteId]));
    expect(owners).toMatchObject({ R7: 'pchh-springfield-north', R11: 'cmhc-burrell-springfield' });
  });

  it('applies the age gates of R28 (no FUH task for a 5-year-old)', () => {
    const child = participant({ birthDate: '2021-06-01' });
    const { results } = run([{ ...A03, dx: [{ code: 'F43.10', rank: 1 }] }], {
      now: '2026-11-18T15:00:00-06:00',
      who: child,
    });
    expect(results[0]!.intents.map((i) => i.ruleId)).toEqual(['R7', 'R8', 'R9', 'R10']);
  });
});
