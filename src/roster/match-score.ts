import { REC, SUFFIX_CODES, type RosterIndex } from './roster-index.ts';
import { compareDates, type DateAgreement } from './standardize.ts';
import type { MatchReason } from './types.ts';
import {
  compareFamily,
  compareGiven,
  familyCeiling,
  givenCeiling,
  type FamilyLevel,
  type GivenLevel,
} from './match-names.ts';
import { prepare, SWAP_PENALTY, type Prepared, type QueryFeatures } from './match-query.ts';

/** Scoring one candidate: Fellegi–Sunter weights field by field, upper bounds, and reasons. */

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
  /** The birth date agrees exactly, and so do the street address and postal code (see `homeIdentity`). */
  home: boolean;
}

const FAMILY_OK = new Set<FamilyLevel>(['exact', 'partial', 'previous', 'typo', 'fuzzy']);
const GIVEN_OK = new Set<GivenLevel>(['exact', 'nickname', 'middle', 'typo', 'fuzzy']);
export const DOB_OK = new Set<DateAgreement>(['exact', 'swap', 'typo']);

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

export function inexact(index: RosterIndex): Ceilings {
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
export function scoreNumbers(index: RosterIndex, pq: Prepared, i: number): number {
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
export function nameCeiling(index: RosterIndex, pq: Prepared, i: number): number {
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
export function score(index: RosterIndex, pq: Prepared, i: number, floor: number, reasons?: MatchReason[]): number {
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
 * say how often true matches disagree there. Both twins on the roster are within the margin: review; one twin
 * enrolled is the twin signature, decided in match.ts (`twinSignature` in matching.yaml).
 */
function isStrong(family: FamilyLevel, given: GivenLevel, birthDate: DateAgreement): boolean {
  const dob = DOB_OK.has(birthDate);
  if ((FAMILY_OK.has(family) ? 1 : 0) + (GIVEN_OK.has(given) ? 1 : 0) + (dob ? 1 : 0) >= 2) return true;
  // The birth date agrees and a name is missing (not different) while the other does not disagree either.
  return dob && ((family === 'missing' && given !== 'disagree') || (given === 'missing' && family !== 'disagree'));
}

/** The comparison of the candidate just scored. */
export function comparison(i: number, s: number): Comparison {
  return {
    position: i,
    score: s,
    family: last.family,
    given: last.given,
    birthDate: last.birthDate,
    strong: isStrong(last.family, last.given, last.birthDate),
    confirmsDcn: DOB_OK.has(last.birthDate) || (FAMILY_OK.has(last.family) && GIVEN_OK.has(last.given)),
    home:
      last.birthDate === 'exact' &&
      (last.address === 'agree' || last.address === 'similar') &&
      last.postalCode === 'agree',
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
