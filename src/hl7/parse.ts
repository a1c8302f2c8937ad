import { DEFAULT_ENCODING, hl7Unescape, type EncodingChars } from './escape.ts';
import type { Hl7Problem, MessageHeader, ParsedMessage, ParseResult, SegmentView } from './types.ts';

export type Charset = 'ASCII' | '8859/1' | 'UNICODE UTF-8';

const VT = 0x0b;
// MLLP start/end bytes and NULs some senders put between messages.
// eslint-disable-next-line no-control-regex
const MLLP_BYTES = /[\u000b\u001c\u0000]/g;
const FS = 0x1c;
/** Segments that start (MSH) or end (batch and file headers and trailers) a message in splitMessages. */
const SPLIT_TAGS = ['MSH', 'BHS', 'BTS', 'FHS', 'FTS'];

/** MSH-18 values (HL7 table 0211) → the decoder we use. Unknown or empty → the sender's default. */
function decoderFor(charset: string | undefined): 'utf8' | 'latin1' | undefined {
  if (!charset) return undefined;
  const c = charset.trim().toUpperCase();
  if (c === 'UNICODE UTF-8' || c === 'UTF-8' || c === 'UTF8' || c === 'UNICODE') return 'utf8';
  if (c === '8859/1' || c === 'ISO-8859-1' || c === 'ISO8859-1' || c === 'LATIN1' || c === 'ASCII' || c === '8859/15')
    return 'latin1';
  return undefined;
}

/** Index of the first CR or LF at or after from (the text's length when there is none); no regex. */
export function lineEnd(text: string, from: number): number {
  const cr = text.indexOf('\r', from);
  const lf = text.indexOf('\n', from);
  return cr < 0 ? (lf < 0 ? text.length : lf) : lf < 0 || cr < lf ? cr : lf;
}

/** Reads MSH-18 from raw bytes (the header is ASCII in every charset we accept) before decoding. */
export function peekCharset(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, Math.min(bytes.length, 2048)).toString('latin1');
  const start = head.indexOf('MSH');
  if (start < 0) return undefined;
  const fieldSep = head[start + 3];
  if (!fieldSep) return undefined;
  const line = head.slice(start, lineEnd(head, start));
  const comp = line[4] ?? '^';
  const rep = line[5] ?? '~';
  const f18 = line.split(fieldSep)[17];
  return f18?.split(rep)[0]?.split(comp)[0] || undefined;
}

export function decodeBytes(bytes: Buffer, defaultCharset: Charset = 'UNICODE UTF-8'): string {
  const declared = decoderFor(peekCharset(bytes));
  const dec = declared ?? decoderFor(defaultCharset) ?? 'utf8';
  if (dec === 'utf8') {
    const text = bytes.toString('utf8');
    // Bytes that are not UTF-8 although declared so: an 8859/1 feed mislabelled. Keep the accents.
    return !declared && text.includes('\uFFFD') ? bytes.toString('latin1') : text;
  }
  return bytes.toString('latin1');
}

/** The n-th (0-based) piece of s split at sep, as s.split(sep)[n] gives it, without building the array. */
function nth(s: string, sep: string, n: number): string | undefined {
  if (n < 0) return undefined;
  let start = 0;
  for (let i = 0; i < n; i++) {
    const at = s.indexOf(sep, start);
    if (at < 0) return undefined;
    start = at + 1;
  }
  const end = s.indexOf(sep, start);
  return end < 0 ? (start === 0 ? s : s.slice(start)) : s.slice(start, end);
}

class Segment implements SegmentView {
  constructor(
    readonly name: string,
    readonly index: number,
    /** The segment's raw line; split into fields on first access (most segments of a big message never are). */
    private readonly line: string,
    private readonly enc: EncodingChars,
    private readonly isMsh: boolean,
  ) {}

  /** fields[n] = raw (escaped) text of field n; fields[0] = segment name. For MSH, fields[1] is MSH-1. */
  private splitFields?: string[];

  private get fields(): string[] {
    if (this.splitFields) return this.splitFields;
    const parts = this.line.split(this.enc.field);
    this.splitFields = this.isMsh ? ['MSH', this.enc.field, parts[1] ?? '', ...parts.slice(2)] : parts;
    return this.splitFields;
  }

