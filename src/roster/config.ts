import { z } from 'zod';

/**
 * Matching configuration: Fellegi–Sunter m and u probabilities per comparison level (weight = log2(m/u)),
 * term-frequency adjustment for names, thresholds and blocking limits. Lives in mappings/matching.yaml,
 * validated by this one schema (documented in docs/roster.md).
 */
const mu = z
  .object({
    /** P(this level | the records are the same person). */
    m: z.number().gt(0).lt(1),
    /** P(this level | the records are two different people). */
    u: z.number().gt(0).lt(1),
  })
  .strict();

const levels = <K extends string>(keys: readonly [K, ...K[]]) =>
  z.object(Object.fromEntries(keys.map((k) => [k, mu])) as Record<K, typeof mu>).strict();

const termFrequency = z
  .object({
    enabled: z.boolean().default(true),
    /**
     * Pseudo-count of the smoothing toward the configured exact-agreement u: with a small roster the
     * observed frequencies say little, so u(value) = (count + prior·u) / (N + prior).
     */
    prior: z.number().min(0).default(10_000),
    /** Floor of u(value), so one rare name never outweighs everything else. */
    minU: z.number().gt(0).lt(1).default(0.00001),
  })
  .strict();

export const matchConfigSchema = z
  .object({
    version: z.literal(1),
    thresholds: z
      .object({
        /** Score at or above which a demographic match that passes the required agreements is `matched`. */
        matched: z.number(),
        /** Score at or above which the best candidate is `possible` (a review item). */
        possible: z.number(),
        /** The best candidate must lead the runner-up by at least this much, else `possible`. */
        margin: z.number().min(0),
        /**
         * Roster size the matched and possible thresholds are set for. A larger roster offers more people who
         * agree by chance (the prior odds of any one pair fall as 1/N), so both thresholds rise by
         * log2(size / referenceRosterSize); a smaller roster keeps them as they are.
         */
        referenceRosterSize: z.number().int().positive().default(100_000),
      })
      .strict()
      .refine((t) => t.possible <= t.matched, { message: 'possible must not exceed matched' }),
    /** Address, postal code and phone are household evidence: their weights together are capped at this. */
    contactCap: z.number().positive(),
    fields: z
      .object({
        family: levels(['exact', 'partial', 'previous', 'typo', 'fuzzy', 'disagree']),
        given: levels(['exact', 'nickname', 'middle', 'typo', 'fuzzy', 'initial', 'disagree']),
        birthDate: levels(['exact', 'swap', 'typo', 'disagree']),
        sex: levels(['agree', 'disagree']),
        suffix: levels(['agree', 'disagree']),
        address: levels(['agree', 'unit', 'similar', 'disagree']),
        postalCode: levels(['agree', 'disagree']),
        city: levels(['agree', 'disagree']),
        phone: levels(['agree', 'disagree']),
        ssnLast4: levels(['agree', 'disagree']),
        /** DCN tier: the sent DCN belongs to the candidate (agree) or the candidate has another DCN (disagree). */
        dcn: levels(['agree', 'disagree']),
      })
      .strict(),
    termFrequency: z
      .object({ family: termFrequency, given: termFrequency })
      .strict()
      .default({
        family: { enabled: true, prior: 10_000, minU: 0.00001 },
        given: { enabled: true, prior: 10_000, minU: 0.00001 },
      }),
    similarity: z
      .object({
        /** Jaro–Winkler at or above which two different names count as a typo of each other. */
        typoJaroWinkler: z.number().min(0).max(1).default(0.92),
        /** Jaro–Winkler at or above which (and below typoJaroWinkler) two names are `fuzzy`: a weaker level. */
        fuzzyJaroWinkler: z.number().min(0).max(1).default(0.8),
      })
      .strict()
      .default({ typoJaroWinkler: 0.92, fuzzyJaroWinkler: 0.8 }),
    blocking: z
      .object({
        /** At most this many candidates are scored per match (largest blocks are cut, a reason says so). */
        maxCandidates: z.number().int().positive().default(5_000),
        /**
         * A blocking key shared by more participants than this (a clinic's phone number, a placeholder birth
         * date) is left out of the index: it says little and would make every match that uses it slow.
         */
        maxBlock: z.number().int().positive().default(1_000),
        /**
         * The same for the keys without the birth date or without a name sound (both name sounds, a sound + an
         * initial, birth date + an initial, birth date + postal code, house number + postal code): common names, a
         * placeholder date or a large building would make them huge, and every candidate is scored.
         */
        maxWeakBlock: z.number().int().positive().default(50),
      })
      .strict()
      .default({ maxCandidates: 5_000, maxBlock: 1_000, maxWeakBlock: 50 }),
    /** Weights learned from the data at roster load (src/roster/learn-weights.ts). */
    learning: z
      .object({
        /** Expected share of false matches among `matched` decisions: sets the matched threshold. */
        falseMatchRate: z.number().gt(0).lt(0.5).default(0.0003),
        /** Posterior probability of the best candidate from which it goes to review. */
        reviewPosterior: z.number().gt(0).lt(1).default(0.5),
      })
      .strict()
      .default({ falseMatchRate: 0.0003, reviewPosterior: 0.5 }),
    /**
     * The twin signature: the best demographic candidate agrees on family name and birth date, the given name
     * disagrees (a different name, not a nickname, typo, initial or middle name). An enrolled twin looks like
     * this to the ADT of the other twin, and so does a true match whose given name was replaced.
     * `review-opposite-sex`: review when the ADT's sex and the candidate's are both known and differ; otherwise
     * the match stands, with a reason naming the signature. `review`: every twin signature goes to review.
     */
    twinSignature: z.enum(['review-opposite-sex', 'review']).default('review-opposite-sex'),
    /**
     * Identity from the birth date and the home when the names do not give it: the birth date agrees exactly, the
     * street address (house number and street) and postal code agree, and the names disagree or are missing (a
     * record whose names were replaced or mistyped beyond repair). `sole-resident`: enough for `matched` (the score
     * must still reach it) when no other participant on the roster has that house number and postal code, so a
     * group home, a nursing home or a family of several participants never matches this way. `off`: never.
     */
    homeIdentity: z.enum(['sole-resident', 'off']).default('sole-resident'),
    /** Nickname groups: every name of a group is equivalent to the others (Bill, William, Will, Billy). */
    nicknames: z.array(z.array(z.string().min(1)).min(2)).default([]),
  })
  .strict();

export type MatchConfig = z.infer<typeof matchConfigSchema>;
export type MatchConfigInput = z.input<typeof matchConfigSchema>;

export type FieldName = keyof MatchConfig['fields'];

/** log2(m/u) for each level of each field. */
export type WeightTable = { [F in FieldName]: Record<keyof MatchConfig['fields'][F], number> };

export function weightTable(config: MatchConfig): WeightTable {
  const out: Record<string, Record<string, number>> = {};
  for (const [field, lv] of Object.entries(config.fields)) {
    out[field] = {};
    for (const [level, p] of Object.entries(lv as Record<string, { m: number; u: number }>))
      out[field][level] = Math.log2(p.m / p.u);
  }
  return out as WeightTable;
}
