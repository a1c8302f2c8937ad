import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateAdts, generateRoster } from '../../src/roster/generator.ts';
import { loadMatchConfig } from '../../src/roster/load-match-config.ts';
import {
  blockCandidates,
  demographicCandidates,
  matchPatient,
  patientFeatures,
  scoreCandidate,
} from '../../src/roster/match.ts';
import { fnv1a, HashBlocksBuilder } from '../../src/roster/hash-blocks.ts';
import { buildRosterIndex } from '../../src/roster/roster-index.ts';
import type { MatchInput, Participant } from '../../src/roster/types.ts';

const config = loadMatchConfig('mappings/matching.yaml');

function asAdt(p: Participant, over: Partial<{ given: string; phone: string; dcn: string }> = {}): MatchInput {
  return {
    patient: {
      resourceType: 'Patient',
      name: [{ family: p.familyName, given: [over.given ?? p.givenName] }],
      birthDate: p.birthDate,
      gender: p.sex === 'F' ? 'female' : 'male',
      ...(over.phone ? { telecom: [{ system: 'phone', value: over.phone }] } : {}),
    },
    medicaidIds: over.dcn ? [{ value: over.dcn, source: 'PID-3' }] : [],
  };
}

describe('hash blocks', () => {
  it('finds every position of a key, counts the largest blocks and leaves out keys over the cap', () => {
    const key = (k: number) => fnv1a(`key ${k}`);
    const b = new HashBlocksBuilder(4);
    for (let i = 0; i < 200; i++) b.add(key(i % 50), i); // 50 keys, 4 positions each
    for (let i = 0; i < 7; i++) b.add(key(999), 1_000 + i); // one key with 7 positions
    const capped = b.build(6);
    expect(capped.dropped).toEqual(new Set([key(999)]));
    expect(capped.count(key(999))).toBe(0);
    const seen: number[] = [];
    capped.forEach(key(17), (p) => {
      seen.push(p);
    });
    expect(seen.sort((x, y) => x - y)).toEqual([17, 67, 117, 167]);
    expect(capped.largest(2)).toEqual([4, 4]);
    expect(capped.entries).toBe(200);

    const all = new HashBlocksBuilder();
    for (let i = 0; i < 7; i++) all.add(key(999), i);
    all.add(key(5), 100);
    const uncapped = all.build();
    expect(uncapped.largest(3)).toEqual([7, 1]);
    expect(uncapped.dropped.size).toBe(0);
  });
});

describe('blocking keys', () => {
  it('does not make a candidate of everyone born on a crowded birth date', () => {
    // 3,000 people share one placeholder birth date; only those whose names sound alike are candidates.
    const roster = generateRoster({ participants: 3_000, seed: 5 }).map((p) => ({ ...p, birthDate: '1950-01-01' }));
    const index = buildRosterIndex(roster, config);
    const target = roster[1234]!;
    const { positions } = blockCandidates(index, patientFeatures(asAdt(target).patient));
    expect(positions).toContain(1234);
    expect(positions.length).toBeLessThan(60);
    expect(matchPatient(index, asAdt(target))).toMatchObject({
      status: 'matched',
      participantId: target.participantId,
    });
  });

  it('leaves out a key shared by more participants than maxBlock and says so', () => {
    const roster = generateRoster({ participants: 2_000, seed: 6 }).map((p, i) => ({
      ...p,
      phone: i < 1_500 ? '4175550100' : p.phone, // a clinic's number on 1,500 records
    }));
    const index = buildRosterIndex(roster, config);
    expect(index.blockStats().phone!.dropped).toBe(1);
    const target = roster[42]!;
    const r = matchPatient(index, asAdt(target, { phone: '417-555-0100' }));
    expect(r).toMatchObject({ status: 'matched', participantId: target.participantId });
    expect(r.reasons).toContainEqual(
      expect.objectContaining({ field: 'blocking', note: 'a key too common to block on was skipped' }),
    );
  });

  it('decides the same with the upper bounds (candidates scored best bound first) as with every candidate scored', () => {
    const roster = generateRoster({ participants: 20_000, seed: 7 });
    const index = buildRosterIndex(roster, config);
    const t = index.thresholds;
    for (const adt of generateAdts(roster, 1_500, { seed: 8, damage: { carriesDcn: 0 } })) {
      const r = matchPatient(index, adt.input);
      const { ranked } = demographicCandidates(index, patientFeatures(adt.input.patient));
      const expected = ranked
        .filter((c) => c.score >= t.possible)
        .slice(0, 5)
        .map((c) => index.participants[c.position]!.participantId);
      expect(r.candidates.map((c) => c.participantId)).toEqual(expected);
      // A 'none' reports its best candidate while the evidence favours a match at all (a score of 0 or more).
      if (ranked[0] && ranked[0].score >= 0) expect(r.score).toBeCloseTo(ranked[0].score, 1);
      else {
        expect(r).toMatchObject({ status: 'none', score: 0, candidates: [] });
        expect(r.reasons.at(-1)).toMatchObject(
          ranked[0] ? { field: 'decision', note: 'no candidate scores 0 or more' } : { field: 'blocking' },
        );
      }
    }
  });
});

