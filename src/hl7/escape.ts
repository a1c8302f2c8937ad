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
  let i = 0;
  while (i < value.length) {
    const ch = value[i]!;
    if (ch !== esc) {
      out += ch;
      i++;
      continue;
    }
    const end = value.indexOf(esc, i + 1);
    if (end < 0) {
      out += value.slice(i); // unterminated: keep as sent
      break;
    }
    const seq = value.slice(i + 1, end);
    out += expand(seq, enc) ?? value.slice(i, end + 1);
    i = end + 1;
  }
  return out;
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
  if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) {
    let s = '';
    for (let k = 1; k < seq.length; k += 2) s += String.fromCharCode(parseInt(seq.slice(k, k + 2), 16));
    return s;
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
