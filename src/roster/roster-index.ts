import { weightTable, type MatchConfig, type WeightTable } from './config.ts';
import { fnv1a, HashBlocks, HashBlocksBuilder, mixInt } from './hash-blocks.ts';
import { NicknameTable } from './nicknames.ts';
import {
  dateNumber,
  soundex,
  standardizeAddress,
  standardizeDcn,
  standardizeName,
  standardizePhone,
  type StdName,
} from './standardize.ts';
import type { Participant } from './types.ts';

export const SEX_CODE = { U: 0, F: 1, M: 2, O: 0 } as const;
export const SUFFIX_CODES = ['', 'JR', 'SR', 'II', 'III', 'IV', 'V'];

export const KEY_SALT = { dob: 1, nameYear: 2, nameMonthDay: 3, phone: 4 } as const;

/** Blocking key of a family name + given initial + a part of the birth date. */
export function nameKey(family: string, given: string, datePart: number, salt: number): number {
  return fnv1a(`${soundex(family)}${given.charAt(0)}${datePart}`, salt * 0x9e3779b1);
}

interface PreviousName {
  family: string;
  familySpaced: string;
  given: string;
}

/**
 * The roster prepared for matching: standardised fields in typed columns and hashed blocking keys, so a
 * match looks at a few dozen candidates whether the roster holds 1,000 or 1,000,000 people. Immutable:
 * a new roster builds a new index, and the engine swaps the reference.
 */
export class RosterIndex {
  readonly size: number;
  readonly weights: WeightTable;
  readonly nicknames: NicknameTable;
  /** Roster version this index was built from (rosterVersion), when known. */
  readonly version: number | undefined;

  // Standardised columns, one slot per participant position.
  readonly family: string[];
  /** Family tokens joined with spaces (differs from `family` only for compound names). */
  readonly familySpaced: string[];
  readonly given: string[];
  readonly middle: string[];
  readonly suffix: Uint8Array;
  readonly dob: Int32Array;
  readonly sex: Uint8Array;
  readonly street: string[];
  readonly unit: string[];
  readonly zip: Int32Array;
  readonly phone: Float64Array;
  readonly ssn: Int16Array;
  /** Exact-agreement weights after the term-frequency adjustment. */
  readonly familyWeight: Float32Array;
  readonly givenWeight: Float32Array;
  readonly previous = new Map<number, PreviousName[]>();

  readonly byDcn: HashBlocks;
  readonly byId: HashBlocks;
  readonly byDob: HashBlocks;
  readonly byNameYear: HashBlocks;
  readonly byNameMonthDay: HashBlocks;
  readonly byPhone: HashBlocks;