describe('DCN tier rivals', () => {
  const roster = generateRoster({ participants: 20_000, seed: 9 });
  const index = buildRosterIndex(roster, config);

  it("sends a twin's DCN with the other twin's name and birth date to review", () => {
    const twins = roster
      .map((p, i) => [roster[i - 1], p] as const)
      .filter(([a, b]) => a && a.birthDate === b.birthDate && a.familyName === b.familyName);
    expect(twins.length).toBeGreaterThan(100);
    for (const [a, b] of twins) {
      const r = matchPatient(index, asAdt(b, { dcn: a!.dcn }));
      expect(r.status).toBe('possible');
      expect(r.candidates.map((c) => c.participantId).sort()).toEqual([a!.participantId, b.participantId].sort());
    }
  });

  it('matches each twin by demographics to itself, never to the other (same family, birth date, address, phone)', () => {
    const twins = roster
      .map((p, i) => [roster[i - 1], p] as const)
      .filter(([a, b]) => a && a.birthDate === b.birthDate && a.familyName === b.familyName);
    expect(twins.length).toBeGreaterThan(100);
    const atHome = (p: Participant): MatchInput => {
      const input = asAdt(p, p.phone ? { phone: p.phone } : {});
      input.patient.address = [
        { line: [p.address!.line!], city: p.address!.city!, postalCode: p.address!.postalCode! },
      ];
      return input;
    };
    for (const [a, b] of twins) {
      expect(matchPatient(index, atHome(b))).toMatchObject({ status: 'matched', participantId: b.participantId });
      expect(matchPatient(index, atHome(a!))).toMatchObject({ status: 'matched', participantId: a!.participantId });
    }
  });

  it("matches by DCN when the DCN owner's name and birth date come with it", () => {
    for (const p of roster.slice(0, 500)) {
      expect(matchPatient(index, asAdt(p, { dcn: p.dcn }))).toMatchObject({
        status: 'matched',
        tier: 'dcn',
        participantId: p.participantId,
      });
    }
  });
});

