import type { FieldName, MatchConfig } from './config.ts';
import { mulberry32 } from './generator.ts';
import { blockCandidates, comparisonLevels, patientFeatures, prepareQuery, type ComparisonLevels } from './match.ts';
import { buildRosterIndex, type RosterIndex } from './roster-index.ts';
import type { MatchInput, Participant } from './types.ts';

/**
 * Weights learned from the data, the Fellegi–Sunter way as Splink does it:
 * - u (chance agreement) from random pairs of roster participants, who are different people;
 * - m (agreement among true matches) by expectation–maximisation over the candidate pairs that blocking gives
 *   for recent ADT demographics, starting from the configured m (mappings/matching.yaml);
 * - thresholds from the prior odds that a candidate is the person (the on-roster share over the roster size)
 *   and an expected false-match rate: `matched` where the posterior reaches 1 − rate.
 * Pure and deterministic for a seed. Names of fields and levels only, never values.
 */

/** Fields whose levels are learned (the DCN tier keeps its configured weights: the roster has no wrong DCNs). */
export const LEARNED_FIELDS = [
  'family',
  'given',
  'birthDate',
  'sex',
  'suffix',
  'address',
  'postalCode',
  'city',
  'phone',
  'ssnLast4',
] as const satisfies readonly (FieldName & keyof ComparisonLevels)[];
type LearnedField = (typeof LEARNED_FIELDS)[number];

export interface LearnOptions {
  /** Seeds the u sample and the perturbation of the starting m (two seeds must give the same weights). */
  seed?: number;
  /** Random roster pairs for u (default 300,000, fewer on a small roster). */
  uPairs?: number;
  /** Candidate pairs per ADT used by EM (the best-blocked first; default 30). */
  candidatesPerQuery?: number;
  maxIterations?: number;
  /** EM stops when no m moves by more than this (default 1e-6). */
  tolerance?: number;
  /** Expected share of false matches among `matched` decisions (default 3 in 10,000). */
  falseMatchRate?: number;
  /** Posterior probability from which a best candidate goes to review (default 0.5). */
  reviewPosterior?: number;
  /** Fewer candidate pairs than this: m stays as configured (default 500). */
  minPairs?: number;
}

export interface LearnedLevel {
  m: number;
  u: number;
  /** log2(m/u), rounded, for display. */
  weight: number;
}

export interface LearnedWeights {
  version: 1;
  fields: Record<LearnedField, Record<string, LearnedLevel>>;
  /** Share of EM's candidate pairs that are matches, and the matches per ADT it implies. */
  lambda: number;
  matchesPerQuery: number;
  rosterSize: number;
  queries: number;
  pairs: number;
  uPairs: number;
  iterations: number;
  converged: boolean;
  /**
   * True when too few candidate pairs were there for EM: m, u and the thresholds are then the configured ones (the
   * thresholds raised for the roster's size as the index raises them), since the yaml's weights and thresholds were
   * set together and a threshold learned for them would hold neither.
   */
  mFromConfig: boolean;
  thresholds: { matched: number; possible: number; margin: number; falseMatchRate: number; reviewPosterior: number };
}

type Counts = Record<LearnedField, Map<string, number>>;

function emptyCounts(): Counts {
  return Object.fromEntries(LEARNED_FIELDS.map((f) => [f, new Map<string, number>()])) as Counts;
}

/** A roster participant as an ADT would send them (for the random-pair sample). */
export function participantAsPatient(p: Participant): fhir4.Patient {
  const patient: fhir4.Patient = { resourceType: 'Patient' };
  const given = [p.givenName, ...(p.middleName ? [p.middleName] : [])].filter(Boolean);
  if (p.familyName || given.length)
    patient.name = [{ ...(p.familyName ? { family: p.familyName } : {}), ...(given.length ? { given } : {}) }];
  if (p.birthDate) patient.birthDate = p.birthDate;
  if (p.sex === 'F' || p.sex === 'M') patient.gender = p.sex === 'F' ? 'female' : 'male';
  if (p.address) {
    const a: fhir4.Address = {};
    if (p.address.line) a.line = [p.address.line];
    if (p.address.postalCode) a.postalCode = p.address.postalCode;
    if (p.address.city) a.city = p.address.city;
    patient.address = [a];
  }
  if (p.phone) patient.telecom = [{ system: 'phone', value: p.phone }];
  if (p.ssnLast4) patient.identifier = [{ system: 'http://hl7.org/fhir/sid/us-ssn', value: `00000${p.ssnLast4}` }];
  return patient;
}

