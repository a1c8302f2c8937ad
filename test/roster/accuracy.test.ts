import { describe, expect, it } from 'vitest';
import { accuracy, generateAdts, generateRoster } from '../../src/roster/generator.ts';
import { loadMatchConfig } from '../../src/roster/load-match-config.ts';
import { matchPatient } from '../../src/roster/match.ts';
import { buildRosterIndex } from '../../src/roster/roster-index.ts';

// Regression guard: thresholds a little under the goals (precision 0.999, recall 0.97, review ≤ 2%).
describe('matching accuracy on the seeded generator', () => {
  const roster = generateRoster({ participants: 20_000, seed: 11 });
  const index = buildRosterIndex(roster, loadMatchConfig('mappings/matching.yaml'));

  it('keeps precision, recall and the review rate of the demographics-only path', () => {
    const adts = generateAdts(roster, 6_000, { seed: 12, damage: { carriesDcn: 0 } });
    const a = accuracy(adts.map((x) => ({ truth: x.truth, ...matchPatient(index, x.input) })));
    expect(a.precision).toBeGreaterThanOrEqual(0.998);
    expect(a.recall).toBeGreaterThanOrEqual(0.965);
    expect(a.reviewRate).toBeLessThanOrEqual(0.025);
  });

  it('keeps precision and recall of the DCN path', () => {
    const adts = generateAdts(roster, 3_000, { seed: 13, damage: { carriesDcn: 1 } });
    const a = accuracy(adts.map((x) => ({ truth: x.truth, ...matchPatient(index, x.input) })));
    expect(a.precision).toBeGreaterThanOrEqual(0.999);
    expect(a.recall).toBeGreaterThanOrEqual(0.97);
    expect(a.reviewRate).toBeLessThanOrEqual(0.01);
  });
});
