import { describe, expect, it } from 'vitest';
import { febrlSet } from '../../src/roster/febrl.ts';
import { accuracy } from '../../src/roster/generator.ts';
import { applyLearnedWeights, learnWeights, LEARNED_FIELDS } from '../../src/roster/learn-weights.ts';
import { loadFebrl } from '../../src/roster/load-febrl.ts';
import { loadMatchConfig } from '../../src/roster/load-match-config.ts';
import { blockCandidates, matchPatient, patientFeatures } from '../../src/roster/match.ts';
import { buildRosterIndex } from '../../src/roster/roster-index.ts';
import { validateParticipant } from '../../src/roster/validate.ts';

// The Febrl development set (../shared/corpus/febrl3): originals as the roster (a quarter of the people held
// off), the corrupted duplicates as demographic-only ADTs (no DCN, sex or phone). Data we did not generate.
const set = febrlSet(loadFebrl());
const config = loadMatchConfig('mappings/matching.yaml');
const adts = set.adts.map((a) => a.input);
const learned = learnWeights(set.roster, config, adts, { seed: 1, uPairs: 150_000 });
const index = buildRosterIndex(set.roster, applyLearnedWeights(config, learned));

describe('matching the Febrl development set', () => {
  it('loads the roster rows that lack a name part or a birth date', () => {
    const gaps = set.roster.filter((p) => !p.familyName || !p.givenName || !p.birthDate);
    expect(gaps.length).toBeGreaterThan(50);
    for (const p of gaps) expect(validateParticipant(p).errors).toEqual([]);
    for (const p of gaps) expect(index.participant(p.participantId)).toBeDefined();
  });

  it('meets in a block with the true participant for at least 99% of the ADTs on the roster', () => {
    let met = 0;
    let onRoster = 0;
    for (const a of set.adts) {
      if (!a.truth) continue;
      onRoster++;
      if (blockCandidates(index, patientFeatures(a.input.patient)).positions.includes(index.positionOf(a.truth))) met++;
    }
    expect(met / onRoster).toBeGreaterThanOrEqual(0.99);
  });

  it('keeps precision at 0.999 with recall ≥ 0.97 and review ≤ 2%, with weights learned from the data', () => {
    const a = accuracy(set.adts.map((x) => ({ truth: x.truth, ...matchPatient(index, x.input) })));
    expect(a.onRoster).toBeGreaterThan(2_000);
    expect(a.precision).toBeGreaterThanOrEqual(0.999);
    // The goal (its test asks 0.95 and 3%). Measured 0.9719 and 1.80%; before the home identity and the
    // false-match rate of 3 in 10,000: 0.9609 and 2.67%.
    expect(a.recall).toBeGreaterThanOrEqual(0.97);
    expect(a.reviewRate).toBeLessThanOrEqual(0.02);
  });

  it('converges to the same weights from two different starting points', () => {
    const other = learnWeights(set.roster, config, adts, { seed: 2, uPairs: 150_000 });
    expect(learned.converged).toBe(true);
    expect(other.converged).toBe(true);
    expect(learned.mFromConfig).toBe(false);
    for (const f of LEARNED_FIELDS)
      for (const [level, v] of Object.entries(learned.fields[f])) {
        // u comes from a random sample of roster pairs (seeded differently): m is what EM must agree on.
        if (v.m > 0.01) expect(Math.abs(other.fields[f][level]!.m - v.m), `${f} ${level}`).toBeLessThan(0.01);
      }
    expect(Math.abs(other.thresholds.matched - learned.thresholds.matched)).toBeLessThan(0.5);
  });

  it('sets the matched threshold from the expected false-match rate and the roster size', () => {
    const n = set.roster.length;
    const fmr = config.learning.falseMatchRate;
    const expected = Math.log2((n - 1) / learned.matchesPerQuery) + Math.log2((1 - fmr) / fmr);
    expect(fmr).toBe(0.0003);
    expect(learned.thresholds.falseMatchRate).toBe(fmr);
    expect(learned.thresholds.matched).toBeCloseTo(expected, 1);
    expect(index.thresholds.matched).toBeCloseTo(learned.thresholds.matched, 6);
  });

  it('a new deployment (no ADTs yet) matches exactly as the configured weights and thresholds do', () => {
    // Before: m and u as configured under a threshold learned for them (22.28 bits, not the yaml's 20) held 32 more
    // true matches in review (recall 0.9483, review 3.43%).
    const fresh = learnWeights(set.roster, config, [], { seed: 1, uPairs: 20_000 });
    expect(fresh.mFromConfig).toBe(true);
    expect(fresh.thresholds.matched).toBe(config.thresholds.matched);
    expect(fresh.thresholds.possible).toBe(config.thresholds.possible);
    const freshIndex = buildRosterIndex(set.roster, applyLearnedWeights(config, fresh));
    const configured = buildRosterIndex(set.roster, config);
    for (const x of set.adts) {
      const a = matchPatient(freshIndex, x.input);
      const b = matchPatient(configured, x.input);
      if (a.status !== b.status || a.participantId !== b.participantId) expect(a).toEqual(b);
    }
    const a = accuracy(set.adts.map((x) => ({ truth: x.truth, ...matchPatient(freshIndex, x.input) })));
    expect(a.recall).toBeGreaterThan(0.96);
  });
});
