export {
  parseMessage,
  splitMessages,
  checkStructure,
  decodeBytes,
  peekCharset,
  lineEnd,
  MERGE_EVENTS,
  type Charset,
} from './parse.ts';
export { parseHl7Time, zoneOffsetMinutes, localToEpoch, formatOffset } from './time.ts';
export { hl7Escape, hl7Unescape, DEFAULT_ENCODING, type EncodingChars } from './escape.ts';
export type * from './types.ts';
export { checkLimits, DEFAULT_LIMITS, type MessageLimits, type LimitProblem, type LimitName } from './limits.ts';
