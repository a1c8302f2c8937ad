import {
  cityHash,
  streetSound,
  dobFamilyKey,
  dobGivenKeys,
  dobInitialKey,
  dobZipKey,
  namesKey,
  soundInitialKey,
  streetZipKey,
  KEY_SALT,
  letterBit,
  nameKey,
  REC,
  REC_FLAG,
  SIG_LETTERS,
  SIG_LONG,
  SEX_CODE,
  streetHashes,
  SUFFIX_CODES,
  unitHash,
  type RosterIndex,
} from './roster-index.ts';
import { mixInt, type HashBlocks } from './hash-blocks.ts';
import {
  compareDates,
  dateNumber,
  jaroWinkler,
  standardizeAddress,
  standardizeDcn,
  standardizeName,
  standardizePhone,
  swappedDate,
  swappedName,
  withinOneEdit,
  houseNumber,
  type DateAgreement,
  type StdAddress,
  type StdName,
} from './standardize.ts';
import type { MatchCandidate, MatchInput, MatchReason, MatchResult } from './types.ts';

/**
 * Patient matching, pure and explainable. Tier 1: the Medicaid DCN (or an alias) confirmed by birth date or
 * name. Tier 2: demographics after standardisation, Fellegi–Sunter weights with term frequencies for names.
 * Reasons say field by field what agreed or disagreed, never a value.
 */

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';

export interface QueryFeatures {
  names: StdName[];
  dob: number;
  sex: number;
  addresses: (StdAddress & { city: number })[];
  phones: number[];
  ssn: number;
}

function identifierTypeCodes(id: fhir4.Identifier): string[] {
  return (id.type?.coding ?? []).filter((c) => !c.system || c.system === V2_0203).map((c) => c.code ?? '');
}

const NO_STRINGS: string[] = [];

export function patientFeatures(patient: fhir4.Patient): QueryFeatures {
  const names: StdName[] = [];
  const all = patient.name ?? [];
  const ordered = all.length > 1 ? [...all].sort((a, b) => rankNameUse(a.use) - rankNameUse(b.use)) : all;
  for (const n of ordered) {
    const s = standardizeName(n.family, n.given ?? NO_STRINGS, n.suffix ?? NO_STRINGS);
    if (s.family || s.given) names.push(s);
  }
  // Names entered in each other's fields: the exchanged pair is compared (and blocked) too, with a penalty.
  for (let k = 0, n = names.length; k < n; k++) {
    const s = swappedName(names[k]!);
    if (s) names.push(s);
  }
  const sex = patient.gender === 'female' ? SEX_CODE.F : patient.gender === 'male' ? SEX_CODE.M : 0;
  const addresses: QueryFeatures['addresses'] = [];
  for (const a of patient.address ?? []) {
    if (a.use === 'old') continue;
    const s = standardizeAddress(a.line?.length === 1 ? a.line[0] : (a.line ?? NO_STRINGS).join(' '), a.postalCode);
    const city = cityHash(a.city);
    if (s.street || s.zip || city) addresses.push({ street: s.street, unit: s.unit, zip: s.zip, city });
  }
  const phones: number[] = [];
  for (const t of patient.telecom ?? []) {
    if (t.system && t.system !== 'phone' && t.system !== 'sms') continue;
    const p = standardizePhone(t.value);
    if (p) phones.push(Number(p));
  }
  let ssn = -1;
  for (const id of patient.identifier ?? []) {
    if (id.system === SSN_SYSTEM || identifierTypeCodes(id).includes('SS')) {
      const digits = (id.value ?? '').replace(/\D/g, '');
      if (digits.length >= 4) ssn = Number(digits.slice(-4));
    }
  }
  return { names, dob: dateNumber(patient.birthDate), sex, addresses, phones, ssn };
}

function rankNameUse(use: fhir4.HumanName['use']): number {
  return use === 'official' || use === undefined ? 0 : use === 'usual' ? 1 : use === 'old' || use === 'maiden' ? 3 : 2;
}

type FamilyLevel = 'exact' | 'partial' | 'previous' | 'typo' | 'fuzzy' | 'disagree' | 'missing';
type GivenLevel = 'exact' | 'nickname' | 'middle' | 'typo' | 'fuzzy' | 'initial' | 'disagree' | 'missing';

export interface Comparison {
  position: number;
  score: number;
  family: FamilyLevel;
  given: GivenLevel;
  birthDate: DateAgreement;
  /** Passes the required agreements for `matched` (family, given and birth date all agree at some level). */
  strong: boolean;
  /** Agrees on birth date, or on both family and given name: enough to confirm a DCN. */
  confirmsDcn: boolean;
}

const FAMILY_OK = new Set<FamilyLevel>(['exact', 'partial', 'previous', 'typo', 'fuzzy']);
const GIVEN_OK = new Set<GivenLevel>(['exact', 'nickname', 'middle', 'typo', 'fuzzy']);
const DOB_OK = new Set<DateAgreement>(['exact', 'swap', 'typo']);

/** A query name with its family tokens joined by spaces. */
interface QueryName {
  std: StdName;
  familySpaced: string;
  /** First middle name, or ''. */
  middle: string;
  /** Ids of the family and given name in the index's name table (-1: no participant carries it). */
  familyId: number;
  givenId: number;
  /** Bits taken off for a pair made by exchanging given and family. */
  penalty: number;
  /** The family name has several parts (familySpaced differs from it). */
  compound: boolean;
  /** Id of the first middle name (-1: none, or no participant carries it). */
  middleId: number;
  /** Ids of the names that share a nickname group with the given name. */
  nicknameIds: readonly number[];
  /** letterBit of each character of the family and given name (for similarityCeiling). */
  familyBits: Int32Array;
  givenBits: Int32Array;
}

/** A query address with its street hashed the way the index stores streets. */
interface QueryAddress {
  house: number;
  sound: number;
  city: number;
  street1: number;
  street2: number;
  unit: number;
  zip: number;
}

/** The query prepared for comparison: compound family names joined, streets hashed as the index stores them. */
export interface Prepared {
  q: QueryFeatures;
  names: QueryName[];
  addresses: QueryAddress[];
  /** Phones as the index stores them: floor(phone / 100000), phone % 100000, for each. */
  phoneHalves: number[];
}

const NO_NAME: StdName = { family: '', familyTokens: [], given: '', middle: [] };

function letterBits(s: string): Int32Array {
  const out = new Int32Array(s.length);
  for (let k = 0; k < s.length; k++) out[k] = letterBit(s.charCodeAt(k));
  return out;
}

function nicknameIds(index: RosterIndex, given: string): readonly number[] {
  const groups = index.nicknames.groupsOf(given);
  if (!groups) return [];
  if (groups.length === 1) return index.nicknameGroupIds[groups[0]!]!;
  const out: number[] = [];
  for (const g of groups) for (const id of index.nicknameGroupIds[g]!) if (!out.includes(id)) out.push(id);
  return out;
}

