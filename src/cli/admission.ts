import type { ConvertContext } from '../fhir/convert.ts';
import { convertOne } from '../fhir/input.ts';
import { rejectionOutcome } from '../fhir/outcome.ts';
import type { ConvertResult } from '../fhir/types.ts';
import { splitMessages } from '../hl7/index.ts';

interface Refusal {
  code: string;
  reason: string;
  where: string;
  controlId?: string;
}

/**
 * What the MLLP gateway refuses before anything is stored (src/gateway/handler.ts): a sender without a profile
 * (MSH-3 + MSH-4), a message type other than ADT (MSH-9). `convert` and `process` refuse the same, so a file that
 * passes here passes at the gateway; `--accept-any` converts what the gateway would refuse (for analysts).
 */
export function gatewayRefusal(message: Buffer | string, ctx: ConvertContext): Refusal | undefined {
  const text = typeof message === 'string' ? message.slice(0, 1024) : message.subarray(0, 1024).toString('latin1');
  const at = text.indexOf('MSH');
  if (at < 0 || text.length < at + 8) return undefined; // the parser names what is missing
  const fs = text[at + 3]!;
  const cs = text[at + 4] ?? '^';
  const fields = text
    .slice(at)
    .split(/[\r\n]/, 1)[0]!
    .split(fs);
  // fields[0] is "MSH", fields[1] the encoding characters: MSH-n is fields[n - 1].
  const first = (n: number) => fields[n - 1]?.split(cs, 1)[0]?.trim() || undefined;
  const controlId = first(10);
  const id = controlId ? { controlId } : {};
  const { known } = ctx.profiles.resolve(first(3), first(4));
  if (!known)
    return {
      code: 'TC_UNKNOWN_SENDER',
      reason:
        'sender (MSH-3 + MSH-4) has no profile in the sender folder: the gateway answers AR (--accept-any converts it)',
      where: 'MSH-4',
      ...id,
    };
  const type = first(9)?.toUpperCase();
  if (type !== undefined && type !== 'ADT')
    return {
      code: 'TC_MESSAGE_TYPE',
      reason: 'message type (MSH-9) is not ADT: the gateway answers AR (--accept-any converts it)',
      where: 'MSH-9',
      ...id,
    };
  return undefined;
}

/** convertInput with the gateway's admission first (unless acceptAny): each message converted or refused. */
export function convertAdmitted(input: Buffer | string, ctx: ConvertContext, acceptAny: boolean): ConvertResult[] {
  let parts: (Buffer | string)[];
  try {
    parts = splitMessages(input);
  } catch {
    parts = [input];
  }
  if (parts.length === 0) parts = [input]; // convertOne names what is missing
  return parts.map((p) => {
    const refused = acceptAny ? undefined : gatewayRefusal(p, ctx);
    if (!refused) return convertOne(p, ctx);
    const id = refused.controlId ? `message ${refused.controlId}` : 'message (MSH-10 unknown)';
    return {
      status: 'rejected',
      code: refused.code,
      outcome: rejectionOutcome(refused.code, `${id}: ${refused.reason}`, refused.where),
      ...(refused.controlId ? { controlId: refused.controlId } : {}),
    };
  });
}