  private rawField(field: number): string | undefined {
    return this.fields[field];
  }

  get(field: number, comp = 1, sub = 1, rep = 0): string | undefined {
    const raw = this.rawField(field);
    if (raw === undefined || raw === '') return undefined;
    if (this.isMsh && field <= 2) return comp === 1 && sub === 1 && rep === 0 ? raw : undefined;
    if (raw === '""') return comp === 1 && sub === 1 && rep === 0 ? '""' : undefined;
    // Slices instead of split arrays: most reads take one component of one repetition, and a field is read a few
    // times at most, so building the whole repetition/component/sub-component structure costs more than it saves.
    const r = rep === 0 ? nth(raw, this.enc.repetition, 0) : this.repetitions(field, raw)[rep];
    const c = r === undefined ? undefined : nth(r, this.enc.component, comp - 1);
    const s = c === undefined ? undefined : nth(c, this.enc.subcomponent, sub - 1);
    if (s === undefined || s === '') return undefined;
    if (!s.includes(this.enc.escape)) return s;
    const v = hl7Unescape(s, this.enc);
    return v === '' ? undefined : v;
  }

  /** Repetitions of a field, split once: a loop over 10,000 repetitions must stay linear. Made on first use: most
   * segments of a big message are never read, and an array each is what 200,000 OBX would allocate. */
  private repSplit?: (string[] | undefined)[];

  private repetitions(field: number, raw: string): string[] {
    return ((this.repSplit ??= [])[field] ??= raw.split(this.enc.repetition));
  }

  repCount(field: number): number {
    const raw = this.rawField(field);
    if (raw === undefined || raw === '') return 0;
    if (this.isMsh && field <= 2) return 1;
    // The split repetitions, kept: callers loop `for (r = 0; r < repCount(f); r++)`, and a scan per call is quadratic.
    return this.repetitions(field, raw).length;
  }

  fieldCount(): number {
    for (let i = this.fields.length - 1; i > 0; i--) if (this.fields[i]) return i;
    return 0;
  }
}

class Message implements ParsedMessage {
  private byName = new Map<string, Segment[]>();

  constructor(
    readonly text: string,
    readonly header: MessageHeader,
    readonly segments: readonly Segment[],
  ) {
    for (const s of segments) {
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
    }
  }

  segment(name: string, after?: number): SegmentView | undefined {
    const list = this.byName.get(name);
    if (!list) return undefined;
    if (after === undefined) return list[0];
    // binary search: a converter walking 50,000 NK1s one after another stays linear
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.index > after) hi = mid;
      else lo = mid + 1;
    }
    return list[lo];
  }

  all(name: string): SegmentView[] {
    return [...(this.byName.get(name) ?? [])];
  }
}

function problem(
  code: Hl7Problem['code'],
  reason: string,
  location?: Hl7Problem['location'],
  controlId?: string,
): ParseResult {
  return {
    ok: false,
    problem: { code, reason, ...(location ? { location } : {}), ...(controlId ? { controlId } : {}) },
  };
}

/** Encoding characters from MSH-2: 4 or 5 distinct characters; a doubled one (seen in the wild) is folded. */
function readEncoding(fieldSep: string, msh2: string): EncodingChars | undefined {
  const unique: string[] = [];
  for (const ch of msh2) if (!unique.includes(ch) && ch !== fieldSep) unique.push(ch);
  if (unique.length < 4 || unique.some((c) => /[A-Za-z0-9\s]/.test(c))) return undefined;
  const [component, repetition, escape, subcomponent, truncation] = unique as [string, string, string, string, string?];
  return { field: fieldSep, component, repetition, escape, subcomponent, ...(truncation ? { truncation } : {}) };
}

/** JavaScript's \s plus the BOM (which \s already holds): the characters a line is trimmed of. */
function isSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * Trims both ends by scanning from each end once. A regex `\s+$` retries from every position of a whitespace run
 * that is not at the end of the line, which is quadratic in the run's length (100 KB of spaces: a minute).
 */
export function trimLine(line: string): string {
  let start = 0;
  let end = line.length;
  while (start < end && isSpace(line.charCodeAt(start))) start++;
  while (end > start && isSpace(line.charCodeAt(end - 1))) end--;
  return start === 0 && end === line.length ? line : line.slice(start, end);
}

