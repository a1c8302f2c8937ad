import { CONDITION_CODES, type ConditionCode, type Enrollment, type Participant, type Program } from './types.ts';

/** Roster validation rules shared by every import format. Messages name fields, never their values. */

export const PROGRAMS: readonly Program[] = ['PCHH', 'CMHC'];
const CONDITIONS = new Set<string>(CONDITION_CODES);

export function isIsoDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

export function isConditionCode(value: string): value is ConditionCode {
  return CONDITIONS.has(value);
}

export interface DcnCheck {
  ok: boolean;
  /** Set when the DCN is digits but not 8 long: a warning, not a rejection. */
  warning?: string;
}

export function checkDcn(value: string): DcnCheck {
  if (!/^\d+$/.test(value)) return { ok: false };
  if (value.length !== 8) return { ok: true, warning: `length ${value.length}, expected 8` };
  return { ok: true };
}

/** Two enrollments of one program overlap when neither ends before the other starts (ends inclusive). */
export function enrollmentsOverlap(a: Enrollment, b: Enrollment): boolean {
  if (a.program !== b.program) return false;
  const aEnd = a.end || '9999-12-31';
  const bEnd = b.end || '9999-12-31';
  return a.start <= bEnd && b.start <= aEnd;
}

/** Index of the first earlier enrollment that overlaps enrollment `i`, or -1. */
export function overlappingEnrollment(enrollments: readonly Enrollment[], i: number): number {
  for (let j = 0; j < i; j++) if (enrollmentsOverlap(enrollments[j]!, enrollments[i]!)) return j;
  return -1;
}

export interface ParticipantProblem {
  code: string;
  message: string;
}

/** Checks a whole participant (used for FHIR import and before persisting). Empty when valid. */
export function validateParticipant(p: Participant): { errors: ParticipantProblem[]; warnings: ParticipantProblem[] } {
  const errors: ParticipantProblem[] = [];
  const warnings: ParticipantProblem[] = [];
  if (!p.participantId) errors.push({ code: 'missing-field', message: 'participant id is missing' });
  for (const [label, dcn] of [['dcn', p.dcn], ...p.aliasDcns.map((a) => ['alias dcn', a] as const)] as const) {
    if (!dcn && label === 'dcn') {
      warnings.push({ code: 'missing-dcn', message: 'dcn is missing' });
      continue;
    }
    const c = checkDcn(dcn);
    if (!c.ok) errors.push({ code: 'bad-dcn', message: `${label} is not digits only` });
    else if (c.warning) warnings.push({ code: 'dcn-length', message: `${label} ${c.warning}` });
  }
  // Gaps in the demographics are warnings as long as the participant is identified (a DCN, or a name with a
  // birth date): a participant is never dropped from alerts for a missing name part.
  if (!p.familyName) warnings.push({ code: 'missing-name', message: 'family name is missing' });
  if (!p.givenName) warnings.push({ code: 'missing-name', message: 'given name is missing' });
  if (!p.birthDate) warnings.push({ code: 'missing-birth-date', message: 'birth date is missing' });
  else if (!isIsoDate(p.birthDate)) errors.push({ code: 'bad-date', message: 'birth date is not a YYYY-MM-DD date' });
  if (!p.dcn && !((p.familyName || p.givenName) && p.birthDate))
    errors.push({ code: 'unidentified', message: 'identifies no one: needs a DCN, or a name with a birth date' });
  if (!['F', 'M', 'U', 'O'].includes(p.sex)) errors.push({ code: 'unknown-sex', message: 'sex is not F, M, U or O' });
  if (p.ssnLast4 !== undefined && !/^\d{4}$/.test(p.ssnLast4))
    errors.push({ code: 'bad-ssn-last4', message: 'SSN last 4 is not 4 digits' });
  if (!p.enrollments.length) errors.push({ code: 'no-enrollment', message: 'participant has no enrollment' });
  p.enrollments.forEach((e, i) => {
    const at = `enrollment ${i + 1}`;
    if (!PROGRAMS.includes(e.program))
      errors.push({ code: 'unknown-program', message: `${at}: program is not PCHH or CMHC` });
    if (!e.siteId) errors.push({ code: 'missing-field', message: `${at}: site id is missing` });
    if (!e.providerId) errors.push({ code: 'missing-field', message: `${at}: provider id is missing` });
    if (!isIsoDate(e.start)) errors.push({ code: 'bad-date', message: `${at}: start is not a YYYY-MM-DD date` });
    if (e.end !== undefined && !isIsoDate(e.end))
      errors.push({ code: 'bad-date', message: `${at}: end is not a YYYY-MM-DD date` });
    if (e.end !== undefined && isIsoDate(e.start) && isIsoDate(e.end) && e.end < e.start)
      errors.push({ code: 'end-before-start', message: `${at}: end is before start` });
    for (const c of e.conditions)
      if (!isConditionCode(c))
        errors.push({ code: 'unknown-condition', message: `${at}: a condition is not in the documented code list` });
    const j = overlappingEnrollment(p.enrollments, i);
    if (j >= 0)
      errors.push({
        code: 'overlapping-enrollment',
        message: `${at} overlaps enrollment ${j + 1} of the same program`,
      });
  });
  return { errors, warnings };
}

/** Checks participant ids and DCNs across the roster: one id per person, one owner per DCN. */
export function validateRoster(participants: readonly Participant[]): ParticipantProblem[] {
  const problems: ParticipantProblem[] = [];
  const ids = new Set<string>();
  const dcnOwner = new Map<string, string>();
  for (const p of participants) {
    if (ids.has(p.participantId))
      problems.push({ code: 'duplicate-participant', message: `participant ${p.participantId} appears twice` });
    ids.add(p.participantId);
    for (const d of [p.dcn, ...p.aliasDcns]) {
      if (!d) continue;
      const owner = dcnOwner.get(d);
      if (owner !== undefined && owner !== p.participantId)
        problems.push({ code: 'shared-dcn', message: `participants ${owner} and ${p.participantId} share a DCN` });
      else dcnOwner.set(d, p.participantId);
    }
  }
  return problems;
}
