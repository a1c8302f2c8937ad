import type { ParsedMessage } from '../hl7/types.ts';
import { kafkaKey } from '../kafka/key.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';

/** The partition key of a message: all of one patient's messages from one facility land in one partition. */
export type KeyFunction = (msg: ParsedMessage, profile: SenderProfile) => string;

/** The shared key function (src/kafka/key.ts), the same one the engine and replay use. */
export const gatewayKey: KeyFunction = kafkaKey;
