import type { ParsedMessage } from '../hl7/types.ts';

/** C0 controls other than TAB, LF and CR: FHIR strings may not hold them (R4 string regex `[ \r\n\t\S]+`). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ALL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g;
/** What a removed control character becomes: visible, never an empty string. */
export const REPLACEMENT = '\uFFFD';

/**
 * Could a field value of this message decode to a control character? Only when the text holds one, or an escape
 * that decodes to arbitrary characters (\Xhh\, \Cxxyy\, \Mxxyyzz\, \Zxx\). One linear scan; most messages stop here.
 */
export function mayHoldControls(msg: ParsedMessage): boolean {
  if (CONTROL.test(msg.text)) return true;
  const esc = msg.header.encodingCharacters[2];
  if (!esc) return false;
  for (let i = msg.text.indexOf(esc); i >= 0; i = msg.text.indexOf(esc, i + 1)) {
    const c = msg.text.charCodeAt(i + 1) | 0x20; // lower-case letter
    if (c === 0x78 || c === 0x63 || c === 0x6d || c === 0x7a) return true; // x c m z
  }
  return false;
}

/** Replaces control characters in every string of a JSON-like value, in place; returns how many strings changed. */
export function scrubControls(value: unknown): number {
  let changed = 0;
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!CONTROL.test(v)) return v;
      changed++;
      return v.replace(CONTROL_ALL, REPLACEMENT);
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = visit(v[i]);
      return v;
    }
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = visit(o[k]);
    }
    return v;
  };
  visit(value);
  return changed;
}

/** Segment and field (e.g. "PID-5") of each field whose raw text holds a control character or a hex escape. */
export function controlLocations(msg: ParsedMessage): string[] {
  const out = new Set<string>();
  const fs = msg.header.fieldSeparator || '|';
  const esc = msg.header.encodingCharacters[2];
  const hex = esc ? new RegExp(`\\${esc}[XxCcMmZz]`) : undefined;
  for (const line of msg.text.split('\r')) {
    if (!CONTROL.test(line) && !(hex && hex.test(line))) continue;
    const name = line.slice(0, 3);
    const fields = line.split(fs);
    for (let f = 1; f < fields.length; f++) {
      const v = fields[f]!;
      if (CONTROL.test(v) || (hex && hex.test(v))) out.add(`${name}-${name === 'MSH' ? f + 1 : f}`);
    }
  }
  return [...out];
}

/**
 * Whitespace a FHIR `code` may not hold (R4 code regex `[^\s]+( [^\s]+)*`): leading, trailing or doubled spaces,
 * or any other white space (tab, newline, no-break space, BOM). Could a field of this message hold it? One linear
 * scan: a white space character other than the space, two spaces, a space beside a delimiter, or a formatting
 * escape (the hex and character-set escapes are mayHoldControls').
 */
const ODD_SPACE = /[\t\n\v\f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]| {2}/;
export function mayHoldOddSpaces(msg: ParsedMessage): boolean {
  if (ODD_SPACE.test(msg.text)) return true;
  const esc = msg.header.encodingCharacters[2];
  // formatting escapes (\.br\ is a line break, \.sp\ lines), by the declared escape character or the usual one
  if (msg.text.includes('\\.') || (esc && msg.text.includes(`${esc}.`))) return true;
  const delims = `${msg.header.fieldSeparator || '|'}${msg.header.encodingCharacters}\r`;
  for (let i = msg.text.indexOf(' '); i >= 0; i = msg.text.indexOf(' ', i + 1))
    if (delims.includes(msg.text[i - 1] ?? '\r') || delims.includes(msg.text[i + 1] ?? '\r')) return true;
  return false;
}

const CODE_KEYS = new Set(['code', 'valueCode']);
/**
 * Every `code` (Coding.code, meta.tag.code, Quantity.code) and `valueCode` string in a JSON-like value, in place:
 * white space runs become one space, none at either end; a code left empty is removed. Returns how many changed.
 */
export function normaliseCodes(value: unknown): number {
  let changed = 0;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) visit(x);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        const x = o[k];
        if (typeof x === 'string') {
          if (!CODE_KEYS.has(k)) continue;
          const clean = x.replace(/\s+/g, ' ').trim();
          if (clean === x) continue;
          changed++;
          if (clean) o[k] = clean;
          else delete o[k];
        } else if (x && typeof x === 'object') visit(x);
      }
    }
  };
  visit(value);
  return changed;
}
