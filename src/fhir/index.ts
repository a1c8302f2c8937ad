export { convertMessage, eventOf, HANDLED_EVENTS, MERGE_EVENTS, type ConvertContext } from './convert.ts';
export { convertInput, convertOne } from './input.ts';
export { informationOutcome, rejectionOutcome } from './outcome.ts';
export { facilityKey, findMrn, readFieldRef, resolveFacility } from './facility.ts';
export type { ConvertResult, ConvertedMessage } from './types.ts';
