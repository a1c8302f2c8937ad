/** HL7 v2 escape sequences (v2.5 §2.7), for the message's own encoding characters. */
export interface EncodingChars {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  truncation?: string;
}

export const DEFAULT_ENCODING: EncodingChars = {
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
};

/**
 * Unescapes \F\ \S\ \T\ \R\ \E\ \P\ \Xhh…\ and the formatting escapes: \.br\ becomes a line break;
 * \H\ \N\ (highlighting) and other formatting/charset escapes (\.sp\ \Cxxyy\ \Mxxyyzz\ \Zxx\) are dropped.
 */
export function hl7Unescape(value: string, enc: EncodingChars = DEFAULT_ENCODING): string {
  const esc = enc.escape;
  if (!esc || !value.includes(esc)) return value;
  let out = '';
  // Bytes of consecutive \Xhh…\ sequences, decoded together so a multi-byte UTF-8 character survives.
  let bytes: Buffer[] = [];
  const flush = () => {
    if (bytes.length) {
      out += decodeHexBytes(bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes));
      bytes = [];
    }
  };
  let i = 0;
  while (i < value.length) {
    if (value[i] !== esc) {
      // a run of plain text up to the next escape, copied at once
      flush();
      const next = value.indexOf(esc, i);
      out += next < 0 ? value.slice(i) : value.slice(i, next);
      if (next < 0) break;
      i = next;
      continue;
    }
    const end = value.indexOf(esc, i + 1);
    if (end < 0) {
      flush();
      out += value.slice(i); // unterminated: keep as sent
      break;
    }
    const seq = value.slice(i + 1, end);
    if (HEX.test(seq)) {
      bytes.push(Buffer.from(seq.slice(1), 'hex'));
    } else {
      flush();
      out += expand(seq, enc) ?? value.slice(i, end + 1);
    }
    i = end + 1;
  }
  flush();
  return out;
}

const HEX = /^X(?:[0-9A-Fa-f]{2})+$/; // no capture group: a capture per byte pair is slow on a 2 MB escape
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** \Xhh\ bytes (decoded natively, never spread into arguments: a RangeError past ~125 KB): UTF-8 when they form valid UTF-8 (multi-byte), else one character per byte (8859/1). */
function decodeHexBytes(bytes: Buffer): string {
  if (bytes.some((b) => b >= 0x80)) {
    try {
      return utf8Strict.decode(bytes);
    } catch {
      // not UTF-8: fall through to 8859/1
    }
  }
  // latin1 maps each byte to the code point of the same value; no argument spread (a RangeError past ~125 KB)
  return bytes.toString('latin1');
}

function expand(seq: string, enc: EncodingChars): string | undefined {
  switch (seq) {
    case 'F':
      return enc.field;
    case 'S':
      return enc.component;
    case 'T':
      return enc.subcomponent;
    case 'R':
      return enc.repetition;
    case 'E':
      return enc.escape;
    case 'P':
      return enc.truncation ?? '#';
    case 'H':
    case 'N':
    case '':
      return '';
    case '.br':
      return '\n';
  }
  if (/^(\.(sp|fi|nf|in|ti|ce|sk)[+-]?\d*|C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{6}|Z.*)$/.test(seq)) return '';
  return undefined;
}

/** Escapes the delimiters of `enc` in text (for ACK texts and values we write). */
export function hl7Escape(text: string, enc: EncodingChars = DEFAULT_ENCODING): string {
  let out = '';
  for (const ch of text) {
    if (ch === enc.escape) out += `${enc.escape}E${enc.escape}`;
    else if (ch === enc.field) out += `${enc.escape}F${enc.escape}`;
    else if (ch === enc.component) out += `${enc.escape}S${enc.escape}`;
    else if (ch === enc.subcomponent) out += `${enc.escape}T${enc.escape}`;
    else if (ch === enc.repetition) out += `${enc.escape}R${enc.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${enc.escape}.br${enc.escape}`;
    else out += ch;
  }
  return out;
}
