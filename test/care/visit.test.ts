import { describe, expect, it } from 'vitest';
import { mergeVisit, principalDiagnosis } from '../../src/care/visit.ts';
import type { VisitState } from '../../src/care/types.ts';
import { converted, defaultRules, type MsgSpec } from './helpers.ts';

function apply(
  msgs: MsgSpec[],
  mode: 'snapshot' | 'incremental' = 'snapshot',
): { visit: VisitState; changed: boolean[]; applied: string[] } {
  const rules = defaultRules();
  let visit: VisitState | undefined;
  const changed: boolean[] = [];
  const applied: string[] = [];
  for (const m of msgs) {
    const msg = converted(m);
    const r = mergeVisit(visit, msg, rules.events[m.event]!, { participantId: 'P001', rules, diagnosisMode: mode });
    visit = r.visit;
    changed.push(r.changed);
    applied.push(r.applied);
  }
  return { visit: visit!, changed, applied };
}

const A01 = {
  event: 'A01',
  eventTime: '2026-11-16T09:00:00-06:00',
  admit: '2026-11-16T08:45:00-06:00',
  dx: [{ code: 'R07.9', rank: 1 }],
};
const A03 = {
  event: 'A03',
  eventTime: '2026-11-18T14:00:00-06:00',
  discharge: '2026-11-18T13:30:00-06:00',
  disposition: '01',
};

describe('visit merge', () => {
  it('replaces diagnoses with a newer DG1 list (snapshot) and keeps them when a message has none', () => {
    const { visit } = apply([
      A01,
      { ...A03, dx: [{ code: 'I21.4', rank: 1 }] },
      { ...A03, event: 'A08', eventTime: '2026-11-18T15:00:00-06:00' },
    ]);
    expect(visit.diagnoses.map((d) => d.code)).toEqual(['I21.4']);
  });

  it('adds diagnoses when the sender profile says incremental', () => {
    const { visit } = apply([A01, { ...A03, dx: [{ code: 'I21.4', rank: 2 }] }], 'incremental');
    expect(visit.diagnoses.map((d) => d.code)).toEqual(['R07.9', 'I21.4']);
    expect(principalDiagnosis(visit.diagnoses)?.code).toBe('R07.9');
  });

  it('lets a stale event only add what the visit lacks', () => {
    const stale = {
      event: 'A08',
      eventTime: '2026-11-17T09:00:00-06:00',
      classCode: 'OBSENC',
      admit: '2026-11-16T07:00:00-06:00',
      dx: [{ code: 'F32.9', rank: 1 }],
    };
    const { visit, applied } = apply([A01, A03, stale]);
    expect(applied).toEqual(['newer', 'newer', 'stale']);
    expect(visit.status).toBe('finished');
    expect(visit.classCode).toBe('IMP');
    expect(visit.admitTime).toBe('2026-11-16T08:45:00-06:00');
    expect(visit.diagnoses.map((d) => d.code)).toEqual(['R07.9', 'F32.9']);
  });

  it('finishes a visit from a late A03 older than the last A08, but never reopens one from a stale A13', () => {
    const a08 = { event: 'A08', eventTime: '2026-11-18T20:00:00-06:00' };
    expect(apply([A01, a08, A03]).visit.status).toBe('finished');
    const oldA13 = { event: 'A13', eventTime: '2026-11-18T10:00:00-06:00' };
    const r = apply([A01, A03, oldA13]);
    expect(r.visit.status).toBe('finished');
    expect(r.visit.dischargeGeneration).toBe(0);
  });

  it('reopens a discharge on a newer A13 (new generation, discharge facts cleared)', () => {
    const { visit } = apply([A01, A03, { event: 'A13', eventTime: '2026-11-18T16:00:00-06:00' }]);
    expect(visit).toMatchObject({ status: 'in-progress', dischargeGeneration: 1, admitted: true });
    expect(visit.dischargeTime).toBeUndefined();
    expect(visit.disposition).toBeUndefined();
  });

  it('marks a psychiatric stay from an A02 and reverts it on A12', () => {
    const a02 = { event: 'A02', eventTime: '2026-11-16T12:00:00-06:00', psych: true };
    expect(apply([A01, a02]).visit.psychiatricStay).toBe(true);
    expect(apply([A01, a02, { event: 'A12', eventTime: '2026-11-16T13:00:00-06:00' }]).visit.psychiatricStay).toBe(
      false,
    );
  });

  it('uses the event time when PV1-45 is missing, and a later PV1-45 replaces it', () => {
    const bare = { event: 'A03', eventTime: '2026-11-18T14:00:00-06:00', disposition: '01' };
    const first = apply([A01, bare]).visit;
    expect(first).toMatchObject({ dischargeTime: '2026-11-18T14:00:00-06:00', dischargeTimeSource: 'event' });
    const fixed = apply([A01, bare, { ...A03, event: 'A08', eventTime: '2026-11-18T15:00:00-06:00' }]).visit;
    expect(fixed).toMatchObject({ dischargeTime: '2026-11-18T13:30:00-06:00', dischargeTimeSource: 'pv1' });
  });

  it('reports no change when only non-rule fields differ', () => {
    const { changed } = apply([A01, { ...A01, event: 'A08', eventTime: '2026-11-16T10:00:00-06:00', controlId: 'x' }]);
    expect(changed).toEqual([true, false]);
  });
});