describe('a twin who is not enrolled while the other twin is (the twin signature)', () => {
  // The generator's twins share family, birth date, address and phone and differ in the given name. The roster
  // keeps the first twin of each pair; the second twin's ADT then agrees with the enrolled one on all but the
  // given name (two of family, given and birth date suffice for a match).
  const roster = generateRoster({ participants: 20_000, seed: 9 });
  const pairs = roster
    .map((p, i) => [roster[i - 1], p] as const)
    .filter((x): x is readonly [Participant, Participant] => {
      const [a, b] = x;
      return a !== undefined && a.birthDate === b.birthDate && a.familyName === b.familyName;
    });
  const absent = new Set(pairs.map(([, b]) => b.participantId));
  const enrolled = roster.filter((p) => !absent.has(p.participantId));
  const index = buildRosterIndex(enrolled, config);
  const reviewAll = buildRosterIndex(enrolled, { ...config, twinSignature: 'review' });
  const atHome = (p: Participant, sex: Participant['sex'] = p.sex): MatchInput => {
    const input = asAdt({ ...p, sex }, p.phone ? { phone: p.phone } : {});
    input.patient.address = [{ line: [p.address!.line!], city: p.address!.city!, postalCode: p.address!.postalCode! }];
    return input;
  };
  // The pairs whose given names the matcher finds different (not a nickname, typo, initial or middle name).
  const signature = pairs.filter(
    ([a, b]) =>
      scoreCandidate(index, patientFeatures(atHome(b).patient), index.positionOf(a.participantId)).given === 'disagree',
  );
  const other = (s: Participant['sex']): Participant['sex'] => (s === 'F' ? 'M' : 'F');

  it('finds the twins of the generator, nearly all with given names that disagree', () => {
    expect(pairs.length).toBeGreaterThan(100);
    expect(signature.length).toBeGreaterThan(pairs.length * 0.9);
  });

  it("sends the ADT of the absent twin to review when its sex is not the enrolled twin's, the enrolled twin a candidate", () => {
    for (const [a, b] of signature) {
      const r = matchPatient(index, atHome(b, other(a.sex)));
      expect(r.status, b.participantId).toBe('possible');
      expect(r.candidates.map((c) => c.participantId)).toContain(a.participantId);
      expect(r.reasons).toContainEqual(
        expect.objectContaining({
          field: 'decision',
          result: 'disagree',
          note: 'twin signature: given name and sex differ',
        }),
      );
    }
  });

  it('sends the absent twin to review when the given names are near (typo, fuzzy, initial) and the sexes differ', () => {
    const near = pairs.filter(([a, b]) =>
      ['typo', 'fuzzy', 'initial'].includes(
        scoreCandidate(index, patientFeatures(atHome(b).patient), index.positionOf(a.participantId)).given,
      ),
    );
    // Daniel and Danielle: two names a typo apart, the sexes differ.
    const dan = roster.find((p) => p.sex === 'M')!;
    const danielle: Participant = { ...dan, participantId: 'T-DANIELLE', givenName: 'DANIELLE', sex: 'F' };
    const daniel: Participant = { ...dan, givenName: 'DANIEL' };
    const withDaniel = buildRosterIndex(
      [...enrolled.filter((p) => p.participantId !== dan.participantId), daniel],
      config,
    );
    for (const [ix, a, b] of [
      ...near.map(([a, b]) => [index, a, { ...b, sex: other(a.sex) }] as const),
      [withDaniel, daniel, danielle] as const,
    ]) {
      const r = matchPatient(ix, atHome(b));
      expect(r.status, b.participantId).toBe('possible');
      expect(r.candidates.map((c) => c.participantId)).toContain(a.participantId);
      expect(r.reasons).toContainEqual(
        expect.objectContaining({ field: 'decision', note: 'twin signature: given name and sex differ' }),
      );
      // The same near name with the same sex is the same person with a typo: matched, unmarked.
      const same = matchPatient(ix, atHome({ ...b, sex: a.sex }));
      expect(same).toMatchObject({ status: 'matched', participantId: a.participantId });
      expect(same.reasons.some((x) => x.note?.startsWith('twin signature'))).toBe(false);
    }
  });

  it('matches the absent twin of the same sex to the enrolled one, marked, and sends it to review under `review`', () => {
    for (const [a, b] of signature) {
      const r = matchPatient(index, atHome(b));
      expect(r).toMatchObject({ status: 'matched', participantId: a.participantId });
      expect(r.reasons).toContainEqual(
        expect.objectContaining({ field: 'decision', result: 'partial', note: 'twin signature: given name differs' }),
      );
      const s = matchPatient(reviewAll, atHome(b));
      expect(s.status).toBe('possible');
      expect(s.candidates.map((c) => c.participantId)).toContain(a.participantId);
      expect(s.reasons).toContainEqual(
        expect.objectContaining({ field: 'decision', result: 'disagree', note: 'twin signature: given name differs' }),
      );
    }
  });

  it("still matches the enrolled twin's own ADT to itself, unmarked, under either policy", () => {
    for (const [a] of pairs) {
      for (const ix of [index, reviewAll]) {
        const r = matchPatient(ix, atHome(a));
        expect(r).toMatchObject({ status: 'matched', participantId: a.participantId });
        expect(r.reasons.some((x) => x.note?.startsWith('twin signature'))).toBe(false);
      }
    }
  });

  it('reads the policy from matching.yaml (default review-opposite-sex) and rejects an unknown one', () => {
    expect(config.twinSignature).toBe('review-opposite-sex');
    const dir = mkdtempSync(join(tmpdir(), 'twin-'));
    const yaml = readFileSync('mappings/matching.yaml', 'utf8');
    writeFileSync(join(dir, 'nicknames.csv'), readFileSync('mappings/nicknames.csv'));
    writeFileSync(join(dir, 'review.yaml'), yaml.replace(/^twinSignature: .*$/m, 'twinSignature: review'));
    expect(loadMatchConfig(join(dir, 'review.yaml')).twinSignature).toBe('review');
    writeFileSync(join(dir, 'none.yaml'), yaml.replace(/^twinSignature: .*$/m, ''));
    expect(loadMatchConfig(join(dir, 'none.yaml')).twinSignature).toBe('review-opposite-sex');
    writeFileSync(join(dir, 'bad.yaml'), yaml.replace(/^twinSignature: .*$/m, 'twinSignature: sometimes'));
    expect(() => loadMatchConfig(join(dir, 'bad.yaml'))).toThrow(/twinSignature/);
  });

  it('leaves a twin signature without sex on either side (Febrl) matched under the default policy', () => {
    for (const [a, b] of signature.slice(0, 50)) {
      const input = atHome(b);
      delete input.patient.gender;
      expect(matchPatient(index, input)).toMatchObject({ status: 'matched', participantId: a.participantId });
    }
  });
});