function prepare(index: RosterIndex, q: QueryFeatures): Prepared {
  const names: QueryName[] = (q.names.length ? q.names : [NO_NAME]).map((n) => {
    const familySpaced = n.familyTokens.length > 1 ? n.familyTokens.join(' ') : n.family;
    const middle = n.middle[0] ?? '';
    return {
      std: n,
      familySpaced,
      middle,
      familyId: n.family ? index.nameId(n.family) : -1,
      givenId: n.given ? index.nameId(n.given) : -1,
      penalty: n.swapped ? SWAP_PENALTY : 0,
      compound: familySpaced !== n.family,
      middleId: middle ? index.nameId(middle) : -1,
      nicknameIds: n.given.length > 1 ? nicknameIds(index, n.given) : [],
      familyBits: letterBits(n.family),
      givenBits: letterBits(n.given),
    };
  });
  const addresses = q.addresses.map((a) => {
    const [street1, street2] = streetHashes(a.street);
    return {
      house: houseNumber(a.street),
      sound: streetSound(a.street),
      city: a.city,
      street1,
      street2,
      unit: unitHash(a.unit),
      zip: a.zip ? Number(a.zip) : 0,
    };
  });
  const phoneHalves: number[] = [];
  for (const p of q.phones) phoneHalves.push(Math.floor(p / 100_000), p % 100_000);
  return { q, names, addresses, phoneHalves };
}

function tokensOverlap(aSpaced: string, bSpaced: string, aJoined: string, bJoined: string): boolean {
  if (aSpaced === aJoined && bSpaced === bJoined) return false; // both single-part names
  const a = aSpaced.split(' ');
  const b = bSpaced.split(' ');
  for (const x of a) if (x.length > 1 && (b.includes(x) || x === bJoined)) return true;
  for (const y of b) if (y.length > 1 && y === aJoined) return true;
  return false;
}

/** One insertion, deletion, substitution or adjacent exchange apart (short names, where Jaro–Winkler is harsh). */
function oneEdit(a: string, b: string): boolean {
  return a.length >= 3 && b.length >= 3 && withinOneEdit(a, b);
}

/** Set by similarityCeiling: whether one edit (withinOneEdit, both 3 letters or more) could separate the two. */
let oneEditMaybe = true;
/** Float rounding room for comparing a similarityCeiling with a threshold. */
const JW_SLACK = 1e-9;

/**
 * The most Jaro–Winkler could give between a query string (its letterBits) and a roster name known only by
 * its nameSignature, and (in oneEditMaybe) whether one edit could separate them. Jaro counts matching
 * characters, and each must be one of the other name's letters; the prefix bonus needs the leading ones.
 */
function similarityCeiling(bits: Int32Array, sig: number): number {
  const la = bits.length;
  const lb = sig >>> 27;
  if (la >= SIG_LONG || lb >= SIG_LONG) {
    oneEditMaybe = true;
    return 1;
  }
  const letters = sig & SIG_LETTERS;
  let m = 0;
  let prefix = 0;
  for (let k = 0; k < la; k++) {
    if (bits[k]! & letters) {
      m++;
      if (prefix === k && k < 4) prefix++;
    }
  }
  // An edit leaves at most one character of either string without its letter in the other.
  oneEditMaybe = la >= 3 && lb >= 3 && la - m <= 1 && la - lb <= 1 && lb - la <= 1;
  if (m > lb) m = lb;
  if (!m) return 0;
  if (prefix > lb) prefix = lb;
  const jaro = (m / la + m / lb + 1) / 3;
  return jaro + prefix * 0.1 * (1 - jaro);
}

/**
 * The most the family comparison of a query name could weigh against a roster name (its id, and the
 * candidate's REC.flags), from ids, signatures and flags alone.
 */
function familyCeiling(index: RosterIndex, q: QueryName, cf: number, flags: number): number {
  const sig = index.nameSig[cf]!;
  if (!q.std.family || sig >>> 27 === 0) return 0;
  if (q.familyId === cf) return index.familyTfWeight[cf]!;
  const w = index.weights.family;
  let best = w.disagree;
  if (q.compound || flags & REC_FLAG.compoundFamily) best = Math.max(best, w.partial);
  if (flags & REC_FLAG.previousNames) best = Math.max(best, w.previous);
  if (q.std.family.length > 3 || q.familyBits[0]! & sig) {
    const sim = index.config.similarity;
    const jw = similarityCeiling(q.familyBits, sig) + JW_SLACK;
    if (jw >= sim.typoJaroWinkler || oneEditMaybe) best = Math.max(best, w.typo);
    if (jw >= sim.fuzzyJaroWinkler) best = Math.max(best, w.fuzzy);
  }
  return best;
}

/** The most the given-name comparison could weigh against a roster given name (cg) and middle name (cm). */
function givenCeiling(index: RosterIndex, q: QueryName, cg: number, cm: number): number {
  const qg = q.std.given;
  const sig = index.nameSig[cg]!;
  const lc = sig >>> 27;
  if (!qg || lc === 0) return 0;
  if (q.givenId === cg) return index.givenTfWeight[cg]!;
  const w = index.weights.given;
  let best = w.disagree;
  if (qg.length > 1 && lc > 1) {
    if (q.nicknameIds.includes(cg)) return w.nickname;
    const sim = index.config.similarity;
    const jw = similarityCeiling(q.givenBits, sig) + JW_SLACK;
    if (jw >= sim.typoJaroWinkler || oneEditMaybe) best = Math.max(best, w.typo);
    if ((cm >= 0 && cm === q.givenId) || (q.middleId >= 0 && q.middleId === cg)) best = Math.max(best, w.middle);
    if (jw >= sim.fuzzyJaroWinkler) best = Math.max(best, w.fuzzy);
  } else if (q.givenBits[0]! & sig) best = Math.max(best, w.initial);
  return best;
}

/**
 * Family level of a query name against candidate i. Ids, signatures and flags settle most pairs; the strings
 * are read (a cache miss each at scale) only where a partial, previous or similar name remains possible.
 */
