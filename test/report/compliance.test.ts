import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../../src/care/planner.ts';
import { complianceReport, type ReportRow } from '../../src/report/compliance.ts';
import { recordSiteStatus } from '../../src/report/task-store.ts';
import type { Participant } from '../../src/roster/types.ts';
import { CareRepo } from '../../src/store/care-repo.ts';
import type { Db } from '../../src/store/db.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { converted, defaultRules, enrolled, participant, type MsgSpec } from '../care/helpers.ts';

/**
 * A fixture month (November 2026) computed by hand. Two participants, two sites:
 *  P001 at pchh-springfield-north (provider prov-jordan-valley, PCHH); P003 at cmhc-burrell-springfield (CMHC).
 *  V2  P001 inpatient, discharged home Mon 11/02 13:30   TCM contact done 11/05 09:00 (late, 67.5 h), visit 11/12 (late)
 *  V3  P003 inpatient F32.9, discharged Tue 11/10 13:30  contact 11/11 13:30 (on time, 24 h), visit never,
 *                                                        FUH 7 and 30 both done 11/16 12:00
 *  V1  P001 inpatient, discharged home Wed 11/18 13:30   contact 11/19 10:00 (on time, 20.5 h), visit 11/24 (on time)
 *  E1  P003 ED F32.9, discharged Fri 11/20 21:30          FUM 7 never, FUM 30 done 12/01
 *  V4  P001 admitted 11/25 08:00 (readmission 7 days after V1: R13)
 * By hand, all sites: TCM contact 2/3; face-to-face 1/3; FUH-7 1/1; FUH-30 1/1; FUM-7 0/1; FUM-30 1/1;
 * readmissions 1 per 3 index discharges; ED visits 1 per 2 participant-months = 500 per 1,000;
 * median hours to contact of (67.5, 24, 20.5) = 24.
 */
const kinds = await dbKinds();
const P003: Participant = participant({
  participantId: 'P003',
  dcn: '10456789',
  birthDate: '1990-07-21',
  enrollments: [
    {
      program: 'CMHC',
      providerId: 'prov-burrell',
      siteId: 'cmhc-burrell-springfield',
      start: '2023-03-01',
      conditions: [],
    },
  ],
});
const P001 = participant();
type Sites = { program: 'PCHH' | 'CMHC'; siteId: string }[];
const NORTH: Sites = [{ program: 'PCHH', siteId: 'pchh-springfield-north' }];
const BURRELL: Sites = [{ program: 'CMHC', siteId: 'cmhc-burrell-springfield' }];

const discharge = (visit: string, day: string, extra: Partial<MsgSpec> = {}): MsgSpec => ({
  event: 'A03',
  visit,
  eventTime: `2026-11-${day}T14:00:00-06:00`,
  admit: `2026-10-30T08:00:00-05:00`,
  discharge: `2026-11-${day}T13:30:00-06:00`,
  disposition: '01',
  ...extra,
});

