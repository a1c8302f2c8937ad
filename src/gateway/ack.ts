import { hl7Escape, type EncodingChars } from '../hl7/index.ts';
import type { Hl7Location } from '../hl7/types.ts';

/**
 * Accept acknowledgements (HL7 v2 §2.9). Pure: the caller gives the clock reading and the ACK's control id.
 *
 * Byte-exact echo: the inbound MSH fields are read as latin1 "binary" text and the ACK is encoded back as
 * latin1, so sending/receiving application and facility return exactly as the sender wrote them, whatever
 * ASCII-compatible charset (ASCII, 8859/1, UTF-8) the message uses.
 */

/** What the gateway decided about a message; the code depends on the acknowledgment mode. */
export type AckOutcome = 'accept' | 'error' | 'reject';
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** HL7 table 0357 (message error condition codes) used by the gateway. */
export const ERR_CODES = {
  segmentSequence: '100',
  requiredFieldMissing: '101',
  dataTypeError: '102',
  tableValueNotFound: '103',
  unsupportedMessageType: '200',
  unsupportedEventCode: '201',
  unsupportedProcessingId: '202',
  unsupportedVersionId: '203',
  unknownKeyIdentifier: '204',
  applicationInternalError: '207',
} as const;
export type ErrCode = (typeof ERR_CODES)[keyof typeof ERR_CODES];

const ERR_TEXT: Record<ErrCode, string> = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '204': 'Unknown key identifier',
  '207': 'Application internal error',
};

/** The inbound MSH as sent: fields[i] is MSH-i (fields[1] the field separator, fields[2] the encoding characters). */
export interface RawMsh {
  fields: string[];
  enc: EncodingChars;
}

/** Reads the first MSH segment of a message (or of the head of an oversize one); undefined when there is none. */
export function readRawMsh(bytes: Buffer): RawMsh | undefined {
  const text = bytes.toString('latin1');
  const at = text.search(/MSH[^A-Za-z0-9\s]/);
  if (at < 0) return undefined;
  const sep = text[at + 3]!;
  const endAt = text.slice(at).search(/[\r\n]/);
  const line = endAt < 0 ? text.slice(at) : text.slice(at, at + endAt);
  const parts = line.split(sep);
  const encChars = parts[1] ?? '';
  if (encChars.length < 4 || encChars.includes(sep)) return undefined;
  const fields = ['MSH', sep, encChars, ...parts.slice(2)];
  const enc: EncodingChars = {
    field: sep,
    component: encChars[0]!,
    repetition: encChars[1]!,
    escape: encChars[2]!,
    subcomponent: encChars[3]!,
  };
  return { fields, enc };
}

/** First component of a raw field (MSH-12 "2.5.1^USA" → "2.5.1"). */
function firstComponent(raw: RawMsh | undefined, field: number): string {
  if (!raw) return '';
  return (raw.fields[field] ?? '').split(raw.enc.repetition)[0]!.split(raw.enc.component)[0]!;
}

/** Enhanced acknowledgment mode when MSH-15 (accept acknowledgment type) is valued. */
export function isEnhancedMode(raw: RawMsh | undefined): boolean {
  return firstComponent(raw, 15) !== '';
}

/**
 * Whether an accept acknowledgment is sent for this outcome. Original mode: always. Enhanced mode per
 * MSH-15 (table 0155): AL always, NE never, ER only on error or reject, SU only on success.
 */
export function acceptAckWanted(raw: RawMsh | undefined, outcome: AckOutcome): boolean {
  switch (firstComponent(raw, 15).toUpperCase()) {
    case 'NE':
      return false;
    case 'ER':
      return outcome !== 'accept';
    case 'SU':
      return outcome === 'accept';
    default:
      return true;
  }
}

export function ackCode(raw: RawMsh | undefined, outcome: AckOutcome): AckCode {
  const enhanced = isEnhancedMode(raw);
  if (outcome === 'accept') return enhanced ? 'CA' : 'AA';
  if (outcome === 'error') return enhanced ? 'CE' : 'AE';
  return enhanced ? 'CR' : 'AR';
}

