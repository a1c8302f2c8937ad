import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/care/planner.ts';
import { sweepOverdue } from '../../src/report/overdue.ts';
import { recordSiteStatus } from '../../src/report/task-store.ts';
import { worklist } from '../../src/report/worklist.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import { CareRepo } from '../../src/store/care-repo.ts';
import type { Db } from '../../src/store/db.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { openTestDb } from '../helpers/db.ts';
import { converted, defaultRules, enrolled, participant } from '../care/helpers.ts';

describe('overdue Tasks: escalation and the worklist', () => {
  let db: Db;
  let close: () => Promise<void>;
  const ids = new Map<string, string>();
  beforeAll(async () => {
    ({ db, close } = await openTestDb('pglite'));
    const clock = fixedClock('2026-11-18T15:00:00-06:00');
    await db.tx(async (q) => {
      const repo = new CareRepo(q, clock);
      const st = await repo.loadParticipant('P001');
      const r = plan(
        {
          message: converted({
            event: 'A03',
            eventTime: '2026-11-18T14:00:00-06:00',
            admit: '2026-11-16T08:45:00-06:00',
            discharge: '2026-11-18T13:30:00-06:00',
            disposition: '01',
          }),
          eligibility: enrolled(),
          participant: participant(),
          recentVisits: [],
          tasks: st.tasks,
        },
        defaultRules(),
        clock,
      );
      await repo.save('P001', st.version, { visit: r.visit!, tasks: r.tasks });
      for (const i of r.intents) ids.set(i.ruleId, i.taskIdentifier);
    });
    // The discharge-information review (R8, due Fri 11/20) was done on time; the contact (R7, due 11/20) was not.
    await db.tx((q) => recordSiteStatus(q, ids.get('R8')!, 'completed', Date.parse('2026-11-19T10:00:00-06:00')));
  }, 120_000);
  afterAll(async () => close());

  it('lists due today and overdue for the site, most overdue first', async () => {
    const today = await worklist(db, 'pchh-springfield-north', Date.parse('2026-11-20T09:00:00-06:00'));
    expect(today.map((i) => [i.ruleId, i.state])).toEqual([['R7', 'due-today']]);
    const later = await worklist(db, 'pchh-springfield-north', Date.parse('2026-11-25T09:00:00-06:00'));
    expect(later.map((i) => [i.ruleId, i.state])).toEqual([
      ['R7', 'overdue'],
      ['R10', 'due-today'],
      ['R9', 'due-today'],
    ]);
    expect(later[0]!.hoursOverdue).toBe(105); // Fri 11/20 23:59:59 → Wed 11/25 09:00
    expect(await worklist(db, 'pchh-kc-east', Date.parse('2026-11-25T09:00:00-06:00'))).toEqual([]);
    // In a Mountain site's zone the due time reads Mountain (23:59:59 Central is 22:59:59 there).
    const late = Date.parse('2026-11-20T22:30:00-07:00');
    const denver = await worklist(db, 'pchh-springfield-north', late, 'America/Denver');
    expect(denver.map((i) => [i.ruleId, i.state, i.due])).toEqual([['R7', 'due-today', '2026-11-20T22:59:59-07:00']]);
    expect((await worklist(db, 'pchh-springfield-north', late)).map((i) => i.due)).toEqual([
      '2026-11-20T23:59:59-06:00',
    ]);
  });

  it('raises an overdue Task once, creates the supervisor Task, and leaves completed Tasks alone', async () => {
    const queued: DeliveryRequest[] = [];
    const clock = fixedClock('2026-11-23T08:00:00-06:00');
    const r = await sweepOverdue(db, defaultRules(), clock, {
      participant: () => participant(),
      enqueue: async (_q, reqs) => void queued.push(...reqs),
    });
    expect(r).toMatchObject({ escalated: 1, supervisorTasks: 1 });
    const raised = r.intents.find((i) => i.taskIdentifier === ids.get('R7'))!;
    expect(raised.action).toBe('update');
    expect(raised.task.priority).toBe('stat'); // asap + 1
    expect(raised.task.businessStatus?.coding?.map((c) => c.code)).toContain('overdue');
    const sup = r.intents.find((i) => i.action === 'create')!;
    expect(sup.task.code?.coding?.[0]?.code).toBe('overdue-escalation');
    expect(sup.task.partOf?.[0]?.identifier?.value).toBe(ids.get('R7'));
    expect(sup.task.performerType?.[0]?.text).toBe('Care team supervisor');
    expect(sup.task.restriction?.period?.end).toBe('2026-11-24T23:59:59-06:00');
    expect(sup.task.owner?.identifier?.value).toBe('pchh-springfield-north');
    expect(queued.map((q) => q.intent.action).sort()).toEqual(['create', 'update']);
    // The lifecycle says when; the record carries the new priority; a second sweep does nothing.
    const life = await db.query<{ status: string; source: string }>(
      'SELECT status, source FROM task_lifecycle WHERE task_identifier = $1 ORDER BY at',
      [ids.get('R7')],
    );
    expect(life.rows.map((x) => `${x.source}:${x.status}`)).toEqual(['planner:requested', 'sweep:escalated']);
    const rec = await db.query<{ priority: string }>('SELECT priority FROM task_record WHERE task_identifier = $1', [
      ids.get('R7'),
    ]);
    expect(rec.rows[0]!.priority).toBe('stat');
    expect((await sweepOverdue(db, defaultRules(), clock)).escalated).toBe(0);
    const wl = await worklist(db, 'pchh-springfield-north', Date.parse('2026-11-24T09:00:00-06:00'));
    expect(wl.map((i) => [i.code, i.escalated])).toEqual([
      ['tc-interactive-contact', true],
      ['overdue-escalation', false],
    ]);
  });
});