function levelsOf(config: MatchConfig, f: LearnedField): string[] {
  return Object.keys(config.fields[f]);
}

/** u per level from random roster pairs; a field seen in fewer than 100 pairs keeps its configured u. */
function estimateU(
  index: RosterIndex,
  config: MatchConfig,
  rand: () => number,
  pairs: number,
): { u: Record<LearnedField, Record<string, number>>; sampled: number } {
  const n = index.size;
  const counts = emptyCounts();
  const queries = Math.min(n, 2_000);
  const perQuery = Math.max(1, Math.ceil(pairs / Math.max(1, queries)));
  let sampled = 0;
  for (let k = 0; k < queries && n > 1; k++) {
    const i = Math.floor(rand() * n);
    const pq = prepareQuery(index, patientFeatures(participantAsPatient(index.participants[i]!)));
    for (let t = 0; t < perQuery; t++) {
      const j = Math.floor(rand() * n);
      if (j === i) continue;
      const lv = comparisonLevels(index, pq, j);
      for (const f of LEARNED_FIELDS) {
        const l = lv[f];
        if (l !== 'missing') counts[f].set(l, (counts[f].get(l) ?? 0) + 1);
      }
      sampled++;
    }
  }
  const u = {} as Record<LearnedField, Record<string, number>>;
  for (const f of LEARNED_FIELDS) {
    let total = 0;
    for (const c of counts[f].values()) total += c;
    u[f] = {};
    for (const l of levelsOf(config, f)) {
      const configured = (config.fields[f] as Record<string, { u: number }>)[l]!.u;
      // Too few observations of the field say nothing; a level never seen is at most half an observation.
      u[f][l] = total < 100 ? configured : Math.min(0.999999, Math.max(counts[f].get(l) ?? 0, 0.5) / total);
    }
  }
  return { u, sampled };
}

/** Strength of the configured m as a prior, in pseudo-matches. */
const PRIOR_MATCHES = 50;

interface Pattern {
  levels: (number | -1)[];
  count: number;
}

/** Comparison patterns (level index per field, -1 missing) of the blocked candidate pairs of each query. */
function candidatePatterns(
  index: RosterIndex,
  config: MatchConfig,
  queries: readonly MatchInput[],
  perQuery: number,
): { patterns: Pattern[]; pairs: number } {
  const byKey = new Map<string, Pattern>();
  const levelIndex = LEARNED_FIELDS.map((f) => new Map(levelsOf(config, f).map((l, k) => [l, k])));
  let pairs = 0;
  for (const input of queries) {
    const q = patientFeatures(input.patient);
    const pq = prepareQuery(index, q);
    const { positions } = blockCandidates(index, q);
    for (const i of positions.slice(0, perQuery)) {
      const lv = comparisonLevels(index, pq, i);
      const levels = LEARNED_FIELDS.map((f, k) => (lv[f] === 'missing' ? -1 : (levelIndex[k]!.get(lv[f]) ?? -1)));
      const key = levels.join(',');
      const p = byKey.get(key);
      if (p) p.count++;
      else byKey.set(key, { levels, count: 1 });
      pairs++;
    }
  }
  return { patterns: [...byKey.values()], pairs };
}

/**
 * EM over the patterns: m and the blocked pairs' own u both free (blocked non-matches agree more often than
 * random pairs, so the random-pair u is used for the weights, not for the fit). Returns m per field and level.
 */