function compareFamily(index: RosterIndex, q: QueryName, i: number): FamilyLevel {
  const cf = index.familyIdOf(i);
  const sig = index.nameSig[cf]!;
  const qf = q.std.family;
  if (!qf || sig >>> 27 === 0) return 'missing';
  if (q.familyId === cf) return 'exact';
  const flags = index.rec[i * REC.stride + REC.flags]!;
  if (q.compound || flags & REC_FLAG.compoundFamily) {
    const c = index.names[cf]!;
    if (tokensOverlap(q.familySpaced, index.familySpaced.get(i) ?? c, qf, c)) return 'partial';
  }
  if (flags & REC_FLAG.previousNames) {
    const prev = index.previous.get(i);
    if (prev)
      for (const p of prev)
        if (p.family === qf || tokensOverlap(q.familySpaced, p.familySpaced, qf, p.family)) return 'previous';
  }
  if (qf.length > 3 || q.familyBits[0]! & sig) {
    const sim = index.config.similarity;
    const ceiling = similarityCeiling(q.familyBits, sig) + JW_SLACK;
    if (ceiling < Math.min(sim.typoJaroWinkler, sim.fuzzyJaroWinkler) && !oneEditMaybe) return 'disagree';
    const c = index.names[cf]!;
    if (qf.charCodeAt(0) === c.charCodeAt(0) || qf.length > 3) {
      const jw = jaroWinkler(qf, c);
      if (jw >= sim.typoJaroWinkler || oneEdit(qf, c)) return 'typo';
      if (jw >= sim.fuzzyJaroWinkler) return 'fuzzy';
    }
  }
  return 'disagree';
}

/** Given-name level of a query name against candidate i (strings read only where a similar name may be). */
function compareGiven(index: RosterIndex, q: QueryName, i: number): GivenLevel {
  const r = i * REC.stride;
  const cg = index.rec[r + REC.given]!;
  const sig = index.nameSig[cg]!;
  const lc = sig >>> 27;
  const qg = q.std.given;
  if (!qg || lc === 0) return 'missing';
  if (q.givenId === cg) return 'exact';
  if (qg.length > 1 && lc > 1) {
    if (q.nicknameIds.includes(cg)) return 'nickname';
    const sim = index.config.similarity;
    const ceiling = similarityCeiling(q.givenBits, sig) + JW_SLACK;
    let jw = 0;
    if (oneEditMaybe || ceiling >= Math.min(sim.typoJaroWinkler, sim.fuzzyJaroWinkler)) {
      const c = index.names[cg]!;
      jw = jaroWinkler(qg, c);
      if (jw >= sim.typoJaroWinkler || oneEdit(qg, c)) return 'typo';
    }
    const cm = index.rec[r + REC.middle]!;
    if ((cm >= 0 && cm === q.givenId) || (q.middleId >= 0 && q.middleId === cg)) return 'middle';
    if (jw >= sim.fuzzyJaroWinkler) return 'fuzzy';
    return 'disagree';
  }
  return q.givenBits[0]! & sig && qg.charAt(0) === index.names[cg]!.charAt(0) ? 'initial' : 'disagree';
}

/** Bits taken off a name pair that agrees only with given and family exchanged. */
const SWAP_PENALTY = 2;

/** Levels of the last candidate scored (the matcher is synchronous; this spares an object per candidate). */
const last = {
  family: 'missing' as FamilyLevel,
  given: 'missing' as GivenLevel,
  birthDate: 'missing' as DateAgreement,
  sex: 'missing' as Binary,
  suffix: 'missing' as Binary,
  address: 'missing' as 'agree' | 'unit' | 'similar' | 'disagree' | 'missing',
  postalCode: 'missing' as Binary,
  city: 'missing' as Binary,
  phone: 'missing' as Binary,
  ssnLast4: 'missing' as Binary,
};
type Binary = 'agree' | 'disagree' | 'missing';

/** The comparison level of every field for one query and candidate (for learning the weights). */
export type ComparisonLevels = { -readonly [K in keyof typeof last]: (typeof last)[K] };

/** Levels of each field of a query against candidate i (what EM and the u estimate count). */
export function comparisonLevels(index: RosterIndex, q: QueryFeatures | Prepared, i: number): ComparisonLevels {
  score(index, 'q' in q ? q : prepare(index, q), i, -Infinity);
  return { ...last };
}

/** The query prepared once for many comparisonLevels calls. */
export function prepareQuery(index: RosterIndex, q: QueryFeatures): Prepared {
  return prepare(index, q);
}

/** The best a name comparison can weigh without exact agreement (what the upper bound assumes). */
interface Ceilings {
  /** Best family / given weight short of exact agreement (0 when missing is better). */
  family: number;
  given: number;
  /** Best weight of each other field (0 when missing is better). */
  suffix: number;
  birthDate: number;
  sex: number;
  address: number;
  postalCode: number;
  city: number;
  phone: number;
  ssnLast4: number;
}
const ceilingsOf = new WeakMap<RosterIndex, Ceilings>();

function inexact(index: RosterIndex): Ceilings {
  let b = ceilingsOf.get(index);
  if (!b) {
    const w = index.weights;
    const maxOf = (levels: Record<string, number>): number => Math.max(0, ...Object.values(levels));
    b = {
      family: Math.max(0, w.family.partial, w.family.previous, w.family.typo, w.family.fuzzy, w.family.disagree),
      given: Math.max(
        0,
        w.given.nickname,
        w.given.middle,
        w.given.typo,
        w.given.fuzzy,
        w.given.initial,
        w.given.disagree,
      ),
      suffix: maxOf(w.suffix),
      birthDate: maxOf(w.birthDate),
      sex: maxOf(w.sex),
      address: maxOf(w.address),
      postalCode: maxOf(w.postalCode),
      city: maxOf(w.city),
      phone: maxOf(w.phone),
      ssnLast4: maxOf(w.ssnLast4),
    };
    ceilingsOf.set(index, b);
  }
  return b;
}

/** Weights of the numeric fields of the candidate last passed to scoreNumbers (for its reasons). */
const numeric = {
  birthDate: 0,
  sex: 0,
  address: 0,
  postalCode: 0,
  city: 0,
  moved: 0,
  phone: 0,
  rawContact: 0,
  contact: 0,
  ssn: 0,
};

/**
 * The weight of the fields that are numbers in the index (birth date, sex, household evidence capped, SSN
 * digits) for candidate i, with their levels in `last` and weights in `numeric`. No string is compared.
 */