describe('the synthetic generator', () => {
  it('draws names with census-like frequencies', () => {
    const roster = generateRoster({ participants: 50_000, seed: 10 });
    const share = (pick: (p: Participant) => string, value: string) =>
      roster.filter((p) => pick(p) === value).length / roster.length;
    expect(share((p) => p.familyName, 'SMITH')).toBeGreaterThan(0.006);
    expect(share((p) => p.familyName, 'SMITH')).toBeLessThan(0.011);
    expect(share((p) => p.familyName, 'JOHNSON')).toBeLessThan(share((p) => p.familyName, 'SMITH'));
    expect(share((p) => p.givenName, 'JAMES')).toBeLessThan(0.025);
    expect(share((p) => p.givenName, 'MARY')).toBeLessThan(0.025);
    expect(new Set(roster.map((p) => p.familyName)).size).toBeGreaterThan(15_000);
  });
});

describe('thresholds and roster size', () => {
  const roster = generateRoster({ participants: 8_000, seed: 12 });
  const asIs = buildRosterIndex(roster, config);
  // The same roster, as if the thresholds had been set for a roster of 1,000: 8,000 raises them by 3 bits.
  const raised = buildRosterIndex(roster, {
    ...config,
    thresholds: { ...config.thresholds, referenceRosterSize: 1_000 },
  });

  it('keeps the configured thresholds up to the reference size and raises them by log2 of the excess', () => {
    expect(asIs.thresholds).toMatchObject({
      matched: config.thresholds.matched,
      possible: config.thresholds.possible,
    });
    expect(raised.thresholds.matched).toBeCloseTo(config.thresholds.matched + 3, 6);
    expect(raised.thresholds.possible).toBeCloseTo(config.thresholds.possible + 3, 6);
    expect(raised.thresholds.margin).toBe(config.thresholds.margin);
  });

  it('sends a demographic match that scores inside the raised band to review, with the same score', () => {
    const adts = generateAdts(roster, 3_000, { seed: 14, damage: { carriesDcn: 0 } });
    const inBand = adts
      .map((a) => ({ a, r: matchPatient(asIs, a.input) }))
      .filter(({ r }) => r.status === 'matched' && r.score < config.thresholds.matched + 3);
    expect(inBand.length).toBeGreaterThan(0);
    for (const { a, r } of inBand) {
      const s = matchPatient(raised, a.input);
      expect(s).toMatchObject({ status: 'possible', score: r.score });
    }
  });
});