function expectationMaximisation(
  patterns: Pattern[],
  start: { m: number[][]; u: number[][]; lambda: number },
  prior: number[][],
  maxIterations: number,
  tolerance: number,
): { m: number[][]; lambda: number; iterations: number; converged: boolean } {
  let { m, u, lambda } = start;
  const F = m.length;
  let iterations = 0;
  let converged = false;
  for (; iterations < maxIterations && !converged; iterations++) {
    // MAP estimate: a Dirichlet prior of PRIOR_MATCHES pseudo-matches at the configured m, so a level no true
    // match showed in this sample (a phone that never changed in the feed) is rare, not impossible.
    const mNum = prior.map((lv) => lv.map((x) => x * PRIOR_MATCHES + 1e-9));
    const uNum = u.map((lv) => lv.map(() => 1e-9));
    let matchMass = 0;
    let total = 0;
    for (const p of patterns) {
      let lm = lambda;
      let lu = 1 - lambda;
      for (let f = 0; f < F; f++) {
        const l = p.levels[f]!;
        if (l < 0) continue;
        lm *= m[f]![l]!;
        lu *= u[f]![l]!;
      }
      const post = lm + lu > 0 ? lm / (lm + lu) : 0;
      const a = post * p.count;
      const b = (1 - post) * p.count;
      matchMass += a;
      total += p.count;
      for (let f = 0; f < F; f++) {
        const l = p.levels[f]!;
        if (l < 0) continue;
        mNum[f]![l]! += a;
        uNum[f]![l]! += b;
      }
    }
    const norm = (rows: number[][]) =>
      rows.map((lv) => {
        const s = lv.reduce((x, y) => x + y, 0);
        return lv.map((x) => x / s);
      });
    const mNext = norm(mNum);
    const uNext = norm(uNum);
    let delta = 0;
    for (let f = 0; f < F; f++)
      for (let l = 0; l < mNext[f]!.length; l++) delta = Math.max(delta, Math.abs(mNext[f]![l]! - m[f]![l]!));
    m = mNext;
    u = uNext;
    lambda = Math.min(1 - 1e-9, Math.max(1e-9, matchMass / Math.max(1, total)));
    converged = delta < tolerance;
  }
  return { m, lambda, iterations, converged };
}

