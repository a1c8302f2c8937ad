/**
 * The parsed-message contract between the HL7 v2 adapter (src/hl7) and everything downstream.
 * Values returned by the accessors are already unescaped (\F\ \S\ \T\ \R\ \E\ \Xhh\ \.br\).
 * Field, component and sub-component numbers are 1-based, repetitions 0-based, as in HL7 notation.
 * For MSH, field 1 is the field separator and field 2 the encoding characters (MSH-3 is get(3)).
 */
export interface SegmentView {
  readonly name: string;
  /** Index of this segment within the message (0 = MSH). */
  readonly index: number;
  /** Unescaped value, or undefined when empty or absent. HL7 null ("") is returned as '""'. */
  get(field: number, comp?: number, sub?: number, rep?: number): string | undefined;
  /** Number of repetitions the field has (0 when empty or absent). */
  repCount(field: number): number;
  /** Number of fields present (highest field number with content). */
  fieldCount(): number;
}

export interface MessageHeader {
  fieldSeparator: string;
  encodingCharacters: string;
  sendingApplication?: string; // MSH-3.1
  sendingFacility?: string; // MSH-4.1
  receivingApplication?: string; // MSH-5.1
  receivingFacility?: string; // MSH-6.1
  /** MSH-7 as sent (raw HL7 TS). */
  dateTime?: string;
  messageCode?: string; // MSH-9.1
  triggerEvent?: string; // MSH-9.2
  structure?: string; // MSH-9.3
  controlId?: string; // MSH-10
  processingId?: string; // MSH-11.1
  version?: string; // MSH-12.1
  acceptAckType?: string; // MSH-15
  applicationAckType?: string; // MSH-16
  charset?: string; // MSH-18 (first repetition)
}

export interface ParsedMessage {
  /** The message text, decoded, with CR segment separators and framing/BOM removed. */
  readonly text: string;
  readonly header: MessageHeader;
  readonly segments: readonly SegmentView[];
  /** First segment with that name (after `after`, a segment index, when given). */
  segment(name: string, after?: number): SegmentView | undefined;
  /** Every segment with that name, in order. */
  all(name: string): SegmentView[];
}

/** Where a problem sits, e.g. {segment: 'PV1', field: 19} → "PV1-19". Never carries a field's value. */
export interface Hl7Location {
  segment: string;
  field?: number;
  component?: number;
  /** 1-based occurrence of the segment when there are several. */
  occurrence?: number;
}

export type Hl7ErrorCode =
  | 'TC_HL7_EMPTY'
  | 'TC_HL7_NO_MSH'
  | 'TC_HL7_BAD_ENCODING_CHARS'
  | 'TC_HL7_NO_MESSAGE_TYPE'
  | 'TC_HL7_MISSING_SEGMENT'
  | 'TC_HL7_MISSING_FIELD'
  | 'TC_HL7_BAD_VALUE'
  | 'TC_HL7_CHARSET'
  | 'TC_HL7_PARSE'
  /** The message breaks a limit of its sender profile (bytes, segments, repetitions, field length). */
  | 'TC_HL7_LIMIT';

export interface Hl7Problem {
  code: Hl7ErrorCode;
  /** Human text naming segment and field, never a value (no PHI). */
  reason: string;
  location?: Hl7Location;
  controlId?: string;
}

export type ParseResult = { ok: true; message: ParsedMessage } | { ok: false; problem: Hl7Problem };

/** A parsed HL7 timestamp. `fhir` is a FHIR date/dateTime with an explicit offset whenever it has a time. */
export interface Hl7Time {
  raw: string;
  /** FHIR date ("2024-05-01") or dateTime ("2024-05-01T08:30:00-05:00"); precision of the source is kept. */
  fhir: string;
  /** Epoch milliseconds of the instant (start of the period for coarse precisions). */
  epochMs: number;
  precision: 'year' | 'month' | 'day' | 'minute' | 'second' | 'fraction' | 'hour';
  /** True when the source carried its own offset; false when the sender's time zone was assumed. */
  hadOffset: boolean;
}