function scoreNumbers(index: RosterIndex, pq: Prepared, i: number): number {
  const w = index.weights;
  const q = pq.q;
  const rec = index.rec;
  const r = i * REC.stride;

  const birthDate = compareDates(q.dob, rec[r + REC.dob]!);
  const bw = birthDate === 'missing' ? 0 : w.birthDate[birthDate];

  const cs = rec[r + REC.sexSuffix]! & 0xff;
  const sexKnown = q.sex !== 0 && cs !== 0;
  const sw = sexKnown ? (q.sex === cs ? w.sex.agree : w.sex.disagree) : 0;

  // Household evidence, capped together.
  let addrLevel: 'agree' | 'unit' | 'similar' | 'disagree' | 'missing' = 'missing';
  let zipLevel: 'agree' | 'disagree' | 'missing' = 'missing';
  let cityLevel: Binary = 'missing';
  const s1 = rec[r + REC.street1]!;
  const cz = rec[r + REC.zip]!;
  const cc = rec[r + REC.city]!;
  for (const a of pq.addresses) {
    if (a.street1 && s1) {
      if (a.street1 === s1 && a.street2 === rec[r + REC.street2]) {
        const unit = rec[r + REC.unit]!;
        const lv = a.unit && unit && a.unit !== unit ? 'unit' : 'agree';
        if (addrLevel !== 'agree') addrLevel = lv;
      } else if (
        a.sound &&
        a.sound === rec[r + REC.streetSound] &&
        (!a.house || !rec[r + REC.house] || a.house === rec[r + REC.house])
      ) {
        if (addrLevel === 'missing' || addrLevel === 'disagree') addrLevel = 'similar';
      } else if (addrLevel === 'missing') addrLevel = 'disagree';
    }
    if (a.zip && cz) {
      if (a.zip === cz) zipLevel = 'agree';
      else if (zipLevel === 'missing') zipLevel = 'disagree';
    }
    if (a.city && cc) {
      if (a.city === cc) cityLevel = 'agree';
      else if (cityLevel === 'missing') cityLevel = 'disagree';
    }
  }
  const cw = cityLevel === 'missing' ? 0 : w.city[cityLevel];
  const aw = addrLevel === 'missing' ? 0 : w.address[addrLevel];
  const zw = zipLevel === 'missing' ? 0 : w.postalCode[zipLevel];
  const cpHigh = rec[r + REC.phoneHigh]!;
  const cpLow = rec[r + REC.phoneLow]!;
  const phoneKnown = q.phones.length > 0 && (cpHigh !== 0 || cpLow !== 0);
  let phoneAgree = false;
  if (phoneKnown)
    for (let k = 0; k < pq.phoneHalves.length; k += 2)
      if (pq.phoneHalves[k] === cpHigh && pq.phoneHalves[k + 1] === cpLow) phoneAgree = true;
  const pw = phoneKnown ? (phoneAgree ? w.phone.agree : w.phone.disagree) : 0;
  // The city follows from the postal code: when both disagree, that is one disagreement (the stronger),
  // not two (the agreements add up, to the cap).
  const moved = zw < 0 && cw < 0 ? -Math.max(zw, cw) : 0;
  const rawContact = aw + zw + cw + moved + pw;
  const contact = Math.min(rawContact, index.config.contactCap);

  const css = rec[r + REC.ssn]!;
  const ssnKnown = q.ssn >= 0 && css >= 0;
  const ssw = ssnKnown ? (q.ssn === css ? w.ssnLast4.agree : w.ssnLast4.disagree) : 0;

  last.birthDate = birthDate;
  last.sex = sexKnown ? (q.sex === cs ? 'agree' : 'disagree') : 'missing';
  last.address = addrLevel;
  last.postalCode = zipLevel;
  last.city = cityLevel;
  last.phone = phoneKnown ? (phoneAgree ? 'agree' : 'disagree') : 'missing';
  last.ssnLast4 = ssnKnown ? (q.ssn === css ? 'agree' : 'disagree') : 'missing';
  numeric.birthDate = bw;
  numeric.sex = sw;
  numeric.address = aw;
  numeric.postalCode = zw;
  numeric.city = cw;
  numeric.moved = moved;
  numeric.phone = pw;
  numeric.rawContact = rawContact;
  numeric.contact = contact;
  numeric.ssn = ssw;
  return bw + sw + contact + ssw;
}

/**
 * The most the names (and suffix) of candidate i could weigh against this query: the term-frequency weight
 * where the strings are equal, else the best inexact level. Only string equality is tested.
 */
function nameCeiling(index: RosterIndex, pq: Prepared, i: number): number {
  const rec = index.rec;
  const r = i * REC.stride;
  const cf = rec[r + REC.family]!;
  const cg = rec[r + REC.given]!;
  const cm = rec[r + REC.middle]!;
  const flags = rec[r + REC.flags]!;
  const cSuffix = rec[r + REC.sexSuffix]! >> 8;
  const w = index.weights.suffix;
  let names = -Infinity;
  for (const n of pq.names) {
    const qs = n.std.suffix;
    const suffix = qs !== undefined && cSuffix !== 0 ? (SUFFIX_CODES[cSuffix] === qs ? w.agree : w.disagree) : 0;
    const x = familyCeiling(index, n, cf, flags) + givenCeiling(index, n, cg, cm) - n.penalty + suffix;
    if (x > names) names = x;
  }
  return names;
}

/**
 * Scores one candidate. Numbers first (birth date, sex, address, phone, SSN): when even the best possible
 * name agreement could not lift the candidate to `floor`, it is dropped (-Infinity) before any string is
 * compared. With `reasons`, never drops, and lists a reason per field.
 */
