import { weightTable, type MatchConfig, type WeightTable } from './config.ts';
import { fnv1a, HashBlocks, HashBlocksBuilder, mixInt } from './hash-blocks.ts';
import { NicknameTable } from './nicknames.ts';
import {
  dateNumber,
  foldText,
  houseNumber,
  soundexCode,
  standardizeAddress,
  standardizeDcn,
  standardizeName,
  standardizePhone,
  type StdName,
} from './standardize.ts';
import type { Participant } from './types.ts';

export const SEX_CODE = { U: 0, F: 1, M: 2, O: 0 } as const;
export const SUFFIX_CODES = ['', 'JR', 'SR', 'II', 'III', 'IV', 'V'];

export const KEY_SALT = {
  dobFamily: 1,
  nameYear: 2,
  nameMonthDay: 3,
  phone: 4,
  dobGiven: 5,
  names: 6,
  streetZip: 7,
  dobZip: 8,
  dobInitial: 9,
  soundInitial: 10,
} as const;

/** A 32-bit key of two integers and a salt (collisions only add candidates, which are all scored). */
function key2(a: number, b: number, salt: number): number {
  return mixInt((mixInt(a, salt) ^ b) >>> 0, salt + 101);
}

/** Blocking key of a family name + given initial + a part of the birth date. */
export function nameKey(family: string, given: string, datePart: number, salt: number): number {
  return key2(soundexCode(family) * 32 + (given.charCodeAt(0) & 31), datePart, salt);
}

/** Blocking key of a full birth date + the sound of a family name. */
export function dobFamilyKey(family: string, dob: number): number {
  return key2(soundexCode(family), dob, KEY_SALT.dobFamily);
}

/** Blocking keys of a full birth date + a given name: its sound and each of its nickname groups. */
export function dobGivenKeys(nicknames: NicknameTable, given: string, dob: number, out: number[] = []): number[] {
  out.push(key2(soundexCode(given), dob, KEY_SALT.dobGiven));
  for (const g of nicknames.groupsOf(given) ?? []) out.push(key2(-1 - g, dob, KEY_SALT.dobGiven));
  return out;
}

/**
 * Blocking key of the sounds of both names, in either order and without the birth date: a typo in the date,
 * or names entered in each other's fields, still meet.
 */
export function namesKey(family: string, given: string): number {
  const a = soundexCode(family);
  const b = soundexCode(given);
  return key2(Math.min(a, b), Math.max(a, b), KEY_SALT.names);
}

/** Blocking key of a full birth date + the first letter of a name (family or given, told apart by `which`). */
export function dobInitialKey(name: string, which: 0 | 1, dob: number): number {
  return key2((name.charCodeAt(0) & 31) * 2 + which, dob, KEY_SALT.dobInitial);
}

/**
 * Blocking key of the sound of one name + the first letter of the other + the city (no date): a typo in one
 * name and the birth date. Without the city the key made blocks of dozens at every roster size and most of
 * the candidates of a match, for a few tenths of a per cent of the true pairs.
 */
export function soundInitialKey(sounded: string, initialOf: string, which: 0 | 1, city: number): number {
  return key2(soundexCode(sounded) * 64 + (initialOf.charCodeAt(0) & 31) * 2 + which, city, KEY_SALT.soundInitial);
}

/** Blocking key of a house number + postal code (no name: a misspelt name and date still meet at home). */
export function streetZipKey(house: number, zip: number): number {
  return key2(house, zip, KEY_SALT.streetZip);
}

/** Blocking key of a full birth date + postal code (no name). */
export function dobZipKey(dob: number, zip: number): number {
  return key2(dob, zip, KEY_SALT.dobZip);
}

/** Two independent 32-bit hashes of a standardised street (as int32), so equality is tested without the text. */
export function streetHashes(street: string): [number, number] {
  return street ? [fnv1a(street) | 0, fnv1a(street, 0x2545f491) | 1] : [0, 0];
}

/** Soundex code of the first word of a street after its house number (0 when there is none). */
export function streetSound(street: string): number {
  const words = street.split(' ');
  const w = words.find((x) => x && !/^\d/.test(x));
  return w ? soundexCode(w) : 0;
}

/** Hash of a city name (as int32; spaces and punctuation dropped), 0 when there is none. */
export function cityHash(city: string | undefined): number {
  const c = foldText(city).replace(/ /g, '');
  return c ? fnv1a(c) | 0 || 1 : 0;
}

/** Hash of a unit (as int32), 0 when there is none. */
export function unitHash(unit: string): number {
  return unit ? fnv1a(unit) | 0 || 1 : 0;
}