/**
 * Parses one HL7 v2 message. Accepts CR, LF or CRLF separators, a UTF-8 BOM, MLLP framing bytes, stray
 * whitespace and any encoding characters declared in MSH-1/MSH-2. Never throws: an unusable message gives
 * a problem naming segment and field, never a value.
 */
export interface ParseOptions {
  defaultCharset?: Charset;
  /** Keep only these segments (MSH always): the MLLP gateway reads MSH, EVN, PID, PV1, MRG, never the rest. */
  only?: ReadonlySet<string>;
}

export function parseMessage(input: Buffer | string, options: ParseOptions = {}): ParseResult {
  try {
    return parseUnsafe(input, options);
  } catch {
    return problem('TC_HL7_PARSE', 'message could not be parsed');
  }
}

function parseUnsafe(input: Buffer | string, options: ParseOptions): ParseResult {
  let text = typeof input === 'string' ? input : decodeBytes(input, options.defaultCharset);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Most messages use CR alone: a plain split then gives what the regex would.
  const lines = text.includes('\n') ? text.split(/\r\n|\r|\n/) : text.split('\r');
  const kept: string[] = [];
  let started = false;
  // Framing bytes are rare inside a message: look for them once, not with a regex per line.
  const framed = text.includes('\u000b') || text.includes('\u001c') || text.includes('\u0000');
  for (let line of lines) {
    line = trimLine(framed ? line.replace(MLLP_BYTES, '') : line);
    if (!started) {
      const at = line.indexOf('MSH');
      if (at < 0) continue;
      line = line.slice(at);
      started = true;
    }
    if (line) kept.push(line);
  }
  if (kept.length === 0) {
    return text.trim()
      ? problem('TC_HL7_NO_MSH', 'no MSH segment found', { segment: 'MSH' })
      : problem('TC_HL7_EMPTY', 'empty message', { segment: 'MSH' });
  }
  const msh = kept[0]!;
  const fieldSep = msh[3];
  if (!fieldSep || /[A-Za-z0-9\s]/.test(fieldSep))
    return problem('TC_HL7_BAD_ENCODING_CHARS', 'MSH-1 field separator missing or invalid', {
      segment: 'MSH',
      field: 1,
    });
  const mshParts = msh.split(fieldSep);
  const enc = readEncoding(fieldSep, mshParts[1] ?? '');
  if (!enc)
    return problem('TC_HL7_BAD_ENCODING_CHARS', 'MSH-2 encoding characters missing or invalid', {
      segment: 'MSH',
      field: 2,
    });

  const segments: Segment[] = [];
  const used: string[] = [];
  for (const line of kept) {
    const name = line.slice(0, 3).toUpperCase();
    if (!isSegmentName(name) || (line.length > 3 && line[3] !== fieldSep)) continue; // not a segment: stray text
    if (options.only && name !== 'MSH' && !options.only.has(name)) continue;
    const index = segments.length;
    if (name === 'MSH') {
      if (index > 0) break; // a second message: splitMessages separates those
      segments.push(new Segment('MSH', 0, line, enc, true));
      used.push(line);
      continue;
    } else {
      segments.push(new Segment(name, index, line, enc, false));
    }
    used.push(line);
  }
  const h = segments[0]!;
  const header: MessageHeader = {
    fieldSeparator: fieldSep,
    encodingCharacters: mshParts[1] ?? '',
    ...defined({
      sendingApplication: h.get(3),
      sendingFacility: h.get(4),
      receivingApplication: h.get(5),
      receivingFacility: h.get(6),
      dateTime: h.get(7),
      messageCode: h.get(9, 1)?.toUpperCase(),
      triggerEvent: h.get(9, 2)?.toUpperCase(),
      structure: h.get(9, 3),
      controlId: h.get(10),
      processingId: h.get(11),
      version: h.get(12),
      acceptAckType: h.get(15),
      applicationAckType: h.get(16),
      charset: h.get(18),
    }),
  };
  if (!header.messageCode)
    return problem(
      'TC_HL7_NO_MESSAGE_TYPE',
      'MSH-9 message type missing',
      { segment: 'MSH', field: 9 },
      header.controlId,
    );
  if (!header.triggerEvent && header.messageCode === 'ADT') {
    const evn = segments
      .find((s) => s.name === 'EVN')
      ?.get(1)
      ?.toUpperCase();
    if (!evn)
      return problem(
        'TC_HL7_NO_MESSAGE_TYPE',
        'MSH-9.2 trigger event missing (and no EVN-1)',
        { segment: 'MSH', field: 9, component: 2 },
        header.controlId,
      );
    header.triggerEvent = evn;
  }
  return { ok: true, message: new Message(used.join('\r'), header, segments) };
}