function score(index: RosterIndex, pq: Prepared, i: number, floor: number, reasons?: MatchReason[]): number {
  const w = index.weights;
  const rec = index.rec;
  const r = i * REC.stride;
  const numbers = scoreNumbers(index, pq, i);
  if (!reasons && floor > -Infinity && numbers + nameCeiling(index, pq, i) < floor) return -Infinity;

  // Names: the best-scoring pair of an input name and the roster name.
  const cf = rec[r + REC.family]!;
  const cg = rec[r + REC.given]!;
  const cm = rec[r + REC.middle]!;
  const flags = rec[r + REC.flags]!;
  let bestName = -Infinity;
  let family: FamilyLevel = 'missing';
  let given: GivenLevel = 'missing';
  let familyW = 0;
  let givenW = 0;
  let suffixQ: string | undefined;
  let swappedBest = false;
  for (const name of pq.names) {
    // A name pair that cannot beat the best one so far is not compared (the first of equals wins anyway).
    if (
      bestName > -Infinity &&
      familyCeiling(index, name, cf, flags) + givenCeiling(index, name, cg, cm) - name.penalty <= bestName
    )
      continue;
    const f = compareFamily(index, name, i);
    const g = compareGiven(index, name, i);
    const fw = f === 'missing' ? 0 : f === 'exact' ? index.familyTfWeight[cf]! : w.family[f];
    const gw = g === 'missing' ? 0 : g === 'exact' ? index.givenTfWeight[cg]! : w.given[g];
    const nameW = name.std.swapped ? fw + gw - SWAP_PENALTY : fw + gw;
    if (nameW > bestName) {
      bestName = nameW;
      swappedBest = name.std.swapped === true;
      family = f;
      given = g;
      familyW = fw;
      givenW = gw;
      suffixQ = name.std.suffix;
    }
  }
  const cSuffix = rec[r + REC.sexSuffix]! >> 8;
  const suffixKnown = suffixQ !== undefined && cSuffix !== 0;
  const suffixAgree = suffixKnown && SUFFIX_CODES[cSuffix] === suffixQ;
  const sfw = suffixKnown ? (suffixAgree ? w.suffix.agree : w.suffix.disagree) : 0;
  last.family = family;
  last.given = given;
  last.suffix = suffixKnown ? (suffixAgree ? 'agree' : 'disagree') : 'missing';

  if (reasons) {
    const n = numeric;
    sayTo(
      reasons,
      'family',
      levelResult(family),
      familyW,
      levelNote(family, index.config.termFrequency.family.enabled),
    );
    sayTo(reasons, 'given', levelResult(given), givenW, levelNote(given, index.config.termFrequency.given.enabled));
    if (swappedBest) sayTo(reasons, 'name', 'partial', -SWAP_PENALTY, 'given and family names swapped');
    sayTo(
      reasons,
      'birthDate',
      levelResult(last.birthDate),
      n.birthDate,
      last.birthDate === 'swap' ? 'day/month swapped' : last.birthDate === 'typo' ? 'one digit' : undefined,
    );
    sayTo(reasons, 'sex', last.sex, n.sex);
    if (suffixKnown) sayTo(reasons, 'suffix', suffixAgree ? 'agree' : 'disagree', sfw);
    sayTo(
      reasons,
      'address',
      levelResult(last.address),
      n.address,
      last.address === 'unit' ? 'another unit' : last.address === 'similar' ? 'street sounds alike' : undefined,
    );
    sayTo(reasons, 'postalCode', levelResult(last.postalCode), n.postalCode);
    sayTo(reasons, 'city', levelResult(last.city), n.city);
    if (n.moved > 0) sayTo(reasons, 'contact', 'partial', n.moved, 'postal code and city disagree as one');
    sayTo(reasons, 'phone', last.phone, n.phone);
    if (n.rawContact > n.contact)
      sayTo(reasons, 'contact', 'partial', n.contact - n.rawContact, 'household evidence capped');
    if (last.ssnLast4 !== 'missing') sayTo(reasons, 'ssnLast4', last.ssnLast4, n.ssn);
  }
  return familyW + givenW + (swappedBest ? -SWAP_PENALTY : 0) + numbers + sfw;
}

function sayTo(
  reasons: MatchReason[],
  field: string,
  result: MatchReason['result'],
  weight: number,
  note?: string,
): void {
  const r: MatchReason = { field, result, weight: Math.round(weight * 100) / 100 };
  if (note) r.note = note;
  reasons.push(r);
}

function levelResult(level: string): MatchReason['result'] {
  if (level === 'exact' || level === 'agree') return 'agree';
  if (level === 'disagree') return 'disagree';
  if (level === 'missing') return 'missing';
  return 'partial';
}

function levelNote(level: string, tf: boolean): string | undefined {
  if (level === 'exact') return tf ? 'term-frequency weighted' : undefined;
  if (level === 'missing' || level === 'disagree') return undefined;
  return level;
}

/**
 * Enough identity for `matched`: at least two of family name, given name and birth date agree at some level
 * (a typo beyond repair in one field, a changed family name, a replaced given name), or the birth date agrees
 * and a missing name part leaves the other name not disagreeing (a mononym, a gap). How much the
 * third field's disagreement counts against the match is the weights' business: learned from the data, they
 * say how often true matches disagree there (a twin at the same address is told apart by the given name's
 * weight, and both twins on the roster are within the margin: review).
 */
function isStrong(family: FamilyLevel, given: GivenLevel, birthDate: DateAgreement): boolean {
  const dob = DOB_OK.has(birthDate);
  if ((FAMILY_OK.has(family) ? 1 : 0) + (GIVEN_OK.has(given) ? 1 : 0) + (dob ? 1 : 0) >= 2) return true;
  // The birth date agrees and a name is missing (not different) while the other does not disagree either.
  return dob && ((family === 'missing' && given !== 'disagree') || (given === 'missing' && family !== 'disagree'));
}

/** The comparison of the candidate just scored. */
function comparison(i: number, s: number): Comparison {
  return {
    position: i,
    score: s,
    family: last.family,
    given: last.given,
    birthDate: last.birthDate,
    strong: isStrong(last.family, last.given, last.birthDate),
    confirmsDcn: DOB_OK.has(last.birthDate) || (FAMILY_OK.has(last.family) && GIVEN_OK.has(last.given)),
  };
}

/** Scores one candidate against a patient, with a reason per field (for tests and explanations). */
export function scoreCandidate(
  index: RosterIndex,
  q: QueryFeatures,
  i: number,
): { score: number; family: FamilyLevel; given: GivenLevel; birthDate: DateAgreement; reasons: MatchReason[] } {
  const reasons: MatchReason[] = [];
  const s = score(index, prepare(index, q), i, -Infinity, reasons);
  return { score: s, family: last.family, given: last.given, birthDate: last.birthDate, reasons };
}

interface Blocked {
  /** Candidate positions in positions[0..count). */
  positions: Int32Array<ArrayBufferLike>;
  count: number;
  truncated: boolean;
  /** A query key was left out of the index as too common. */
  commonKey: boolean;
}

/** Written by the loops that touch memory ahead of use, so that their loads are not dropped as unused. */
let _touched = 0;

// Reusable candidate buffer (the matcher is synchronous, so one per index is safe).
const scratch = new WeakMap<RosterIndex, Blocked>();
// The block being filled (module state instead of closures: this runs for every candidate).
let filling: Blocked = { positions: new Int32Array(0), count: 0, truncated: false, commonKey: false };
let fillingMax = 0;
// The positions already in the block: a small open-addressing set (slot valid when its stamp is the current
// generation), which stays in cache where a stamp per participant would not.
let seenSlots = new Int32Array(1024);
let seenStamps = new Int32Array(1024);
let seenGeneration = 0;

function seenSlot(i: number): number {
  const mask = seenSlots.length - 1;
  let h = Math.imul(i, 0x9e3779b1) >>> 16;
  for (;;) {
    h &= mask;
    if (seenStamps[h] !== seenGeneration || seenSlots[h] === i) return h;
    h++;
  }
}

/** Doubles the seen set and puts the block's positions back in it. */
function growSeen(): void {
  seenSlots = new Int32Array(seenSlots.length * 2);
  seenStamps = new Int32Array(seenStamps.length * 2);
  for (let k = 0; k < filling.count; k++) {
    const h = seenSlot(filling.positions[k]!);
    seenStamps[h] = seenGeneration;
    seenSlots[h] = filling.positions[k]!;
  }
}