/** Slots of a participant's record in RosterIndex.rec. */
export const REC = {
  dob: 0,
  family: 1,
  given: 2,
  /** Name id of the first middle name, or -1. */
  middle: 3,
  street1: 4,
  street2: 5,
  unit: 6,
  zip: 7,
  /** The 10-digit phone as floor(phone / 100000) and phone % 100000; both 0 when there is none. */
  phoneHigh: 8,
  phoneLow: 9,
  /** Last four SSN digits, or -1. */
  ssn: 10,
  /** Sex code | suffix code << 8. */
  sexSuffix: 11,
  /** House number at the start of the street, or 0. */
  house: 12,
  /** Hash of the city (spaces dropped), or 0. */
  city: 13,
  /** Sound (Soundex code) of the street name after the house number, or 0. */
  streetSound: 14,
  /** REC_FLAG bits. */
  flags: 15,
  /** 16 slots: 64 bytes, one cache line a participant when the buffer is line-aligned. */
  stride: 16,
} as const;

/** Bits of REC.flags: what the name comparison must look up beyond the record (else it need not). */
export const REC_FLAG = {
  /** A compound family name (its spaced form is in familySpaced). */
  compoundFamily: 1,
  /** Previous names (in previous). */
  previousNames: 2,
} as const;

/** The letters of a name signature: bits 0–25 for A–Z, bit 26 for any other character. */
export const SIG_LETTERS = (1 << 27) - 1;
/** A name signature's length field (bits 27–31) holds the length up to this; this value means "this or more". */
export const SIG_LONG = 31;

/** The letter bit of a character code in a name signature. */
export function letterBit(code: number): number {
  const k = code - 65;
  return k >= 0 && k < 26 ? 1 << k : 1 << 26;
}

/**
 * The signature of a standardised name: the set of its letters and its length, enough for upper bounds on
 * Jaro–Winkler and edit distance without reading the string (which, at a million participants, is a cache
 * miss a candidate).
 */
export function nameSignature(s: string): number {
  let letters = 0;
  for (let k = 0; k < s.length; k++) letters |= letterBit(s.charCodeAt(k));
  return letters | (Math.min(s.length, SIG_LONG) << 27);
}

interface PreviousName {
  family: string;
  familySpaced: string;
  given: string;
}

/**
 * The roster prepared for matching: standardised fields in typed columns (names as ids into one table of
 * distinct names, streets as hashes) and hashed blocking keys that all include a name, so a match looks at a
 * few dozen candidates whether the roster holds 1,000 or 1,000,000 people. Immutable: a new roster builds a
 * new index, and the engine swaps the reference.
 */
export class RosterIndex {
  readonly size: number;
  readonly weights: WeightTable;
  readonly nicknames: NicknameTable;
  /** Roster version this index was built from (rosterVersion), when known. */
  readonly version: number | undefined;
  /** The configured thresholds, raised for a roster larger than thresholds.referenceRosterSize. */
  readonly thresholds: { matched: number; possible: number; margin: number };

  /** Distinct standardised names (family, given, middle), by id. */
  readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  /** Exact-agreement weights after the term-frequency adjustment, by name id (0 for a name no one carries so). */
  readonly familyTfWeight: Float32Array;
  readonly givenTfWeight: Float32Array;
  /** nameSignature of each name, by id. */
  readonly nameSig: Int32Array;
  /** Ids of the names (carried by someone) in each nickname group, by group id. */
  readonly nicknameGroupIds: (readonly number[])[];

  /**
   * Standardised fields, one record of REC.stride int32 slots per participant position (names as ids,
   * streets and units as hashes, the phone in two halves), so scoring a candidate reads one or two cache
   * lines instead of a dozen columns.
   */
  readonly rec: Int32Array;
  /** Family tokens joined with spaces, for the compound family names only (by position). */
  readonly familySpaced = new Map<number, string>();
  readonly previous = new Map<number, PreviousName[]>();

  readonly byDcn: HashBlocks;
  readonly byId: HashBlocks;
  readonly byDobFamily: HashBlocks;
  readonly byDobGiven: HashBlocks;
  readonly byNameYear: HashBlocks;
  readonly byNameMonthDay: HashBlocks;
  readonly byPhone: HashBlocks;
  readonly byNames: HashBlocks;
  readonly byStreetZip: HashBlocks;
  readonly byDobZip: HashBlocks;
  readonly byDobInitial: HashBlocks;
  readonly bySoundInitial: HashBlocks;

