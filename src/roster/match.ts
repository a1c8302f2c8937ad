import { KEY_SALT, nameKey, SEX_CODE, SUFFIX_CODES, type RosterIndex } from './roster-index.ts';
import { mixInt } from './hash-blocks.ts';
import {
  compareDates,
  dateNumber,
  jaroWinkler,
  standardizeAddress,
  standardizeDcn,
  standardizeName,
  standardizePhone,
  swappedDate,
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
  addresses: StdAddress[];
  phones: number[];
  ssn: number;
}

function identifierTypeCodes(id: fhir4.Identifier): string[] {
  return (id.type?.coding ?? []).filter((c) => !c.system || c.system === V2_0203).map((c) => c.code ?? '');
}

export function patientFeatures(patient: fhir4.Patient): QueryFeatures {
  const names: StdName[] = [];
  const ordered = [...(patient.name ?? [])].sort((a, b) => rankNameUse(a.use) - rankNameUse(b.use));
  for (const n of ordered) {
    const s = standardizeName(n.family, n.given ?? [], n.suffix ?? []);
    if (s.family || s.given) names.push(s);
  }
  const sex = patient.gender === 'female' ? SEX_CODE.F : patient.gender === 'male' ? SEX_CODE.M : 0;
  const addresses: StdAddress[] = [];
  for (const a of patient.address ?? []) {
    if (a.use === 'old') continue;
    const s = standardizeAddress((a.line ?? []).join(' '), a.postalCode);
    if (s.street || s.zip) addresses.push(s);
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

type FamilyLevel = 'exact' | 'partial' | 'previous' | 'typo' | 'disagree' | 'missing';
type GivenLevel = 'exact' | 'nickname' | 'middle' | 'typo' | 'initial' | 'disagree' | 'missing';

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

const FAMILY_OK = new Set<FamilyLevel>(['exact', 'partial', 'previous', 'typo']);
const GIVEN_OK = new Set<GivenLevel>(['exact', 'nickname', 'middle', 'typo']);
const DOB_OK = new Set<DateAgreement>(['exact', 'swap', 'typo']);

function tokensOverlap(aSpaced: string, bSpaced: string, aJoined: string, bJoined: string): boolean {
  if (aSpaced === aJoined && bSpaced === bJoined) return false; // both single-part names
  const a = aSpaced.split(' ');
  const b = bSpaced.split(' ');
  for (const x of a) if (x.length > 1 && (b.includes(x) || x === bJoined)) return true;
  for (const y of b) if (y.length > 1 && y === aJoined) return true;
  return false;
}

function compareFamily(index: RosterIndex, q: StdName, i: number): FamilyLevel {
  const c = index.family[i]!;
  if (!q.family || !c) return 'missing';
  if (q.family === c) return 'exact';
  const qSpaced = q.familyTokens.join(' ');
  if (tokensOverlap(qSpaced, index.familySpaced[i]!, q.family, c)) return 'partial';
  const prev = index.previous.get(i);
  if (prev)
    for (const p of prev)
      if (p.family === q.family || tokensOverlap(qSpaced, p.familySpaced, q.family, p.family)) return 'previous';
  if (q.family.charCodeAt(0) === c.charCodeAt(0) || q.family.length > 3) {
    if (jaroWinkler(q.family, c) >= index.config.similarity.typoJaroWinkler) return 'typo';
  }
  return 'disagree';
}

function compareGiven(index: RosterIndex, q: StdName, i: number): GivenLevel {
  const c = index.given[i]!;
  if (!q.given || !c) return 'missing';
  if (q.given === c) return 'exact';
  if (q.given.length > 1 && c.length > 1) {
    if (index.nicknames.equivalent(q.given, c)) return 'nickname';
    if (jaroWinkler(q.given, c) >= index.config.similarity.typoJaroWinkler) return 'typo';
    const cm = index.middle[i]!;
    if ((cm && cm.split(' ')[0] === q.given) || (q.middle.length && q.middle[0] === c)) return 'middle';
    return 'disagree';
  }
  return q.given.charAt(0) === c.charAt(0) ? 'initial' : 'disagree';
}

interface Scored {
  score: number;
  family: FamilyLevel;
  given: GivenLevel;
  birthDate: DateAgreement;
  reasons?: MatchReason[];
}

/** Scores one candidate; with `explain`, lists a reason per field. */
export function scoreCandidate(index: RosterIndex, q: QueryFeatures, i: number, explain = false): Scored {
  const w = index.weights;
  const reasons: MatchReason[] | undefined = explain ? [] : undefined;
  const say = (field: string, result: MatchReason['result'], weight: number, note?: string): void => {
    if (!reasons) return;
    const r: MatchReason = { field, result, weight: Math.round(weight * 100) / 100 };
    if (note) r.note = note;
    reasons.push(r);
  };

  // Names: the best-scoring pair of an input name and the roster name.
  let bestName = -Infinity;
  let family: FamilyLevel = 'missing';
  let given: GivenLevel = 'missing';
  let familyW = 0;
  let givenW = 0;
  let suffixQ: string | undefined;
  for (const name of q.names.length ? q.names : [{ family: '', familyTokens: [], given: '', middle: [] } as StdName]) {
    const f = compareFamily(index, name, i);
    const g = compareGiven(index, name, i);
    const fw = f === 'missing' ? 0 : f === 'exact' ? index.familyWeight[i]! : w.family[f];
    const gw = g === 'missing' ? 0 : g === 'exact' ? index.givenWeight[i]! : w.given[g];
    if (fw + gw > bestName) {
      bestName = fw + gw;
      family = f;
      given = g;
      familyW = fw;
      givenW = gw;
      suffixQ = name.suffix;
    }
  }
  let score = familyW + givenW;
  say('family', levelResult(family), familyW, levelNote(family, index.config.termFrequency.family.enabled));
  say('given', levelResult(given), givenW, levelNote(given, index.config.termFrequency.given.enabled));

  const birthDate = compareDates(q.dob, index.dob[i]!);
  const bw = birthDate === 'missing' ? 0 : w.birthDate[birthDate];
  score += bw;
  say(
    'birthDate',
    levelResult(birthDate),
    bw,
    birthDate === 'swap' ? 'day/month swapped' : birthDate === 'typo' ? 'one digit' : undefined,
  );

  const cs = index.sex[i]!;
  if (q.sex && cs) {
    const sw = q.sex === cs ? w.sex.agree : w.sex.disagree;
    score += sw;
    say('sex', q.sex === cs ? 'agree' : 'disagree', sw);
  } else say('sex', 'missing', 0);

  const cSuffix = index.suffix[i]!;
  if (suffixQ && cSuffix) {
    const agree = SUFFIX_CODES[cSuffix] === suffixQ;
    const sw = agree ? w.suffix.agree : w.suffix.disagree;
    score += sw;
    say('suffix', agree ? 'agree' : 'disagree', sw);
  }

  // Household evidence, capped together.
  let contact = 0;
  const street = index.street[i]!;
  let addrLevel: 'agree' | 'unit' | 'disagree' | 'missing' = 'missing';
  let zipLevel: 'agree' | 'disagree' | 'missing' = 'missing';
  const cz = index.zip[i]!;
  for (const a of q.addresses) {
    if (a.street && street) {
      if (a.street === street) {
        const unit = index.unit[i]!;
        const lv = a.unit && unit && a.unit !== unit ? 'unit' : 'agree';
        if (addrLevel !== 'agree') addrLevel = lv;
      } else if (addrLevel === 'missing') addrLevel = 'disagree';
    }
    if (a.zip && cz) {
      if (Number(a.zip) === cz) zipLevel = 'agree';
      else if (zipLevel === 'missing') zipLevel = 'disagree';
    }
  }
  const aw = addrLevel === 'missing' ? 0 : w.address[addrLevel];
  const zw = zipLevel === 'missing' ? 0 : w.postalCode[zipLevel];
  contact += aw + zw;
  say('address', levelResult(addrLevel), aw, addrLevel === 'unit' ? 'another unit' : undefined);
  say('postalCode', levelResult(zipLevel), zw);

  const cp = index.phone[i]!;
  let pw = 0;
  if (q.phones.length && cp) {
    const agree = q.phones.includes(cp);
    pw = agree ? w.phone.agree : w.phone.disagree;
    say('phone', agree ? 'agree' : 'disagree', pw);
  } else say('phone', 'missing', 0);
  contact += pw;
  if (contact > index.config.contactCap) {
    say('contact', 'partial', index.config.contactCap - contact, 'household evidence capped');
    contact = index.config.contactCap;
  }
  score += contact;

  const css = index.ssn[i]!;
  if (q.ssn >= 0 && css >= 0) {
    const sw = q.ssn === css ? w.ssnLast4.agree : w.ssnLast4.disagree;
    score += sw;
    say('ssnLast4', q.ssn === css ? 'agree' : 'disagree', sw);
  }

  const out: Scored = { score, family, given, birthDate };
  if (reasons) out.reasons = reasons;
  return out;
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

function toComparison(i: number, s: Scored): Comparison {
  return {
    position: i,
    score: s.score,
    family: s.family,
    given: s.given,
    birthDate: s.birthDate,
    strong: FAMILY_OK.has(s.family) && GIVEN_OK.has(s.given) && DOB_OK.has(s.birthDate),
    confirmsDcn: DOB_OK.has(s.birthDate) || (FAMILY_OK.has(s.family) && GIVEN_OK.has(s.given)),
  };
}

// Reusable de-duplication stamps (the matcher is synchronous, so one buffer per index is safe).
const stamps = new WeakMap<RosterIndex, { seen: Int32Array; generation: number }>();

/** Candidate positions from the blocking keys (exact and swapped birth date, name + year, name + month/day, phone). */
export function blockCandidates(index: RosterIndex, q: QueryFeatures): { positions: number[]; truncated: boolean } {
  let st = stamps.get(index);
  if (!st) {
    st = { seen: new Int32Array(index.size), generation: 0 };
    stamps.set(index, st);
  }
  const gen = ++st.generation;
  const seen = st.seen;
  const max = index.config.blocking.maxCandidates;
  const positions: number[] = [];
  let truncated = false;
  const add = (i: number): boolean => {
    if (seen[i] === gen) return true;
    if (positions.length >= max) {
      truncated = true;
      return false;
    }
    seen[i] = gen;
    positions.push(i);
    return true;
  };
  if (q.dob) {
    index.byDob.forEach(mixInt(q.dob, KEY_SALT.dob), add);
    const swapped = swappedDate(q.dob);
    if (swapped) index.byDob.forEach(mixInt(swapped, KEY_SALT.dob), add);
    const year = Math.floor(q.dob / 10000);
    const monthDay = q.dob % 10000;
    for (const n of q.names) {
      if (!n.given) continue;
      const families = new Set([
        n.family,
        ...(n.familyTokens.length > 1 ? n.familyTokens.filter((t) => t.length > 1) : []),
      ]);
      for (const f of families) {
        if (!f) continue;
        index.byNameYear.forEach(nameKey(f, n.given, year, KEY_SALT.nameYear), add);
        index.byNameMonthDay.forEach(nameKey(f, n.given, monthDay, KEY_SALT.nameMonthDay), add);
      }
    }
  }
  for (const p of q.phones) index.byPhone.forEach(mixInt(p, KEY_SALT.phone), add);
  if (st.generation > 2_000_000_000) {
    st.seen.fill(0);
    st.generation = 0;
  }
  return { positions, truncated };
}

/** Every blocked candidate scored, best first. */
export function demographicCandidates(
  index: RosterIndex,
  q: QueryFeatures,
): { ranked: Comparison[]; truncated: boolean } {
  const { positions, truncated } = blockCandidates(index, q);
  const ranked: Comparison[] = [];
  for (const i of positions) ranked.push(toComparison(i, scoreCandidate(index, q, i)));
  ranked.sort((a, b) => b.score - a.score || a.position - b.position);
  return { ranked, truncated };
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
  const t = index.config.thresholds;
  const w = index.weights;
  const dcn = lookupDcns(index, input);
  const { ranked, truncated } = demographicCandidates(index, q);
  const blockingNote: MatchReason[] = truncated
    ? [{ field: 'blocking', result: 'partial', weight: 0, note: 'candidate limit reached' }]
    : [];

  if (dcn.owners.length > 1) {
    const items = dcn.owners.map((o) => ({
      position: o.position,
      score: scoreCandidate(index, q, o.position).score + w.dcn.agree,
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
    const s = scoreCandidate(index, q, owner.position, true);
    const c = toComparison(owner.position, s);
    const score = s.score + w.dcn.agree;
    const reasons: MatchReason[] = [
      ...dcn.reasons,
      { field: 'dcn', result: 'agree', weight: round(w.dcn.agree), note: owner.alias ? 'alias DCN' : 'primary DCN' },
      ...(s.reasons ?? []),
      ...blockingNote,
    ];
    const rival = ranked.find(
      (r) => r.position !== owner.position && r.strong && r.score >= t.matched && r.score > c.score,
    );
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
        score: round(score),
        reasons,
        candidates: candidateList(index, [{ position: owner.position, score }, rival]),
      };
    }
    if (!c.confirmsDcn) {
      reasons.push({ field: 'dcn', result: 'disagree', weight: 0, note: 'not confirmed by birth date or name' });
      return {
        status: 'possible',
        tier: 'dcn',
        score: round(score),
        reasons,
        candidates: candidateList(index, [
          { position: owner.position, score },
          ...ranked.filter((r) => r.score >= t.possible),
        ]),
      };
    }
    return {
      status: 'matched',
      tier: 'dcn',
      participantId: index.participants[owner.position]!.participantId,
      score: round(score),
      reasons,
      candidates: candidateList(index, [{ position: owner.position, score }]),
    };
  }

  // Demographics. A DCN that was sent but is on nobody's roster record counts against every candidate.
  const dcnPenalty = dcn.sent > 0 ? w.dcn.disagree : 0;
  const best = ranked[0];
  if (!best) {
    return {
      status: 'none',
      tier: 'demographics',
      score: 0,
      reasons: [
        ...dcn.reasons,
        ...(dcn.sent ? [{ field: 'dcn', result: 'disagree' as const, weight: 0, note: 'not on the roster' }] : []),
        { field: 'blocking', result: 'missing', weight: 0, note: 'no candidate shares a blocking key' },
      ],
      candidates: [],
    };
  }
  const explained = scoreCandidate(index, q, best.position, true);
  const bestScore = best.score + dcnPenalty;
  const reasons: MatchReason[] = [...dcn.reasons];
  if (dcn.sent)
    reasons.push({ field: 'dcn', result: 'disagree', weight: round(dcnPenalty), note: 'not on the roster' });
  reasons.push(...(explained.reasons ?? []), ...blockingNote);
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
        note: 'family, given and birth date must all agree',
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
