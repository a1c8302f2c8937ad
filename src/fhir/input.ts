import { checkStructure, lineEnd, parseMessage, splitMessages } from '../hl7/index.ts';
import type { Hl7Problem } from '../hl7/types.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';
import { type ConvertContext, convertMessage } from './convert.ts';
import { rejectionOutcome } from './outcome.ts';
import type { ConvertResult } from './types.ts';

const CHARSET_DEFAULT: SenderProfile['defaultCharset'] = 'UNICODE UTF-8';

/**
 * Reads MSH-3/MSH-4 from the raw bytes (the MSH line is ASCII in every charset HL7 allows), so the sender's
 * default character set can be used to decode a message whose MSH-18 is empty.
 */
export function peekSender(buf: Buffer): { app?: string; facility?: string } {
  const head = buf.subarray(0, 512).toString('latin1');
  const at = head.indexOf('MSH');
  if (at < 0 || head.length < at + 4) return {};
  const fs = head[at + 3]!;
  const line = head.slice(at, lineEnd(head, at));
  const fields = line.split(fs);
  const first = (f: string | undefined): string | undefined => {
    const c = f?.split(head[at + 4] ?? '^', 1)[0]?.trim();
    return c ? c : undefined;
  };
  return { app: first(fields[2]), facility: first(fields[3]) };
}

function describe(problem: Hl7Problem): string {
  const l = problem.location;
  const where = l
    ? `${l.segment}${l.field !== undefined ? `-${l.field}` : ''}${l.component !== undefined ? `.${l.component}` : ''}`
    : undefined;
  const id = problem.controlId ? `message ${problem.controlId}` : 'message (MSH-10 unknown)';
  return `${id}: ${problem.reason}${where && !problem.reason.includes(where) ? ` (${where})` : ''}`;
}

export function rejected(problem: Hl7Problem): ConvertResult {
  const l = problem.location;
  const where = l ? `${l.segment}${l.field !== undefined ? `-${l.field}` : ''}` : undefined;
  return {
    status: 'rejected',
    code: problem.code,
    outcome: rejectionOutcome(problem.code, describe(problem), where),
    ...(problem.controlId ? { controlId: problem.controlId } : {}),
  };
}

/** Converts one message's bytes: decode (MSH-18, else the sender's default charset), parse, check, convert. Never throws. */
export function convertOne(buf: Buffer | string, ctx: ConvertContext): ConvertResult {
  let controlId: string | undefined;
  try {
    let defaultCharset: SenderProfile['defaultCharset'] = CHARSET_DEFAULT;
    if (typeof buf !== 'string') {
      const s = peekSender(buf);
      defaultCharset = ctx.profiles.resolve(s.app, s.facility).profile.defaultCharset;
    }
    const parsed = parseMessage(buf, { defaultCharset });
    if (!parsed.ok) return rejected(parsed.problem);
    controlId = parsed.message.header.controlId;
    const problem = checkStructure(parsed.message);
    if (problem) return rejected({ ...problem, controlId: problem.controlId ?? controlId });
    return convertMessage(parsed.message, ctx);
  } catch (err) {
    // A defect in the converter, not in the data: report it by name only (an error text could carry a value).
    const name = err instanceof Error ? err.name : 'error';
    const id = controlId ? `message ${controlId}` : 'message (MSH-10 unknown)';
    return {
      status: 'rejected',
      code: 'TC_CONVERT_FAILED',
      outcome: rejectionOutcome('TC_CONVERT_FAILED', `${id}: internal conversion error (${name})`),
      ...(controlId ? { controlId } : {}),
    };
  }
}

/** Splits the input into messages (batches, back-to-back MSH) and converts each, in order. */
export function convertInput(input: Buffer | string, ctx: ConvertContext): ConvertResult[] {
  let parts: (Buffer | string)[];
  try {
    parts = splitMessages(input);
  } catch {
    parts = [input];
  }
  if (parts.length === 0)
    return [rejected({ code: 'TC_HL7_EMPTY', reason: 'no message found (MSH)', location: { segment: 'MSH' } })];
  return parts.map((p) => convertOne(p, ctx));
}