  constructor(
    readonly participants: readonly Participant[],
    readonly config: MatchConfig,
    options: { version?: number } = {},
  ) {
    const n = participants.length;
    this.size = n;
    this.version = options.version;
    this.weights = weightTable(config);
    const t = config.thresholds;
    const raise = Math.max(0, Math.log2(n / t.referenceRosterSize));
    this.thresholds = { matched: t.matched + raise, possible: t.possible + raise, margin: t.margin };
    this.nicknames = new NicknameTable(config.nicknames);
    this.rec = new Int32Array(n * REC.stride);
    const rec = this.rec;
    const familyCount: number[] = [];
    const givenCount: number[] = [];
    const dcn = new HashBlocksBuilder(n * 1.1);
    const id = new HashBlocksBuilder(n);
    const dobFamily = new HashBlocksBuilder(n * 1.1);
    const dobGiven = new HashBlocksBuilder(n * 3);
    const nameYear = new HashBlocksBuilder(n * 1.1);
    const nameMonthDay = new HashBlocksBuilder(n * 1.1);
    const phones = new HashBlocksBuilder(n);
    const namesB = new HashBlocksBuilder(n * 1.1);
    const streetZip = new HashBlocksBuilder(n);
    const dobZip = new HashBlocksBuilder(n);
    const dobInitial = new HashBlocksBuilder(n * 2);
    const soundInitial = new HashBlocksBuilder(n * 2);
    const givenKeys: number[] = [];

    for (let i = 0; i < n; i++) {
      const p = participants[i]!;
      const name = standardizeName(p.familyName, [p.givenName, p.middleName ?? ''].join(' '));
      const fid = this.intern(name.family);
      const gid = this.intern(name.given);
      const r = i * REC.stride;
      rec[r + REC.family] = fid;
      rec[r + REC.given] = gid;
      if (name.familyTokens.length > 1) {
        this.familySpaced.set(i, name.familyTokens.join(' '));
        rec[r + REC.flags]! |= REC_FLAG.compoundFamily;
      }
      rec[r + REC.middle] = name.middle.length ? this.intern(name.middle[0]!) : -1;
      const d = dateNumber(p.birthDate);
      rec[r + REC.dob] = d;
      const suffix = name.suffix ? SUFFIX_CODES.indexOf(name.suffix) : 0;
      rec[r + REC.sexSuffix] = (SEX_CODE[p.sex] ?? 0) | (suffix << 8);
      const addr = standardizeAddress(p.address?.line, p.address?.postalCode);
      [rec[r + REC.street1], rec[r + REC.street2]] = streetHashes(addr.street);
      rec[r + REC.unit] = unitHash(addr.unit);
      rec[r + REC.house] = houseNumber(addr.street);
      rec[r + REC.city] = cityHash(p.address?.city);
      rec[r + REC.streetSound] = streetSound(addr.street);
      rec[r + REC.zip] = addr.zip ? Number(addr.zip) : 0;
      const ph = standardizePhone(p.phone);
      const phone = ph ? Number(ph) : 0;
      rec[r + REC.phoneHigh] = Math.floor(phone / 100_000);
      rec[r + REC.phoneLow] = phone % 100_000;
      rec[r + REC.ssn] = p.ssnLast4 && /^\d{4}$/.test(p.ssnLast4) ? Number(p.ssnLast4) : -1;
      if (name.family) familyCount[fid] = (familyCount[fid] ?? 0) + 1;
      if (name.given) givenCount[gid] = (givenCount[gid] ?? 0) + 1;

      for (const value of [p.dcn, ...p.aliasDcns]) {
        const v = standardizeDcn(value);
        if (v) dcn.add(fnv1a(v), i);
      }
      id.add(fnv1a(p.participantId), i);
      const familyVariants = new Set<string>([name.family]);
      if (name.familyTokens.length > 1) for (const t of name.familyTokens) if (t.length > 1) familyVariants.add(t);
      const prev: PreviousName[] = [];
      for (const pn of p.previousNames) {
        const s: StdName = standardizeName(pn.family, pn.given ?? '');
        if (!s.family) continue;
        prev.push({ family: s.family, familySpaced: s.familyTokens.join(' '), given: s.given });
        familyVariants.add(s.family);
      }
      if (prev.length) {
        this.previous.set(i, prev);
        rec[r + REC.flags]! |= REC_FLAG.previousNames;
      }
      if (d) {
        for (const f of familyVariants) if (f) dobFamily.add(dobFamilyKey(f, d), i);
        if (name.given) {
          givenKeys.length = 0;
          for (const k of dobGivenKeys(this.nicknames, name.given, d, givenKeys)) dobGiven.add(k, i);
          const year = Math.floor(d / 10000);
          const monthDay = d % 10000;
          for (const f of familyVariants) {
            if (!f) continue;
            nameYear.add(nameKey(f, name.given, year, KEY_SALT.nameYear), i);
            nameMonthDay.add(nameKey(f, name.given, monthDay, KEY_SALT.nameMonthDay), i);
          }
        }
      }
      if (phone) phones.add(mixInt(phone, KEY_SALT.phone), i);
      if (name.given) for (const f of familyVariants) if (f) namesB.add(namesKey(f, name.given), i);
      if (d && name.family) dobInitial.add(dobInitialKey(name.family, 0, d), i);
      if (d && name.given) dobInitial.add(dobInitialKey(name.given, 1, d), i);
      const city = rec[r + REC.city]!;
      if (name.family && name.given && city) {
        soundInitial.add(soundInitialKey(name.family, name.given, 0, city), i);
        soundInitial.add(soundInitialKey(name.given, name.family, 1, city), i);
      }
      const zip = rec[r + REC.zip]!;
      if (zip) {
        const house = rec[r + REC.house]!;
        if (house) streetZip.add(streetZipKey(house, zip), i);
        if (d) dobZip.add(dobZipKey(d, zip), i);
      }
    }

    const tfWeights = (
      counts: number[],
      level: { m: number; u: number },
      tf: MatchConfig['termFrequency']['family'],
    ): Float32Array => {
      const out = new Float32Array(this.names.length);
      for (let k = 0; k < out.length; k++) {
        // A name nobody carries in this role never agrees exactly: 0 keeps the upper bounds tight.
        if (!counts[k]) continue;
        let u = level.u;
        if (tf.enabled) u = Math.max(tf.minU, ((counts[k] ?? 0) + tf.prior * level.u) / (n + tf.prior));
        out[k] = Math.log2(level.m / u);
      }
      return out;
    };
    this.familyTfWeight = tfWeights(familyCount, config.fields.family.exact, config.termFrequency.family);
    this.givenTfWeight = tfWeights(givenCount, config.fields.given.exact, config.termFrequency.given);
    this.nameSig = new Int32Array(this.names.length);
    for (let k = 0; k < this.names.length; k++) this.nameSig[k] = nameSignature(this.names[k]!);
    this.nicknameGroupIds = config.nicknames.map((_, g) =>
      this.nicknames
        .members(g)
        .map((m) => this.nameId(m))
        .filter((id) => id >= 0),
    );

    const cap = config.blocking.maxBlock;
    this.byDcn = dcn.build();
    this.byId = id.build();
    this.byDobFamily = dobFamily.build(cap);
    this.byDobGiven = dobGiven.build(cap);
    this.byNameYear = nameYear.build(cap);
    this.byNameMonthDay = nameMonthDay.build(cap);
    this.byPhone = phones.build(cap);
    this.byNames = namesB.build(config.blocking.maxWeakBlock);
    const weakCap = config.blocking.maxWeakBlock;
    this.byStreetZip = streetZip.build(weakCap);
    this.byDobZip = dobZip.build(weakCap);
    this.byDobInitial = dobInitial.build(weakCap);
    this.bySoundInitial = soundInitial.build(config.blocking.maxWeakBlock);
  }