/** Learns u from the roster and m from the candidate pairs of `queries` (recent ADT demographics). */
export function learnWeights(
  participants: readonly Participant[],
  config: MatchConfig,
  queries: readonly MatchInput[],
  options: LearnOptions = {},
): LearnedWeights {
  const seed = options.seed ?? 1;
  const rand = mulberry32(seed);
  const index = buildRosterIndex(participants, config);
  const n = index.size;
  const uPairs = Math.min(options.uPairs ?? 300_000, Math.max(1, (n * (n - 1)) / 2));
  const { u, sampled } = estimateU(index, config, rand, uPairs);

  const { patterns, pairs } = candidatePatterns(index, config, queries, options.candidatesPerQuery ?? 30);
  const minPairs = options.minPairs ?? 500;
  const configured = (f: LearnedField, key: 'm' | 'u') =>
    levelsOf(config, f).map((l) => (config.fields[f] as Record<string, { m: number; u: number }>)[l]![key]);
  const normalise = (xs: number[]) => {
    const s = xs.reduce((a, b) => a + b, 0);
    return xs.map((x) => x / s);
  };
  // The configured m, perturbed by the seed: EM must arrive at the same weights from different starts.
  const startM = LEARNED_FIELDS.map((f) =>
    normalise(configured(f, 'm').map((x) => x * (seed === 1 ? 1 : 0.5 + rand()))),
  );
  const startU = LEARNED_FIELDS.map((f) => normalise(levelsOf(config, f).map((l) => u[f][l]!)));
  const enough = pairs >= minPairs;
  const em = enough
    ? expectationMaximisation(
        patterns,
        { m: startM, u: startU, lambda: Math.min(0.5, queries.length / Math.max(1, pairs) / 2) },
        LEARNED_FIELDS.map((f) => normalise(configured(f, 'm'))),
        options.maxIterations ?? 500,
        options.tolerance ?? 1e-6,
      )
    : { m: LEARNED_FIELDS.map((f) => configured(f, 'm')), lambda: 0, iterations: 0, converged: false };

  const fields = {} as LearnedWeights['fields'];
  LEARNED_FIELDS.forEach((f, k) => {
    fields[f] = {};
    const seen = patterns.some((p) => p.levels[k]! >= 0);
    levelsOf(config, f).forEach((l, j) => {
      // A field no ADT carried (no phone in the feed) keeps its configured m and u: a roster-only u beside a
      // configured m would make weights neither source supports.
      const learnedHere = enough && seen;
      const m = Math.min(0.999999, Math.max(1e-6, learnedHere ? em.m[k]![j]! : configured(f, 'm')[j]!));
      const uu = learnedHere ? u[f][l]! : configured(f, 'u')[j]!;
      fields[f][l] = { m, u: uu, weight: Math.round(Math.log2(m / uu) * 100) / 100 };
    });
  });

  const matchesPerQuery = enough ? Math.min(1, Math.max(0.01, (em.lambda * pairs) / Math.max(1, queries.length))) : 1;
  const fmr = options.falseMatchRate ?? config.learning.falseMatchRate;
  const review = options.reviewPosterior ?? config.learning.reviewPosterior;
  // Prior odds that a given roster participant is the person of an ADT: matchesPerQuery / (N − 1).
  const priorBits = Math.log2(Math.max(1, n - 1) / matchesPerQuery);
  const t = config.thresholds;
  const raise = Math.max(0, Math.log2(n / t.referenceRosterSize));
  const matched = enough ? priorBits + Math.log2((1 - fmr) / fmr) : t.matched + raise;
  const possible = enough ? Math.min(matched, priorBits + Math.log2(review / (1 - review))) : t.possible + raise;
  return {
    version: 1,
    fields,
    lambda: em.lambda,
    matchesPerQuery,
    rosterSize: n,
    queries: queries.length,
    pairs,
    uPairs: sampled,
    iterations: em.iterations,
    converged: em.converged,
    mFromConfig: !enough,
    thresholds: {
      matched: round2(matched),
      possible: round2(possible),
      margin: config.thresholds.margin,
      falseMatchRate: fmr,
      reviewPosterior: review,
    },
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * The matching configuration with the learned m, u and thresholds in place of the configured ones. The
 * thresholds already hold the roster size (the prior), so the size raise of thresholds.referenceRosterSize is
 * switched off.
 */
export function applyLearnedWeights(config: MatchConfig, learned: LearnedWeights): MatchConfig {
  const fields = { ...config.fields } as Record<string, Record<string, { m: number; u: number }>>;
  for (const f of LEARNED_FIELDS) {
    const levels: Record<string, { m: number; u: number }> = {};
    for (const [l, v] of Object.entries(learned.fields[f] ?? {})) levels[l] = { m: v.m, u: v.u };
    if (Object.keys(levels).length) fields[f] = { ...fields[f], ...levels };
  }
  return {
    ...config,
    fields: fields as MatchConfig['fields'],
    thresholds: {
      matched: learned.thresholds.matched,
      possible: learned.thresholds.possible,
      margin: learned.thresholds.margin,
      referenceRosterSize: Math.max(1, learned.rosterSize),
    },
  };
}

/** One line per field: level weight (m, u), for `roster stats` and the benchmark. Names only, never values. */
export function formatLearnedWeights(learned: LearnedWeights): string[] {
  const lines = LEARNED_FIELDS.map(
    (f) =>
      `${f}: ${Object.entries(learned.fields[f])
        .map(([l, v]) => `${l} ${v.weight} (m ${v.m.toPrecision(3)}, u ${v.u.toPrecision(3)})`)
        .join(', ')}`,
  );
  lines.push(
    learned.mFromConfig
      ? `thresholds: matched ${learned.thresholds.matched}, possible ${learned.thresholds.possible} (as configured); EM not run (too few candidate pairs: ${learned.pairs} of ${learned.queries} ADTs): m, u and thresholds as configured`
      : `thresholds: matched ${learned.thresholds.matched}, possible ${learned.thresholds.possible} (false-match rate ${learned.thresholds.falseMatchRate}, review from posterior ${learned.thresholds.reviewPosterior}); EM ${learned.iterations} iterations, ${learned.converged ? 'converged' : 'NOT converged'} over ${learned.pairs} pairs of ${learned.queries} ADTs, ${learned.matchesPerQuery.toFixed(3)} matches per ADT; u from ${learned.uPairs} roster pairs`,
  );
  return lines;
}
