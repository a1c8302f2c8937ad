import type { Eligibility, Participant, Program } from './types.ts';

/**
 * Is the participant enrolled on the event date? Identity (matchPatient) and eligibility are separate answers.
 * Enrollment end dates are inclusive; an open enrollment has no end. Several enrollments may be active at once
 * (PCHH and CMHC): all are listed in `active`, and the primary is PCHH before CMHC, then the latest start.
 */
export function eligibilityOn(participant: Participant, eventDate: string): Eligibility {
  const day = eventDate.slice(0, 10);
  const active = participant.enrollments
    .filter((e) => e.start <= day && (e.end === undefined || e.end === '' || day <= e.end))
    .sort(
      (a, b) => programRank(a.program) - programRank(b.program) || (a.start < b.start ? 1 : a.start > b.start ? -1 : 0),
    );
  const first = active[0];
  if (!first) return { enrolled: false, reason: 'not-enrolled-on-date' };
  return {
    enrolled: true,
    program: first.program,
    siteId: first.siteId,
    providerId: first.providerId,
    reason: 'enrolled',
    active: active.map((e) => ({ program: e.program, siteId: e.siteId, providerId: e.providerId })),
  };
}

function programRank(p: Program): number {
  return p === 'PCHH' ? 0 : 1;
}

/** The eligibility answer for a match result that found nobody, or only candidates for review. */
export function eligibilityWithoutMatch(status: 'none' | 'possible'): Eligibility {
  return { enrolled: false, reason: status === 'none' ? 'no-match' : 'review' };
}
