import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/care/planner.ts';
import type { PlannedTask } from '../../src/care/types.ts';
import type { Db } from '../../src/store/db.ts';
import { CareRepo } from '../../src/store/care-repo.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { converted, defaultRules, enrolled, participant } from './helpers.ts';

const kinds = await dbKinds();
const clock = fixedClock('2026-11-18T15:00:00-06:00');
const A03 = converted({
  event: 'A03',
  eventTime: '2026-11-18T14:00:00-06:00',
  discharge: '2026-11-18T13:30:00-06:00',
  disposition: '01',
  dx: [{ code: 'F32.9', rank: 1 }],
});

describe.each(kinds)('care state on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
  });
  afterAll(async () => close());

  it('stores a visit and its planned Tasks and reads them back for the participant', async () => {
    await db.tx(async (q) => {
      const repo = new CareRepo(q, clock);
      const st = await repo.loadParticipant('P001');
      expect(st).toMatchObject({ version: 0, visits: [], tasks: [] });
      const r = plan(
        { message: A03, eligibility: enrolled(), participant: participant(), recentVisits: st.visits, tasks: st.tasks },
        defaultRules(),
        clock,
      );
      await repo.save('P001', st.version, { visit: r.visit!, tasks: r.tasks });
    });
    const st = await db.tx((q) => new CareRepo(q, clock).loadParticipant('P001'));
    expect(st.version).toBe(1);
    expect(st.visits.map((v) => v.status)).toEqual(['finished']);
    expect(st.tasks.map((t: PlannedTask) => t.specs[0]!.ruleId).sort()).toEqual([
      'R10',
      'R11',
      'R11-30d',
      'R7',
      'R8',
      'R9',
    ]);
    expect(await new CareRepo(db, clock).getVisit(A03.visitKey!)).toMatchObject({ disposition: '01' });
    // Replaying the message on the stored state plans nothing.
    const again = plan(
      {
        message: A03,
        eligibility: enrolled(),
        participant: participant(),
        visit: st.visits[0],
        recentVisits: st.visits,
        tasks: st.tasks,
      },
      defaultRules(),
      clock,
    );
    expect(again.intents).toEqual([]);
  });

  it('refuses a save on a stale version (another instance decided first)', async () => {
    const stale = await db.tx((q) => new CareRepo(q, clock).loadParticipant('P002'));
    await db.tx((q) => new CareRepo(q, clock).save('P002', stale.version, { tasks: [] }));
    await expect(db.tx((q) => new CareRepo(q, clock).save('P002', stale.version, { tasks: [] }))).rejects.toMatchObject(
      {
        code: 'TC_CARE_CONFLICT',
      },
    );
  });

  it.runIf(kind === 'pg')('serialises two transactions on the participant row lock', async () => {
    const order: string[] = [];
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((r) => (releaseFirst = r));
    let firstLocked!: () => void;
    const locked = new Promise<void>((r) => (firstLocked = r));
    const t1 = db.tx(async (q) => {
      const repo = new CareRepo(q, clock);
      const st = await repo.loadParticipant('P003');
      order.push('t1-loaded');
      firstLocked();
      await firstHolds;
      await repo.save('P003', st.version, { tasks: [] });
      order.push('t1-saved');
    });
    await locked;
    const t2 = db.tx(async (q) => {
      const repo = new CareRepo(q, clock);
      const st = await repo.loadParticipant('P003');
      order.push(`t2-loaded-v${st.version}`);
      await repo.save('P003', st.version, { tasks: [] });
    });
    // t2 blocks on the row lock until t1 commits.
    setTimeout(releaseFirst, 300); // a window in which t2 would read v0 if there were no lock
    await Promise.all([t1, t2]);
    expect(order).toEqual(['t1-loaded', 't1-saved', 't2-loaded-v1']);
  });
});
