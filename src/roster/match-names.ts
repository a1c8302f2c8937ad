import { REC, REC_FLAG, SIG_LETTERS, SIG_LONG, type RosterIndex } from './roster-index.ts';
import { jaroWinkler, withinOneEdit } from './standardize.ts';
import type { QueryName } from './match-query.ts';

/**
 * Name comparison levels and their ceilings: ids, name signatures and record flags settle most pairs without
 * reading a string.
 */

export type FamilyLevel = 'exact' | 'partial' | 'previous' | 'typo' | 'fuzzy' | 'disagree' | 'missing';
export type GivenLevel = 'exact' | 'nickname' | 'middle' | 'typo' | 'fuzzy' | 'initial' | 'disagree' | 'missing';

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
export function familyCeiling(index: RosterIndex, q: QueryName, cf: number, flags: number): number {
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
export function givenCeiling(index: RosterIndex, q: QueryName, cg: number, cm: number): number {
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
export function compareFamily(index: RosterIndex, q: QueryName, i: number): FamilyLevel {
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
export function compareGiven(index: RosterIndex, q: QueryName, i: number): GivenLevel {
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