describe.each(kinds)('compliance report on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  const ids = new Map<string, string>(); // `${visit}|${rule}` → task identifier

  async function apply(who: Participant, sites: Sites, spec: MsgSpec, now: string): Promise<void> {
    const clock = fixedClock(now);
    await db.tx(async (q) => {
      const repo = new CareRepo(q, clock);
      const st = await repo.loadParticipant(who.participantId);
      const msg = converted(spec);
      const r = plan(
        {
          message: msg,
          eligibility: enrolled(sites),
          participant: who,
          visit: st.visits.find((v) => v.visitKey === msg.visitKey),
          recentVisits: st.visits,
          tasks: st.tasks,
        },
        defaultRules(),
        clock,
      );
      await repo.save(who.participantId, st.version, { ...(r.visit ? { visit: r.visit } : {}), tasks: r.tasks });
      for (const i of r.intents) if (i.action === 'create') ids.set(`${spec.visit}|${i.ruleId}`, i.taskIdentifier);
    });
  }
  const done = (visit: string, rule: string, at: string) =>
    db.tx((q) => recordSiteStatus(q, ids.get(`${visit}|${rule}`)!, 'completed', Date.parse(at)));

  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
    await apply(P001, NORTH, discharge('V2', '02'), '2026-11-02T15:00:00-06:00');
    await apply(
      P003,
      BURRELL,
      discharge('V3', '10', { dx: [{ code: 'F32.9', rank: 1 }] }),
      '2026-11-10T15:00:00-06:00',
    );
    await apply(P001, NORTH, discharge('V1', '18'), '2026-11-18T15:00:00-06:00');
    await apply(
      P003,
      BURRELL,
      discharge('E1', '20', {
        classCode: 'EMER',
        eventTime: '2026-11-20T22:00:00-06:00',
        admit: '2026-11-20T18:00:00-06:00',
        discharge: '2026-11-20T21:30:00-06:00',
        dx: [{ code: 'F32.9', rank: 1 }],
      }),
      '2026-11-20T23:00:00-06:00',
    );
    await done('V2', 'R7', '2026-11-05T09:00:00-06:00');
    await done('V2', 'R10', '2026-11-12T10:00:00-06:00');
    await done('V3', 'R7', '2026-11-11T13:30:00-06:00');
    await done('V3', 'R11', '2026-11-16T12:00:00-06:00');
    await done('V3', 'R11-30d', '2026-11-16T12:00:00-06:00');
    await done('V1', 'R7', '2026-11-19T10:00:00-06:00');
    await done('V1', 'R10', '2026-11-24T15:00:00-06:00');
    await done('E1', 'R5-30d', '2026-12-01T10:00:00-06:00');
    await apply(
      P001,
      NORTH,
      { event: 'A01', visit: 'V4', eventTime: '2026-11-25T08:10:00-06:00', admit: '2026-11-25T08:00:00-06:00' },
      '2026-11-25T09:00:00-06:00',
    );
  }, 120_000);
  afterAll(async () => close());

  const report = () =>
    complianceReport(db, {
      from: '2026-11-01',
      to: '2026-11-30',
      providerOf: (s) => (s === 'pchh-springfield-north' ? 'prov-jordan-valley' : 'prov-burrell'),
      participants: [P001, P003],
    });
  const row = (rows: ReportRow[], dimension: string, key: string) =>
    rows.find((r) => r.month === '2026-11' && r.dimension === dimension && r.key === key)!;
  const frac = (r: ReportRow, id: keyof ReportRow['measures']) => [
    r.measures[id].numerator,
    r.measures[id].denominator,
  ];

  it('equals the rates computed by hand for the fixture month', async () => {
    const { rows } = await report();
    const all = row(rows, 'all', 'all');
    expect(frac(all, 'tcm-contact-2bd')).toEqual([2, 3]);
    expect(frac(all, 'tcm-visit')).toEqual([1, 3]);
    expect(frac(all, 'tcm-visit-7d')).toEqual([1, 3]);
    expect(frac(all, 'tcm-visit-14d')).toEqual([0, 0]);
    expect(frac(all, 'fuh-7')).toEqual([1, 1]);
    expect(frac(all, 'fuh-30')).toEqual([1, 1]);
    expect(frac(all, 'fum-7')).toEqual([0, 1]);
    expect(frac(all, 'fum-30')).toEqual([1, 1]);
    expect(frac(all, 'fua-7')).toEqual([0, 0]);
    expect(frac(all, 'readmission-30d')).toEqual([1, 3]);
    expect(all.measures['ed-visits-per-1000']).toEqual({ numerator: 1, denominator: 2, value: 500 });
    expect(all.measures['median-hours-to-contact'].value).toBeCloseTo(24, 6);
    const north = row(rows, 'site', 'pchh-springfield-north');
    expect(frac(north, 'tcm-contact-2bd')).toEqual([1, 2]);
    expect(north.measures['median-hours-to-contact'].value).toBeCloseTo(44, 6); // (67.5 + 20.5) / 2
    expect(north.measures['ed-visits-per-1000'].value).toBe(0);
    const burrell = row(rows, 'site', 'cmhc-burrell-springfield');
    expect(frac(burrell, 'tcm-contact-2bd')).toEqual([1, 1]);
    expect(burrell.measures['ed-visits-per-1000'].value).toBe(1000);
    expect(frac(row(rows, 'program', 'CMHC'), 'fuh-7')).toEqual([1, 1]);
    const provider = row(rows, 'provider', 'prov-jordan-valley');
    expect(frac(provider, 'tcm-visit')).toEqual([1, 2]);
    expect(provider.measures['median-hours-to-contact'].value).toBeCloseTo(44, 6);
  });

  it('keeps the lifecycle with times: planner requested/cancelled, site completed, never overwritten', async () => {
    const v1r10 = ids.get('V1|R10')!;
    const v1r8 = ids.get('V1|R8')!;
    const life = await db.query<{ task_identifier: string; status: string; source: string }>(
      'SELECT task_identifier, status, source FROM task_lifecycle WHERE task_identifier = ANY($1) ORDER BY at, status',
      [[v1r10, v1r8]],
    );
    const of = (id: string) => life.rows.filter((r) => r.task_identifier === id).map((r) => `${r.source}:${r.status}`);
    // The readmission cancels V1's open Tasks; the visit the site already completed stays completed.
    expect(of(v1r8)).toEqual(['planner:requested', 'planner:cancelled']);
    expect(of(v1r10)).toEqual(['planner:requested', 'site:completed', 'planner:cancelled']);
    const rec = await db.query<{ status: string }>('SELECT status FROM task_record WHERE task_identifier = $1', [
      v1r10,
    ]);
    expect(rec.rows[0]!.status).toBe('completed');
  });
});
