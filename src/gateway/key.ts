import type { ParsedMessage } from '../hl7/types.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';
import { stableId } from '../util/hash.ts';

/** The partition key of a message: all of one patient's messages from one sender land in one partition. */
export type KeyFunction = (msg: ParsedMessage, profile: SenderProfile) => string;

/**
 * Stand-in until the shared key function (src/kafka/key.ts kafkaKey) is wired: a hash (no PHI) of the
 * sender profile and the patient's first PID-3 identifier with its assigning authority.
 */
export const fallbackKey: KeyFunction = (msg, profile) => {
  const pid = msg.segment('PID');
  const id = pid?.get(3, 1);
  if (!id) return stableId('adt', profile.id, 'no-pid', msg.header.controlId);
  return stableId('adt', profile.id, pid?.get(3, 4) ?? '', id);
};