  private intern(s: string): number {
    let k = this.nameIds.get(s);
    if (k === undefined) {
      k = this.names.length;
      this.names.push(s);
      this.nameIds.set(s, k);
    }
    return k;
  }

  /** Id of a standardised name, or -1 when no participant carries it. */
  nameId(s: string): number {
    return this.nameIds.get(s) ?? -1;
  }

  familyIdOf(i: number): number {
    return this.rec[i * REC.stride + REC.family]!;
  }

  givenIdOf(i: number): number {
    return this.rec[i * REC.stride + REC.given]!;
  }

  dobOf(i: number): number {
    return this.rec[i * REC.stride + REC.dob]!;
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

  /** Figures for benchmarks and `roster stats`: block sizes, keys left out as too common, bytes of the tables. */
  blockStats(k = 3): Record<string, { entries: number; largest: number[]; dropped: number; bytes: number }> {
    const out: Record<string, { entries: number; largest: number[]; dropped: number; bytes: number }> = {};
    for (const [name, b] of Object.entries({
      dcn: this.byDcn,
      dobFamily: this.byDobFamily,
      dobGiven: this.byDobGiven,
      nameYear: this.byNameYear,
      nameMonthDay: this.byNameMonthDay,
      phone: this.byPhone,
      names: this.byNames,
      streetZip: this.byStreetZip,
      dobZip: this.byDobZip,
      dobInitial: this.byDobInitial,
      soundInitial: this.bySoundInitial,
    }))
      out[name] = { entries: b.entries, largest: b.largest(k), dropped: b.dropped.size, bytes: b.bytes };
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