  constructor(
    readonly participants: readonly Participant[],
    readonly config: MatchConfig,
    options: { version?: number } = {},
  ) {
    const n = participants.length;
    this.size = n;
    this.version = options.version;
    this.weights = weightTable(config);
    this.nicknames = new NicknameTable(config.nicknames);
    this.family = new Array<string>(n);
    this.familySpaced = new Array<string>(n);
    this.given = new Array<string>(n);
    this.middle = new Array<string>(n);
    this.street = new Array<string>(n);
    this.unit = new Array<string>(n);
    this.suffix = new Uint8Array(n);
    this.dob = new Int32Array(n);
    this.sex = new Uint8Array(n);
    this.zip = new Int32Array(n);
    this.phone = new Float64Array(n);
    this.ssn = new Int16Array(n).fill(-1);
    this.familyWeight = new Float32Array(n);
    this.givenWeight = new Float32Array(n);

    const strings = new Map<string, string>();
    const intern = (s: string): string => {
      const hit = strings.get(s);
      if (hit !== undefined) return hit;
      strings.set(s, s);
      return s;
    };
    const familyCount = new Map<string, number>();
    const givenCount = new Map<string, number>();
    const dcn = new HashBlocksBuilder(n * 1.1);
    const id = new HashBlocksBuilder(n);
    const dob = new HashBlocksBuilder(n);
    const nameYear = new HashBlocksBuilder(n * 1.1);
    const nameMonthDay = new HashBlocksBuilder(n * 1.1);
    const phone = new HashBlocksBuilder(n);

    for (let i = 0; i < n; i++) {
      const p = participants[i]!;
      const name = standardizeName(p.familyName, [p.givenName, p.middleName ?? ''].join(' '));
      this.family[i] = intern(name.family);
      this.familySpaced[i] = name.familyTokens.length > 1 ? intern(name.familyTokens.join(' ')) : this.family[i]!;
      this.given[i] = intern(name.given);
      this.middle[i] = intern(name.middle.join(' '));
      this.suffix[i] = name.suffix ? SUFFIX_CODES.indexOf(name.suffix) : 0;
      const d = dateNumber(p.birthDate);
      this.dob[i] = d;
      this.sex[i] = SEX_CODE[p.sex] ?? 0;
      const addr = standardizeAddress(p.address?.line, p.address?.postalCode);
      this.street[i] = addr.street;
      this.unit[i] = addr.unit ? intern(addr.unit) : '';
      this.zip[i] = addr.zip ? Number(addr.zip) : 0;
      const ph = standardizePhone(p.phone);
      this.phone[i] = ph ? Number(ph) : 0;
      if (p.ssnLast4 && /^\d{4}$/.test(p.ssnLast4)) this.ssn[i] = Number(p.ssnLast4);
      if (name.family) familyCount.set(name.family, (familyCount.get(name.family) ?? 0) + 1);
      if (name.given) givenCount.set(name.given, (givenCount.get(name.given) ?? 0) + 1);

      for (const value of [p.dcn, ...p.aliasDcns]) {
        const v = standardizeDcn(value);
        if (v) dcn.add(fnv1a(v), i);
      }
      id.add(fnv1a(p.participantId), i);
      if (d) {
        dob.add(mixInt(d, KEY_SALT.dob), i);
      }
      const familyVariants = new Set<string>([name.family]);
      if (name.familyTokens.length > 1) for (const t of name.familyTokens) if (t.length > 1) familyVariants.add(t);
      const prev: PreviousName[] = [];
      for (const pn of p.previousNames) {
        const s: StdName = standardizeName(pn.family, pn.given ?? '');
        if (!s.family) continue;
        prev.push({ family: intern(s.family), familySpaced: intern(s.familyTokens.join(' ')), given: intern(s.given) });
        familyVariants.add(s.family);
      }
      if (prev.length) this.previous.set(i, prev);
      if (d && name.given) {
        const year = Math.floor(d / 10000);
        const monthDay = d % 10000;
        for (const f of familyVariants) {
          if (!f) continue;
          nameYear.add(nameKey(f, name.given, year, KEY_SALT.nameYear), i);
          nameMonthDay.add(nameKey(f, name.given, monthDay, KEY_SALT.nameMonthDay), i);
        }
      }
      if (this.phone[i]) phone.add(mixInt(this.phone[i]!, KEY_SALT.phone), i);
    }

    const tfWeight = (
      counts: Map<string, number>,
      names: string[],
      out: Float32Array,
      level: { m: number; u: number },
      tf: MatchConfig['termFrequency']['family'],
    ): void => {
      const cache = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const name = names[i]!;
        let w = cache.get(name);
        if (w === undefined) {
          let u = level.u;
          if (tf.enabled) u = Math.max(tf.minU, ((counts.get(name) ?? 0) + tf.prior * level.u) / (n + tf.prior));
          w = Math.log2(level.m / u);
          cache.set(name, w);
        }
        out[i] = w;
      }
    };
    tfWeight(familyCount, this.family, this.familyWeight, config.fields.family.exact, config.termFrequency.family);
    tfWeight(givenCount, this.given, this.givenWeight, config.fields.given.exact, config.termFrequency.given);

    this.byDcn = dcn.build();
    this.byId = id.build();
    this.byDob = dob.build();
    this.byNameYear = nameYear.build();
    this.byNameMonthDay = nameMonthDay.build();
    this.byPhone = phone.build();
  }

  /** Position of a participant id, or -1. */
  positionOf(participantId: string): number {
    let found = -1;
    this.byId.forEach(fnv1a(participantId), (i) => {
      if (this.participants[i]!.participantId === participantId) {
        found = i;
        return false;
      }
      return true;
    });
    return found;
  }

  participant(participantId: string): Participant | undefined {
    const i = this.positionOf(participantId);
    return i < 0 ? undefined : this.participants[i];
  }

  /** Positions of the participants who hold this DCN as primary or alias. */
  dcnOwners(dcn: string): { position: number; alias: boolean }[] {
    const out: { position: number; alias: boolean }[] = [];
    this.byDcn.forEach(fnv1a(dcn), (i) => {
      const p = this.participants[i]!;
      if (standardizeDcn(p.dcn) === dcn) out.push({ position: i, alias: false });
      else if (p.aliasDcns.some((a) => standardizeDcn(a) === dcn)) out.push({ position: i, alias: true });
    });
    return out;
  }

  /** Figures for benchmarks and `roster stats`: block sizes and bytes of the key tables. */
  blockStats(k = 3): Record<string, { entries: number; largest: number[]; bytes: number }> {
    const out: Record<string, { entries: number; largest: number[]; bytes: number }> = {};
    for (const [name, b] of Object.entries({
      dcn: this.byDcn,
      dob: this.byDob,
      nameYear: this.byNameYear,
      nameMonthDay: this.byNameMonthDay,
      phone: this.byPhone,
    }))
      out[name] = { entries: b.entries, largest: b.largest(k), bytes: b.bytes };
    return out;
  }
}

export function buildRosterIndex(
  participants: readonly Participant[],
  config: MatchConfig,
  options: { version?: number } = {},
): RosterIndex {
  return new RosterIndex(participants, config, options);
}