/** /^[A-Z][A-Z0-9]{2}$/ without a regex: this runs for every line of every message. */
function isSegmentName(name: string): boolean {
  if (name.length !== 3) return false;
  const a = name.charCodeAt(0);
  const b = name.charCodeAt(1);
  const c = name.charCodeAt(2);
  const alnum = (x: number) => (x >= 65 && x <= 90) || (x >= 48 && x <= 57);
  return a >= 65 && a <= 90 && alnum(b) && alnum(c);
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

const VISIT_EVENTS = new Set(['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A11', 'A12', 'A13']);
export const MERGE_EVENTS = new Set(['A40', 'A34', 'A39', 'A47']);

/** For the events the engine handles: the segments they need (PID and PV1, or PID and MRG for merges). */
export function checkStructure(msg: ParsedMessage): Hl7Problem | undefined {
  const event = msg.header.triggerEvent ?? msg.segment('EVN')?.get(1)?.toUpperCase();
  if (msg.header.messageCode !== 'ADT' || !event) return undefined;
  const need = VISIT_EVENTS.has(event) ? ['PID', 'PV1'] : MERGE_EVENTS.has(event) ? ['PID', 'MRG'] : [];
  for (const name of need) {
    if (!msg.segment(name)) {
      return {
        code: 'TC_HL7_MISSING_SEGMENT',
        reason: `${name} segment missing: required for ADT^${event}`,
        location: { segment: name },
        ...(msg.header.controlId ? { controlId: msg.header.controlId } : {}),
      };
    }
  }
  return undefined;
}

/**
 * Splits a file or stream into messages: FHS/BHS batches, one MSH after another, MLLP frames, blank lines
 * or garbage between. Works on bytes so each message is decoded with its own MSH-18.
 */
export function splitMessages(input: Buffer | string): Buffer[] {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const starts: number[] = [];
  const ends: number[] = [];
  const n = buf.length;
  // Only a segment tag at a line start or an FS byte can start or end a message: find those with the native
  // Buffer.indexOf and look at each, instead of testing every byte in JS.
  const events: number[] = [];
  for (const tag of SPLIT_TAGS) for (let at = buf.indexOf(tag); at >= 0; at = buf.indexOf(tag, at + 1)) events.push(at);
  for (let at = buf.indexOf(FS); at >= 0; at = buf.indexOf(FS, at + 1)) events.push(at);
  if (events.length > 1) events.sort((x, y) => x - y);
  for (const i of events) {
    const atLineStart =
      buf[i] !== FS &&
      (i === 0 ||
        buf[i - 1] === 0x0d ||
        buf[i - 1] === 0x0a ||
        buf[i - 1] === VT ||
        buf[i - 1] === FS ||
        (i >= 3 && buf[i - 1] === 0xbf && buf[i - 2] === 0xbb && buf[i - 3] === 0xef));
    if (atLineStart && i + 3 < n) {
      const tag = buf.toString('latin1', i, i + 3);
      if (tag === 'MSH' && !/[A-Za-z0-9\s]/.test(String.fromCharCode(buf[i + 3]!))) {
        if (starts.length > ends.length) ends.push(i);
        starts.push(i);
      } else if (tag !== 'MSH' && starts.length > ends.length) {
        ends.push(i);
      }
    }
    if (buf[i] === FS && starts.length > ends.length) ends.push(i);
  }
  if (starts.length > ends.length) ends.push(n);
  if (starts.length === 0) return buf.toString('latin1').trim() ? [buf] : [];
  return starts.map((s, k) => buf.subarray(s, ends[k]));
}

export { DEFAULT_ENCODING };