function addCandidate(i: number): boolean {
  const h = seenSlot(i);
  if (seenStamps[h] === seenGeneration) return true;
  const out = filling;
  if (out.count >= fillingMax) {
    out.truncated = true;
    return false;
  }
  seenStamps[h] = seenGeneration;
  seenSlots[h] = i;
  if (out.count === out.positions.length) {
    const grown = new Int32Array(out.positions.length * 2);
    grown.set(out.positions);
    out.positions = grown;
  }
  out.positions[out.count++] = i;
  if (out.count * 2 > seenSlots.length) growSeen();
  return true;
}

// The keys of the block being filled, looked up together by lookUpKeys.
const keyTables: HashBlocks[] = [];
const keyHashes: number[] = [];

function useKey(blocks: HashBlocks, key: number): void {
  keyTables.push(blocks);
  keyHashes.push(key);
}

/**
 * Looks up the keys in the order they were used. Their buckets are read first in one loop of independent
 * loads (see touch), then scanned.
 */
function lookUpKeys(): void {
  const n = keyHashes.length;
  let x = 0;
  for (let k = 0; k < n; k++) x ^= keyTables[k]!.touch(keyHashes[k]!);
  _touched = x;
  for (let k = 0; k < n; k++) if (keyTables[k]!.lookup(keyHashes[k]!, addCandidate)) filling.commonKey = true;
  keyTables.length = 0;
  keyHashes.length = 0;
}

const givenKeys: number[] = [];

/**
 * Candidate positions from the blocking keys. Every key holds a name, so blocks stay small whatever the
 * roster size: birth date (or its day/month swap) + family sound, birth date (or swap) + given sound or
 * nickname group, family sound + given initial + year, the same + month/day, and (unless `tight`) the phone.
 * The result is reused by the next call.
 */
function block(index: RosterIndex, q: QueryFeatures, tight: boolean): Blocked {
  let st = scratch.get(index);
  if (!st) {
    st = { positions: new Int32Array(64), count: 0, truncated: false, commonKey: false };
    scratch.set(index, st);
  }
  if (seenGeneration > 2_000_000_000) {
    seenStamps.fill(0);
    seenGeneration = 0;
  }
  seenGeneration++;
  filling = st;
  filling.count = 0;
  filling.truncated = false;
  filling.commonKey = false;
  fillingMax = index.config.blocking.maxCandidates;
  if (q.dob) {
    const swapped = swappedDate(q.dob);
    const year = Math.floor(q.dob / 10000);
    const monthDay = q.dob % 10000;
    givenKeys.length = 0;
    for (const n of q.names) {
      for (let t = -1; t < n.familyTokens.length; t++) {
        // The whole family name, then each part of a compound one.
        if (t >= 0 && (n.familyTokens.length < 2 || n.familyTokens[t]!.length < 2)) continue;
        const f = t < 0 ? n.family : n.familyTokens[t]!;
        if (!f || (t >= 0 && f === n.family)) continue;
        useKey(index.byDobFamily, dobFamilyKey(f, q.dob));
        if (swapped) useKey(index.byDobFamily, dobFamilyKey(f, swapped));
        if (!n.given) continue;
        useKey(index.byNameYear, nameKey(f, n.given, year, KEY_SALT.nameYear));
        useKey(index.byNameMonthDay, nameKey(f, n.given, monthDay, KEY_SALT.nameMonthDay));
      }
      if (n.given) {
        dobGivenKeys(index.nicknames, n.given, q.dob, givenKeys);
        if (swapped) dobGivenKeys(index.nicknames, n.given, swapped, givenKeys);
      }
    }
    for (let k = 0; k < givenKeys.length; k++)
      if (givenKeys.indexOf(givenKeys[k]!) === k) useKey(index.byDobGiven, givenKeys[k]!);
  }
  if (!tight) {
    for (const p of q.phones) useKey(index.byPhone, mixInt(p, KEY_SALT.phone));
    // Keys that do not need a name and a date together, so that damage to one of each still meets.
    for (const n of q.names) {
      if (n.swapped) continue;
      if (q.dob && n.family) useKey(index.byDobInitial, dobInitialKey(n.family, 0, q.dob));
      if (q.dob && n.given) useKey(index.byDobInitial, dobInitialKey(n.given, 1, q.dob));
      if (!n.family || !n.given) continue;
      useKey(index.byNames, namesKey(n.family, n.given));
      for (let k = 0; k < q.addresses.length; k++) {
        const city = q.addresses[k]!.city;
        if (!city || q.addresses.findIndex((a) => a.city === city) < k) continue;
        useKey(index.bySoundInitial, soundInitialKey(n.family, n.given, 0, city));
        useKey(index.bySoundInitial, soundInitialKey(n.given, n.family, 1, city));
      }
    }
    for (const a of q.addresses) {
      const zip = a.zip ? Number(a.zip) : 0;
      if (!zip) continue;
      const house = houseNumber(a.street);
      if (house) useKey(index.byStreetZip, streetZipKey(house, zip));
      if (q.dob) useKey(index.byDobZip, dobZipKey(q.dob, zip));
    }
  }
  lookUpKeys();
  return filling;
}

/** Candidate positions from the blocking keys (for benchmarks and tests). */
export function blockCandidates(index: RosterIndex, q: QueryFeatures): { positions: number[]; truncated: boolean } {
  const b = block(index, q, false);
  return { positions: Array.from(b.positions.subarray(0, b.count)), truncated: b.truncated };
}

// Reusable bounds and order of the candidates being ranked (the matcher is synchronous).
let rankBounds = new Float64Array(64);
let rankOrder = new Int32Array(64);

/**
 * Reads both cache lines of each candidate's record in a loop of independent loads, so that the memory
 * fetches overlap instead of coming one by one inside the scoring loop (at a million participants the
 * records are not in cache, and this waiting was most of a match).
 */
function touch(index: RosterIndex, b: Blocked): void {
  const rec = index.rec;
  const sig = index.nameSig;
  let x = 0;
  for (let k = 0; k < b.count; k++) {
    const r = b.positions[k]! * REC.stride;
    x ^= rec[r]! ^ rec[r + REC.stride - 1]!;
  }
  // Then the signatures of their names (a table by name id, larger than the cache at scale).
  for (let k = 0; k < b.count; k++) {
    const r = b.positions[k]! * REC.stride;
    x ^= sig[rec[r + REC.family]!]! ^ sig[rec[r + REC.given]!]!;
  }
  _touched = x;
}

/** Moves the candidate at heap slot k down the max-heap of rankOrder[0..n) by rankBounds. */
function siftDown(k: number, n: number): void {
  const at = rankOrder[k]!;
  const bound = rankBounds[at]!;
  for (;;) {
    let c = 2 * k + 1;
    if (c >= n) break;
    if (c + 1 < n && rankBounds[rankOrder[c + 1]!]! > rankBounds[rankOrder[c]!]!) c++;
    if (rankBounds[rankOrder[c]!]! <= bound) break;
    rankOrder[k] = rankOrder[c]!;
    k = c;
  }
  rankOrder[k] = at;
}

