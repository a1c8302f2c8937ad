import { checkLimits } from '../hl7/index.ts';
import type { ConvertContext } from '../fhir/convert.ts';
import { convertInput, peekSender, rejected } from '../fhir/input.ts';
import type { ConvertResult } from '../fhir/types.ts';

/**
 * Parse + convert of one consumed message within its sender profile's limits: bytes, segments, repetitions and
 * field length are checked in one pass before anything splits the message, so the work is bounded. A message
 * beyond a limit is rejected (TC_HL7_LIMIT, naming segment, field and limit): the engine dead-letters it.
 */
export function convertBounded(raw: Buffer, ctx: ConvertContext): ConvertResult[] {
  const s = peekSender(raw);
  const { profile } = ctx.profiles.resolve(s.app, s.facility);
  const problem = checkLimits(raw, profile.limits);
  if (problem) return [rejected(problem)];
  return convertInput(raw, ctx);
}
