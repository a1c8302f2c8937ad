import type { Hl7Problem } from './types.ts';

/** Bounds on one message's size and shape (per sender profile: `limits`). Defaults real ADT never reaches. */
export interface MessageLimits {
  /** Bytes of one message (without MLLP framing). */
  maxBytes: number;
  /** Segments of one message. */
  maxSegments: number;
  /** Repetitions of one field. */
  maxRepetitions: number;
  /** Characters (bytes) of one field, all its repetitions together. */
  maxFieldLength: number;
}

export const DEFAULT_LIMITS: MessageLimits = {
  maxBytes: 1024 * 1024,
  maxSegments: 5_000,
  maxRepetitions: 1_000,
  maxFieldLength: 65_536,
};

const CR = 0x0d;
const LF = 0x0a;

/** Which limit a message broke (for metrics and the dead-letter reason; never a value). */
export type LimitName = keyof MessageLimits;

export interface LimitProblem extends Hl7Problem {
  code: 'TC_HL7_LIMIT';
  limit: LimitName;
}

function over(limit: LimitName, max: number, reason: string, location: Hl7Problem['location']): LimitProblem {
  return {
    code: 'TC_HL7_LIMIT',
    limit,
    reason: `${reason} (sender profile limit limits.${limit} = ${max})`,
    ...(location ? { location } : {}),
  };
}

/**
 * Checks a message against its limits in one pass over the bytes, before anything splits or converts it: the
 * work any later step does is then bounded. The delimiters come from MSH-1 and MSH-2 (the first MSH in the
 * input). Returns the first limit broken, naming segment and field, never a value.
 */
export function checkLimits(input: Buffer | string, limits: MessageLimits): LimitProblem | undefined {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  if (buf.length > limits.maxBytes)
    return over('maxBytes', limits.maxBytes, `message of ${buf.length} bytes is too large`, { segment: 'MSH' });
  const msh = buf.indexOf('MSH');
  if (msh < 0 || msh + 5 >= buf.length) return undefined; // no header: the parser names that problem
  const fieldSep = buf[msh + 3]!;
  const repSep = buf[msh + 5]!;
  let segments = 0;
  let segStart = -1; // start of the current segment, -1 between segments
  let field = 0;
  let fieldLen = 0;
  let reps = 0;
  let isMsh = false;
  const name = (at: number) => buf.toString('latin1', at, Math.min(at + 3, buf.length)).replace(/[^A-Z0-9]/g, '?');
  const where = () => ({ segment: name(segStart), field: isMsh ? field + 1 : field });
  for (let i = msh; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === CR || b === LF) {
      segStart = -1;
      continue;
    }
    if (segStart < 0) {
      segStart = i;
      field = 0;
      fieldLen = 0;
      reps = 0;
      isMsh = buf[i] === 0x4d && buf[i + 1] === 0x53 && buf[i + 2] === 0x48;
      if (++segments > limits.maxSegments)
        return over('maxSegments', limits.maxSegments, `more than ${limits.maxSegments} segments`, {
          segment: name(i),
        });
    }
    if (b === fieldSep) {
      field++;
      fieldLen = 0;
      reps = 0;
      continue;
    }
    if (++fieldLen > limits.maxFieldLength)
      return over(
        'maxFieldLength',
        limits.maxFieldLength,
        `${where().segment}-${where().field} is longer than ${limits.maxFieldLength} characters`,
        where(),
      );
    if (b === repSep && field > 0 && !(isMsh && field === 1) && ++reps >= limits.maxRepetitions)
      return over(
        'maxRepetitions',
        limits.maxRepetitions,
        `${where().segment}-${where().field} has more than ${limits.maxRepetitions} repetitions`,
        where(),
      );
  }
  return undefined;
}