/**
 * The blocked candidates that matter, best first: every one at or above `keep`, and the best one when it
 * reaches `reportFrom`. Each candidate's upper bound comes from its numbers and name equality alone; they
 * are scored in the order of their bounds, so the scan stops at the first bound below both `keep` and the
 * best score so far, and names are compared for a few candidates instead of all of them.
 */
function rank(index: RosterIndex, pq: Prepared, keep: number, b: Blocked, reportFrom = -Infinity): Comparison[] {
  const n = b.count;
  if (rankBounds.length < n) {
    rankBounds = new Float64Array(n * 2);
    rankOrder = new Int32Array(n * 2);
  }
  touch(index, b);
  for (let k = 0; k < n; k++) {
    const i = b.positions[k]!;
    rankBounds[k] = scoreNumbers(index, pq, i) + nameCeiling(index, pq, i);
    rankOrder[k] = k;
  }
  // A max-heap by bound: candidates come off it best bound first, and the scan usually stops after a few,
  // so most are never put in order. (Among equal bounds the order does not change the result.)
  for (let k = (n >> 1) - 1; k >= 0; k--) siftDown(k, n);
  const ranked: Comparison[] = [];
  let best: Comparison | undefined;
  for (let left = n; left > 0;) {
    const at = rankOrder[0]!;
    left--;
    rankOrder[0] = rankOrder[left]!;
    siftDown(0, left);
    if (rankBounds[at]! < Math.min(keep, best ? best.score : reportFrom)) break;
    const i = b.positions[at]!;
    const s = score(index, pq, i, -Infinity);
    const better = s >= reportFrom && (!best || s > best.score || (s === best.score && i < best.position));
    if (s < keep && !better) continue;
    const c = comparison(i, s);
    if (better) best = c;
    if (s >= keep) ranked.push(c);
  }
  if (best && best.score < keep) ranked.push(best);
  ranked.sort((a, c) => c.score - a.score || a.position - c.position);
  return ranked;
}

/** Every blocked candidate that could matter, scored, best first. */
export function demographicCandidates(
  index: RosterIndex,
  q: QueryFeatures,
): { ranked: Comparison[]; truncated: boolean } {
  const b = block(index, q, false);
  return { ranked: rank(index, prepare(index, q), -Infinity, b), truncated: b.truncated };
}

const NOTHING_BLOCKED: Blocked = { positions: new Int32Array(0), count: 0, truncated: false, commonKey: false };

/** Id of a name, trying the owner's id first (no hashing of the query string when they agree). */
function nameIdNear(index: RosterIndex, name: string, ownerId: number): number {
  return !name ? -1 : index.names[ownerId] === name ? ownerId : index.nameId(name);
}

/** The highest score any participant could reach against this query (an upper bound, field by field). */
function bestPossible(index: RosterIndex, pq: Prepared, owner: number): number {
  const q = pq.q;
  const best = inexact(index);
  let names = 0;
  for (const n of pq.names) {
    const fid = nameIdNear(index, n.std.family, index.familyIdOf(owner));
    const gid = nameIdNear(index, n.std.given, index.givenIdOf(owner));
    const f = Math.max(best.family, fid >= 0 ? index.familyTfWeight[fid]! : 0);
    const g = Math.max(best.given, gid >= 0 ? index.givenTfWeight[gid]! : 0);
    names = Math.max(names, (n.std.family ? f : 0) + (n.std.given ? g : 0) - (n.std.swapped ? SWAP_PENALTY : 0));
  }
  let contact = 0;
  if (pq.addresses.some((a) => a.street1)) contact += best.address;
  if (pq.addresses.some((a) => a.zip)) contact += best.postalCode;
  if (pq.addresses.some((a) => a.city)) contact += best.city;
  if (q.phones.length) contact += best.phone;
  return (
    names +
    (pq.names.some((n) => n.std.suffix) ? best.suffix : 0) +
    (q.dob ? best.birthDate : 0) +
    (q.sex ? best.sex : 0) +
    Math.min(contact, index.config.contactCap) +
    (q.ssn >= 0 ? best.ssnLast4 : 0)
  );
}

/**
 * The strongest other participant who agrees on family name, given name and birth date and outscores the
 * DCN owner at or above `matched`: looked for only in the tight blocks (names with birth date), because a
 * candidate that agrees on all three shares one of them.
 */