/** Compares HL7 versions ("2.3" < "2.3.1" < "2.5"); an unknown version counts as 2.5.1. */
export function versionAtLeast(version: string, min: string): boolean {
  const parse = (v: string): number[] => v.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const a = /^\d+(\.\d+)*$/.test(version) ? parse(version) : parse('2.5.1');
  const b = parse(min);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

export interface AckError {
  code: ErrCode;
  location?: Hl7Location;
  /** Severity (ERR-4, v2.5+): E error, W warning, I information. */
  severity?: 'E' | 'W' | 'I';
}

export interface AckRequest {
  inbound: RawMsh | undefined;
  outcome: AckOutcome;
  /** Reason for the sender's interface analyst (MSA-3, and ERR-8 in v2.5+). Never carries a value (no PHI). */
  text?: string;
  error?: AckError;
  /** MSH-10 of the ACK itself. */
  controlId: string;
  /** MSH-7 of the ACK, an HL7 TS (YYYYMMDDHHMMSS±ZZZZ). */
  timestamp: string;
}

/** The ACK's segments, CR-separated, with a trailing CR, as a latin1 binary string (see the module note). */
export function buildAck(req: AckRequest): string {
  const raw = req.inbound;
  const enc: EncodingChars = raw?.enc ?? {
    field: '|',
    component: '^',
    repetition: '~',
    escape: '\\',
    subcomponent: '&',
  };
  const f = enc.field;
  const c = enc.component;
  const field = (n: number): string => raw?.fields[n] ?? '';
  const version = firstComponent(raw, 12);
  const event = firstComponent(raw, 9) ? (field(9).split(c)[1] ?? '') : '';
  const messageType = !event
    ? 'ACK'
    : versionAtLeast(version || '2.5.1', '2.3.1')
      ? `ACK${c}${event}${c}ACK`
      : `ACK${c}${event}`;
  const enhanced = isEnhancedMode(raw);
  const code = ackCode(raw, req.outcome);
  const text = req.text ? hl7Escape(req.text, enc) : '';

  const msh = [
    'MSH',
    raw ? field(2) : `${enc.component}${enc.repetition}${enc.escape}${enc.subcomponent}`,
    field(5), // MSH-3 ← inbound MSH-5
    field(6), // MSH-4 ← inbound MSH-6
    field(3), // MSH-5 ← inbound MSH-3
    field(4), // MSH-6 ← inbound MSH-4
    req.timestamp,
    '',
    messageType,
    hl7Escape(req.controlId, enc),
    field(11) || 'P',
    field(12) || '2.5.1',
    '',
    '',
    enhanced ? 'NE' : '', // MSH-15: an ACK is never acknowledged
    enhanced ? 'NE' : '', // MSH-16
    '',
    field(18),
  ];
  while (msh.length > 12 && msh[msh.length - 1] === '') msh.pop();
  // MSH-1 is the separator itself: join from MSH-2 on.
  const segments = [
    `MSH${f}${msh.slice(1).join(f)}`,
    ['MSA', code, field(10), text].join(f).replace(new RegExp(`\\${f}+$`), ''),
  ];
  if (req.error) segments.push(errSegment(req.error, version, enc, text));
  return segments.join('\r') + '\r';
}

function errSegment(err: AckError, version: string, enc: EncodingChars, text: string): string {
  const { field: f, component: c, subcomponent: s } = enc;
  const loc = err.location;
  const where = loc ? [loc.segment, String(loc.occurrence ?? 1), loc.field === undefined ? '' : String(loc.field)] : [];
  const codeText = ERR_TEXT[err.code];
  if (!versionAtLeast(version || '2.5.1', '2.5')) {
    // v2.3 / v2.4: ERR-1 ELD = segment ID ^ sequence ^ field position ^ code (CE, as subcomponents)
    const eld = [...(where.length ? where : ['', '', '']), [err.code, codeText, 'HL70357'].join(s)].join(c);
    return `ERR${f}${eld}`;
  }
  // v2.5+: ERR-2 location (ERL), ERR-3 HL7 error code (CWE, table 0357), ERR-4 severity, ERR-8 user message
  const erl = loc
    ? [...where, '', loc.component === undefined ? '' : String(loc.component)]
        .join(c)
        .replace(new RegExp(`\\${c}+$`), '')
    : '';
  const parts = ['ERR', '', erl, [err.code, codeText, 'HL70357'].join(c), err.severity ?? 'E', '', '', '', text];
  while (parts[parts.length - 1] === '') parts.pop();
  return parts.join(f);
}

/** HL7 TS with seconds and offset, in UTC (YYYYMMDDHHMMSS+0000). */
export function hl7Timestamp(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`;
}
