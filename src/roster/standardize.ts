/**
 * Standardisation of demographics before comparison: case, punctuation and accents; compound and hyphenated
 * surnames; suffixes; nicknames (through NicknameTable); birth dates; street suffixes and units; phone digits.
 * Pure functions; the results are never logged (they are PHI).
 */

const SPECIAL_LETTERS: Record<string, string> = {
  ß: 'SS',
  ẞ: 'SS',
  Æ: 'AE',
  æ: 'AE',
  Œ: 'OE',
  œ: 'OE',
  Ø: 'O',
  ø: 'O',
  Ł: 'L',
  ł: 'L',
  Đ: 'D',
  đ: 'D',
  Ð: 'D',
  ð: 'D',
  Þ: 'TH',
  þ: 'TH',
  ı: 'I',
};

/** Upper-case ASCII letters, digits and single spaces: accents stripped, apostrophes and periods dropped. */
const PLAIN = /^[A-Za-z0-9]+(?: [A-Za-z0-9]+)*$/;
const ASCII = /^[\x20-\x7e]*$/;

export function foldText(value: string | undefined): string {
  if (!value) return '';
  if (PLAIN.test(value)) return value.toUpperCase(); // the common case, without normalising
  let s = value;
  if (!ASCII.test(s)) {
    s = s.normalize('NFD').replace(/\p{M}+/gu, '');
    if (/[^\x20-\x7e]/.test(s)) s = s.replace(/[^\x20-\x7e]/g, (c) => SPECIAL_LETTERS[c] ?? ' ');
  }
  return s
    .toUpperCase()
    .replace(/['`.]/g, '')
    .replace(/[^A-Z0-9]+/g, ' ')
    .trim();
}

export const NAME_SUFFIXES: ReadonlyMap<string, string> = new Map([
  ['JR', 'JR'],
  ['JUNIOR', 'JR'],
  ['SR', 'SR'],
  ['SENIOR', 'SR'],
  ['II', 'II'],
  ['2ND', 'II'],
  ['III', 'III'],
  ['3RD', 'III'],
  ['IV', 'IV'],
  ['4TH', 'IV'],
  ['V', 'V'],
]);

export interface StdName {
  /** Family name tokens without suffixes (hyphenated and compound names split). */
  familyTokens: string[];
  /** Family name with the tokens joined, no spaces ("DE LA CRUZ" → "DELACRUZ"). */
  family: string;
  /** First given name (first token). */
  given: string;
  /** Further given-name tokens (middle names). */
  middle: string[];
  suffix?: string;
  /** A query name made by exchanging the given and family names of the one sent (words swapped). */
  swapped?: boolean;
}

/**
 * The name with given and family exchanged (names entered in the wrong fields), or undefined. A hyphenated or
 * two-word given name in the family field ("JEAN-CLAUDE" / "WHITE") comes back as a given and a middle name, as
 * the roster holds it.
 */
export function swappedName(n: StdName): StdName | undefined {
  if (!n.family || !n.given || n.familyTokens.length > 2 || n.family === n.given) return undefined;
  const [given, ...middle] = n.familyTokens;
  return { familyTokens: [n.given], family: n.given, given: given!, middle, swapped: true };
}

/** The house number at the start of a standardised street, or 0. */
export function houseNumber(street: string): number {
  let n = 0;
  for (let i = 0; i < street.length && i < 7; i++) {
    const d = street.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return i > 0 && street.charCodeAt(i) === 32 ? n : 0;
    n = n * 10 + d;
  }
  return street.length > 0 && street.length <= 7 ? n : 0;
}

function splitSuffix(tokens: string[], found: { suffix?: string }): string[] {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const suffix = NAME_SUFFIXES.get(t);
    // "V" or "II" only count as a suffix when they end the name and are not the whole name.
    if (suffix && (t.length > 1 || i === tokens.length - 1) && tokens.length > 1 && i > 0) {
      found.suffix ??= suffix;
      continue;
    }
    out.push(t);
  }
  return out;
}

const WORD = /^[A-Za-z]+$/;

export function standardizeName(
  family: string | undefined,
  given: string[] | string | undefined,
  suffixes: string[] = [],
): StdName {
  // The common case, one plain word each and no suffix: the same result without splitting and joining.
  const single = Array.isArray(given) ? (given.length === 1 ? given[0] : undefined) : given;
  if (!suffixes.length && family && single && WORD.test(family) && WORD.test(single)) {
    const f = family.toUpperCase();
    return { familyTokens: [f], family: f, given: single.toUpperCase(), middle: [] };
  }
  const found: { suffix?: string } = {};
  for (const s of suffixes) {
    const x = NAME_SUFFIXES.get(foldText(s).replace(/ /g, ''));
    if (x) found.suffix ??= x;
  }
  const familyTokens = splitSuffix(foldText(family).split(' ').filter(Boolean), found);
  const givenText = Array.isArray(given) ? given.join(' ') : (given ?? '');
  const givenTokens = splitSuffix(foldText(givenText).split(' ').filter(Boolean), found);
  const name: StdName = {
    familyTokens,
    family: familyTokens.join(''),
    given: givenTokens[0] ?? '',
    middle: givenTokens.slice(1),
  };
  if (found.suffix) name.suffix = found.suffix;
  return name;
}

/** yyyy-mm-dd (the FHIR form) read without a regular expression; -1 when the value has another shape. */
function isoDateNumber(value: string): number {
  if (value.length !== 10 || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45) return -1;
  let n = 0;
  for (let i = 0; i < 10; i++) {
    if (i === 4 || i === 7) continue;
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  const mo = Math.floor(n / 100) % 100;
  const d = n % 100;
  return mo < 1 || mo > 12 || d < 1 || d > 31 ? 0 : n;
}

/** Birth date as an integer yyyymmdd, or 0 when absent or not a date. */
export function dateNumber(value: string | undefined): number {
  if (!value) return 0;
  const fast = isoDateNumber(value);
  if (fast >= 0) return fast;
  const m = /^(\d{4})-?(\d{2})-?(\d{2})/.exec(value.trim());
  if (!m) return 0;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return 0;
  return y * 10000 + mo * 100 + d;
}

export type DateAgreement = 'exact' | 'swap' | 'typo' | 'disagree' | 'missing';

/** Compares two yyyymmdd numbers: exact, day/month swapped, a one-digit typo or adjacent transposition. */
export function compareDates(a: number, b: number): DateAgreement {
  if (a === 0 || b === 0) return 'missing';
  if (a === b) return 'exact';
  const ay = Math.floor(a / 10000);
  const am = Math.floor(a / 100) % 100;
  const ad = a % 100;
  if (ay === Math.floor(b / 10000) && am === b % 100 && ad === Math.floor(b / 100) % 100) return 'swap';
  // Digit by digit (yyyymmdd), without building strings: this runs for every candidate.
  let diff = 0;
  let first = -1;
  let x = a;
  let y = b;
  let prevA = -1;
  let prevB = -1;
  let transposed = false;
  for (let i = 7; i >= 0; i--) {
    const da = x % 10;
    const db = y % 10;
    x = (x - da) / 10;
    y = (y - db) / 10;
    if (da !== db) {
      diff++;
      // Scanning from the right: a difference right after the previous one, with the digits crossed.
      if (first === i + 1 && da === prevB && db === prevA) transposed = true;
      first = i;
      if (diff > 2) return 'disagree';
    }
    prevA = da;
    prevB = db;
  }
  if (x !== y) return 'disagree'; // a year beyond four digits
  if (diff === 1) return 'typo';
  if (diff === 2 && transposed) return 'typo';
  return 'disagree';
}

/** Day and month exchanged, when that is still a date and differs; 0 otherwise. */
export function swappedDate(a: number): number {
  const y = Math.floor(a / 10000);
  const m = Math.floor(a / 100) % 100;
  const d = a % 100;
  if (d > 12 || d === m) return 0;
  return y * 10000 + d * 100 + m;
}

const STREET_WORDS: Record<string, string> = {
  AVENUE: 'AVE',
  AV: 'AVE',
  AVN: 'AVE',
  STREET: 'ST',
  STR: 'ST',
  ROAD: 'RD',
  DRIVE: 'DR',
  DRV: 'DR',
  BOULEVARD: 'BLVD',
  BOUL: 'BLVD',
  LANE: 'LN',
  COURT: 'CT',
  PLACE: 'PL',
  TERRACE: 'TER',
  CIRCLE: 'CIR',
  PARKWAY: 'PKWY',
  HIGHWAY: 'HWY',
  TRAIL: 'TRL',
  SQUARE: 'SQ',
  EXPRESSWAY: 'EXPY',
  FREEWAY: 'FWY',
  ROUTE: 'RTE',
  WAY: 'WAY',
  NORTH: 'N',
  SOUTH: 'S',
  EAST: 'E',
  WEST: 'W',
  NORTHEAST: 'NE',
  NORTHWEST: 'NW',
  SOUTHEAST: 'SE',
  SOUTHWEST: 'SW',
  FIRST: '1ST',
  SECOND: '2ND',
  THIRD: '3RD',
  FOURTH: '4TH',
  FIFTH: '5TH',
  MOUNT: 'MT',
  SAINT: 'ST',
};

const UNIT_WORDS = new Set([
  'APT',
  'APARTMENT',
  'UNIT',
  'STE',
  'SUITE',
  'RM',
  'ROOM',
  'FL',
  'FLOOR',
  'BLDG',
  'LOT',
  'NO',
  'SPC',
  'TRLR',
]);

export interface StdAddress {
  /** House number and street, USPS-style abbreviations, without the unit. */
  street: string;
  unit: string;
  /** First 5 digits of a US ZIP code; another all-digit postal code as it is. */
  zip: string;
}

export function standardizeAddress(line: string | undefined, postalCode?: string): StdAddress {
  // '#' and unit words start the unit; the rest of the line after them belongs to the unit.
  const raw = line?.includes('#') ? line.replace(/#/g, ' UNIT ') : (line ?? '');
  const tokens = foldText(raw).split(' ').filter(Boolean);
  const street: string[] = [];
  const unit: string[] = [];
  let inUnit = false;
  for (const t of tokens) {
    if (!inUnit && UNIT_WORDS.has(t) && street.length > 1) {
      inUnit = true;
      continue;
    }
    if (inUnit) {
      if (!UNIT_WORDS.has(t)) unit.push(t);
    } else street.push(STREET_WORDS[t] ?? t);
  }
  // A US ZIP (5 digits, or ZIP+4) keeps its first 5 digits; other all-digit postal codes (3 to 8 digits) as given.
  const digits = (postalCode ?? '').replace(/\D/g, '');
  const zip = digits.length >= 9 ? digits.slice(0, 5) : digits.length >= 3 ? digits : '';
  return { street: street.join(' '), unit: unit.join(' '), zip };
}

/** Digits of a phone number: the last 10 (a leading country code 1 dropped); '' when fewer than 10. */
export function standardizePhone(value: string | undefined): string {
  if (!value) return '';
  const digits = value.replace(/\D/g, '');
  if (digits.length < 10) return '';
  const ten = digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits.slice(-10);
  // Placeholder numbers (all one digit, 555-0000 style fillers) say nothing about the person.
  if (/^(\d)\1{9}$/.test(ten)) return '';
  return ten;
}

/** A DCN: digits only, leading zeros kept. Returns '' when the value has no digits. */
export function standardizeDcn(value: string | undefined): string {
  if (!value) return '';
  const trimmed = value.trim();
  return /^\d+$/.test(trimmed) ? trimmed : (trimmed.replace(/[\s-]/g, '').match(/^\d+$/)?.[0] ?? '');
}

// Reused match flags: the matcher is synchronous, and this runs for every candidate.
const JW_MAX = 64;
const JW_A = new Uint8Array(JW_MAX);
const JW_B = new Uint8Array(JW_MAX);

/** Jaro–Winkler similarity of two upper-case strings (0..1). */
export function jaroWinkler(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const la = a.length;
  const lb = b.length;
  if (!la || !lb) return 0;
  const range = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  if (la > JW_MAX || lb > JW_MAX) return a.slice(0, JW_MAX) === b.slice(0, JW_MAX) ? 0.99 : 0;
  const am = JW_A.fill(0, 0, la);
  const bm = JW_B.fill(0, 0, lb);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const lo = Math.max(0, i - range);
    const hi = Math.min(lb - 1, i + range);
    const c = a.charCodeAt(i);
    for (let j = lo; j <= hi; j++) {
      if (!bm[j] && b.charCodeAt(j) === c) {
        am[i] = 1;
        bm[j] = 1;
        matches++;
        break;
      }
    }
  }
  if (!matches) return 0;
  let t = 0;
  let k = 0;
  for (let i = 0; i < la; i++) {
    if (!am[i]) continue;
    while (!bm[k]) k++;
    if (a.charCodeAt(i) !== b.charCodeAt(k)) t++;
    k++;
  }
  const jaro = (matches / la + matches / lb + (matches - t / 2) / matches) / 3;
  let prefix = 0;
  while (prefix < 4 && prefix < la && prefix < lb && a.charCodeAt(prefix) === b.charCodeAt(prefix)) prefix++;
  return jaro + prefix * 0.1 * (1 - jaro);
}

/**
 * Optimal-string-alignment distance at most 1 (equal, or one substitution, insertion, deletion or exchange of
 * adjacent letters): editDistance(a, b, 1) <= 1 in one pass, without allocating (this runs for every candidate).
 */
export function withinOneEdit(a: string, b: string): boolean {
  if (a === b) return true;
  const la = a.length;
  const lb = b.length;
  if (la === lb) {
    let i = 0;
    while (a.charCodeAt(i) === b.charCodeAt(i)) i++;
    let j = la - 1;
    while (a.charCodeAt(j) === b.charCodeAt(j)) j--;
    if (i === j) return true;
    return j === i + 1 && a.charCodeAt(i) === b.charCodeAt(j) && a.charCodeAt(j) === b.charCodeAt(i);
  }
  if (la - lb !== 1 && lb - la !== 1) return false;
  const short = la < lb ? a : b;
  const long = la < lb ? b : a;
  let i = 0;
  while (i < short.length && short.charCodeAt(i) === long.charCodeAt(i)) i++;
  for (let k = i; k < short.length; k++) if (short.charCodeAt(k) !== long.charCodeAt(k + 1)) return false;
  return true;
}

/** Optimal-string-alignment distance, stopping early above max (returns max + 1). */
export function editDistance(a: string, b: string, max = 2): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const lb = b.length;
  let prev2 = new Array<number>(lb + 1).fill(0);
  let prev = Array.from({ length: lb + 1 }, (_, j) => j);
  let cur = new Array<number>(lb + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    for (let j = 1; j <= lb; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1))
        v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > max) return max + 1;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return prev[lb]!;
}

// Soundex digit of each letter A..Z ('0' for vowels, H, W, Y).
const SOUNDEX_CODES = '01230120022455012623010202';

/** Soundex code of a name as a number (letter and three digits), without building strings; 0 when empty. */
export function soundexCode(name: string): number {
  let first = 0;
  let out = 0;
  let digits = 0;
  let last = 0;
  for (let i = 0; i < name.length && digits < 3; i++) {
    const ch = name.charCodeAt(i);
    if (ch < 65 || ch > 90) continue;
    const code = SOUNDEX_CODES.charCodeAt(ch - 65) - 48;
    if (!first) {
      first = ch;
      last = code;
      continue;
    }
    if (code !== 0 && code !== last) {
      out = out * 10 + code;
      digits++;
    }
    if (ch !== 72 && ch !== 87) last = code; // H and W do not separate equal codes
  }
  if (!first) return 0;
  for (; digits < 3; digits++) out *= 10;
  return first * 1000 + out;
}

/** American Soundex of an upper-case name (for blocking only). */
export function soundex(name: string): string {
  const code = soundexCode(name);
  return code ? String.fromCharCode(Math.floor(code / 1000)) + String(code % 1000).padStart(3, '0') : '';
}