function dcnRival(
  index: RosterIndex,
  pq: Prepared,
  owner: number,
  ownerScore: number,
): { rival: Comparison | undefined; blocked: Blocked } {
  const matched = index.thresholds.matched;
  const ceiling = bestPossible(index, pq, owner);
  // Nobody can outscore an owner who already has everything this query can give: no need to look.
  if (ceiling <= ownerScore || ceiling < matched) return { rival: undefined, blocked: NOTHING_BLOCKED };
  const b = block(index, pq.q, true);
  let rival: Comparison | undefined;
  for (let k = 0; k < b.count; k++) {
    const i = b.positions[k]!;
    if (i === owner || !DOB_OK.has(compareDates(pq.q.dob, index.dobOf(i)))) continue;
    const floor = Math.max(matched, ownerScore, rival ? rival.score : -Infinity);
    const s = score(index, pq, i, floor);
    if (s < floor || s <= ownerScore) continue;
    const c = comparison(i, s);
    if (!c.strong) continue;
    if (!rival || s > rival.score || (s === rival.score && i < rival.position)) rival = c;
  }
  return { rival, blocked: b };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function candidateList(index: RosterIndex, items: { position: number; score: number }[], limit = 5): MatchCandidate[] {
  const seen = new Set<number>();
  const out: MatchCandidate[] = [];
  for (const c of items) {
    if (seen.has(c.position)) continue;
    seen.add(c.position);
    out.push({ participantId: index.participants[c.position]!.participantId, score: round(c.score) });
    if (out.length >= limit) break;
  }
  return out;
}

function blockingNotes(b: Blocked): MatchReason[] {
  const notes: MatchReason[] = [];
  if (b.truncated) notes.push({ field: 'blocking', result: 'partial', weight: 0, note: 'candidate limit reached' });
  if (b.commonKey)
    notes.push({ field: 'blocking', result: 'partial', weight: 0, note: 'a key too common to block on was skipped' });
  return notes;
}

interface DcnLookup {
  owners: { position: number; alias: boolean }[];
  sent: number;
  reasons: MatchReason[];
}

function lookupDcns(index: RosterIndex, input: MatchInput): DcnLookup {
  const reasons: MatchReason[] = [];
  // A value the Patient also carries typed MC (Medicare) is never a DCN, whoever extracted it.
  const medicare = new Set<string>();
  for (const id of input.patient.identifier ?? [])
    if (identifierTypeCodes(id).includes('MC') && !identifierTypeCodes(id).includes('MA') && id.value)
      medicare.add(standardizeDcn(id.value));
  const values = new Set<string>();
  for (const m of input.medicaidIds) {
    const v = standardizeDcn(m.value);
    if (!v) {
      reasons.push({ field: 'dcn', result: 'missing', weight: 0, note: `not digits (${m.source})` });
      continue;
    }
    if (medicare.has(v)) {
      reasons.push({ field: 'dcn', result: 'missing', weight: 0, note: `Medicare number ignored (${m.source})` });
      continue;
    }
    if (v.length !== 8)
      reasons.push({
        field: 'dcn',
        result: 'partial',
        weight: 0,
        note: `length ${v.length}, expected 8 (${m.source})`,
      });
    values.add(v);
  }
  const owners: { position: number; alias: boolean }[] = [];
  for (const v of values)
    for (const o of index.dcnOwners(v)) if (!owners.some((x) => x.position === o.position)) owners.push(o);
  return { owners, sent: values.size, reasons };
}

/**
 * Who is this patient? DCN tier first, then demographics. `possible` results carry the candidate ids for
 * a review item. The event date is accepted for symmetry with eligibility; identity does not depend on it.
 */
export function matchPatient(index: RosterIndex, input: MatchInput, _eventDate?: string): MatchResult {
  const q = patientFeatures(input.patient);
  const pq = prepare(index, q);
  const t = index.thresholds;
  const w = index.weights;
  const dcn = lookupDcns(index, input);

  if (dcn.owners.length > 1) {
    const items = dcn.owners.map((o) => ({
      position: o.position,
      score: score(index, pq, o.position, -Infinity) + w.dcn.agree,
    }));
    items.sort((a, b) => b.score - a.score);
    return {
      status: 'possible',
      tier: 'dcn',
      score: round(items[0]!.score),
      reasons: [
        ...dcn.reasons,
        { field: 'dcn', result: 'disagree', weight: 0, note: 'DCNs of different participants' },
      ],
      candidates: candidateList(index, items),
    };
  }

  if (dcn.owners.length === 1) {
    const owner = dcn.owners[0]!;
    const reasons: MatchReason[] = [
      ...dcn.reasons,
      { field: 'dcn', result: 'agree', weight: round(w.dcn.agree), note: owner.alias ? 'alias DCN' : 'primary DCN' },
    ];
    const c = comparison(owner.position, score(index, pq, owner.position, -Infinity, reasons));
    const total = c.score + w.dcn.agree;
    const { rival, blocked } = dcnRival(index, pq, owner.position, c.score);
    reasons.push(...blockingNotes(blocked));
    if (rival) {
      reasons.push({
        field: 'dcn',
        result: 'disagree',
        weight: 0,
        note: 'best demographic candidate is another participant',
      });
      return {
        status: 'possible',
        tier: 'dcn',
        score: round(total),
        reasons,
        candidates: candidateList(index, [{ position: owner.position, score: total }, rival]),
      };
    }
    if (!c.confirmsDcn) {
      reasons.push({ field: 'dcn', result: 'disagree', weight: 0, note: 'not confirmed by birth date or name' });
      const ranked = rank(index, pq, t.possible, block(index, q, false), t.possible);
      return {
        status: 'possible',
        tier: 'dcn',
        score: round(total),
        reasons,
        candidates: candidateList(index, [
          { position: owner.position, score: total },
          ...ranked.filter((r) => r.score >= t.possible),
        ]),
      };
    }
    return {
      status: 'matched',
      tier: 'dcn',
      participantId: index.participants[owner.position]!.participantId,
      score: round(total),
      reasons,
      candidates: candidateList(index, [{ position: owner.position, score: total }]),
    };
  }

  // Demographics. A DCN that was sent but is on nobody's roster record counts against every candidate.
  const dcnPenalty = dcn.sent > 0 ? w.dcn.disagree : 0;
  const blocked = block(index, q, false);
  const blockingNote = blockingNotes(blocked);
  // The best candidate below `possible` explains a 'none' only while its evidence favours a match (0 or more).
  const ranked = rank(index, pq, Math.min(t.possible, t.possible - dcnPenalty), blocked, -dcnPenalty);
  const best = ranked[0];
  if (!best) {
    return {
      status: 'none',
      tier: 'demographics',
      score: 0,
      reasons: [
        ...dcn.reasons,
        ...(dcn.sent ? [{ field: 'dcn', result: 'disagree' as const, weight: 0, note: 'not on the roster' }] : []),
        ...blockingNote,
        blocked.count
          ? { field: 'decision', result: 'disagree', weight: 0, note: 'no candidate scores 0 or more' }
          : { field: 'blocking', result: 'missing', weight: 0, note: 'no candidate shares a blocking key' },
      ],
      candidates: [],
    };
  }
  const bestScore = best.score + dcnPenalty;
  const reasons: MatchReason[] = [...dcn.reasons];
  if (dcn.sent)
    reasons.push({ field: 'dcn', result: 'disagree', weight: round(dcnPenalty), note: 'not on the roster' });
  score(index, pq, best.position, -Infinity, reasons);
  reasons.push(...blockingNote);
  const runnerUp = ranked[1];
  const runnerScore = runnerUp ? runnerUp.score + dcnPenalty : -Infinity;
  const contested = runnerUp !== undefined && runnerScore >= t.possible && bestScore - runnerScore < t.margin;
  const shortlist = ranked
    .filter((r) => r.score + dcnPenalty >= t.possible)
    .map((r) => ({ position: r.position, score: r.score + dcnPenalty }));

  if (bestScore >= t.matched && best.strong && !contested) {
    return {
      status: 'matched',
      tier: 'demographics',
      participantId: index.participants[best.position]!.participantId,
      score: round(bestScore),
      reasons,
      candidates: candidateList(index, shortlist),
    };
  }
  if (bestScore >= t.possible) {
    if (bestScore >= t.matched && !best.strong)
      reasons.push({
        field: 'decision',
        result: 'disagree',
        weight: 0,
        note: 'two of family, given and birth date must agree (or the date, with a name missing)',
      });
    if (contested) reasons.push({ field: 'decision', result: 'partial', weight: 0, note: 'runner-up within margin' });
    return {
      status: 'possible',
      tier: 'demographics',
      score: round(bestScore),
      reasons,
      candidates: candidateList(index, shortlist),
    };
  }
  return { status: 'none', tier: 'demographics', score: round(bestScore), reasons, candidates: [] };
}
