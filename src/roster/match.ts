import { REC, streetZipKey, type RosterIndex } from './roster-index.ts';
import { compareDates, standardizeDcn } from './standardize.ts';
import type { MatchCandidate, MatchInput, MatchReason, MatchResult } from './types.ts';
import { block, blockCandidates, type Blocked } from './match-blocking.ts';
import {
  identifierTypeCodes,
  patientFeatures,
  prepare,
  SWAP_PENALTY,
  type Prepared,
  type QueryFeatures,
} from './match-query.ts';
import {
  comparison,
  comparisonLevels,
  DOB_OK,
  inexact,
  nameCeiling,
  prepareQuery,
  score,
  scoreCandidate,
  scoreNumbers,
  type Comparison,
  type ComparisonLevels,
} from './match-score.ts';

/**
 * Patient matching, pure and explainable. Tier 1: the Medicaid DCN (or an alias) confirmed by birth date or
 * name. Tier 2: demographics after standardisation, Fellegi–Sunter weights with term frequencies for names.
 * Reasons say field by field what agreed or disagreed, never a value. The query's features are made in
 * match-query, names compared in match-names, candidates scored in match-score and blocked in match-blocking;
 * this module ranks the candidates and decides.
 */

export { blockCandidates, comparisonLevels, patientFeatures, prepareQuery, scoreCandidate };
export type { Comparison, ComparisonLevels, Prepared, QueryFeatures };

/** Written by touch, so that its loads are not dropped as unused. */
let _touched = 0;

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

/** The highest score any participant could reach against this query (an upper bound, field by field). */
function bestPossible(index: RosterIndex, pq: Prepared): number {
  const q = pq.q;
  const best = inexact(index);
  let names = 0;
  for (const n of pq.names) {
    // The query's name ids were looked up once, by prepare.
    const f = Math.max(best.family, n.familyId >= 0 ? index.familyTfWeight[n.familyId]! : 0);
    const g = Math.max(best.given, n.givenId >= 0 ? index.givenTfWeight[n.givenId]! : 0);
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
  const ceiling = bestPossible(index, pq);
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
 * Whether the birth date and the home identify the best candidate when the names do not (`homeIdentity` in
 * matching.yaml): 'sole' when the roster holds no other participant at the candidate's house number and postal
 * code, 'shared' when it does (a group home, a household of participants: left to review), undefined when the
 * rule is off or the candidate has no birth date and home agreement.
 */
function homeIdentity(index: RosterIndex, best: Comparison): 'sole' | 'shared' | undefined {
  if (!best.home || index.config.homeIdentity === 'off') return undefined;
  const r = best.position * REC.stride;
  const house = index.rec[r + REC.house]!;
  const zip = index.rec[r + REC.zip]!;
  if (!house || !zip) return undefined;
  let others = 0;
  // A key left out as too common is a shared home too.
  const common = index.byStreetZip.lookup(streetZipKey(house, zip), (p) => {
    if (p !== best.position) others++;
  });
  return common || others > 0 ? 'shared' : 'sole';
}

/**
 * The twin signature of the best demographic candidate: family name and birth date agree (at some level), the
 * given name disagrees (the matcher's own level: a different name, not a nickname, typo, initial or middle
 * name). It is what an enrolled twin looks like to the ADT of the other twin, who is not enrolled, and what a
 * true match looks like whose given name was replaced (165 of Febrl's 2,381 true matches). `review` says whether the
 * policy (`twinSignature` in matching.yaml) sends it to review: always under `review`, and when the ADT's sex and
 * the candidate's are both known and differ under `review-opposite-sex` (the default). With the sexes differing, a
 * near given name (typo, fuzzy or initial level) is the signature too.
 */
function twinSignature(
  index: RosterIndex,
  pq: Prepared,
  best: Comparison,
): { review: boolean; note: string } | undefined {
  // A near given name (Daniel, Danielle) counts too when the sexes differ: opposite-sex twins' names often are.
  const near = best.given === 'typo' || best.given === 'fuzzy' || best.given === 'initial';
  if ((best.given !== 'disagree' && !near) || best.family === 'disagree' || best.family === 'missing') return undefined;
  if (!DOB_OK.has(best.birthDate)) return undefined;
  // Rare enough to score the candidate once more for its sex level.
  const sexDiffers = comparisonLevels(index, pq, best.position).sex === 'disagree';
  if (near && !sexDiffers) return undefined;
  return {
    review: sexDiffers || index.config.twinSignature === 'review',
    note: sexDiffers ? 'twin signature: given name and sex differ' : 'twin signature: given name differs',
  };
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

  const twin = twinSignature(index, pq, best);
  const byHome = !best.strong && bestScore >= t.matched && homeIdentity(index, best);
  const matchGrade = bestScore >= t.matched && (best.strong || byHome === 'sole') && !contested;
  if (matchGrade && !twin?.review) {
    if (twin) reasons.push({ field: 'decision', result: 'partial', weight: 0, note: twin.note });
    if (byHome)
      reasons.push({
        field: 'decision',
        result: 'partial',
        weight: 0,
        note: 'names do not agree: birth date and home do, and no other participant lives there',
      });
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
        note:
          byHome === 'shared'
            ? 'names do not agree: birth date and home do, but another participant lives there'
            : 'two of family, given and birth date must agree (or the date, with a name missing)',
      });
    if (contested) reasons.push({ field: 'decision', result: 'partial', weight: 0, note: 'runner-up within margin' });
    if (twin)
      reasons.push({ field: 'decision', result: matchGrade ? 'disagree' : 'partial', weight: 0, note: twin.note });
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
