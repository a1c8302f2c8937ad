import {
  dobFamilyKey,
  dobGivenKeys,
  dobInitialKey,
  dobZipKey,
  namesKey,
  soundInitialKey,
  streetZipKey,
  KEY_SALT,
  nameKey,
  type RosterIndex,
} from './roster-index.ts';
import { mixInt, type HashBlocks } from './hash-blocks.ts';
import { swappedDate, houseNumber } from './standardize.ts';
import type { QueryFeatures } from './match-query.ts';

/** Blocking: the candidate positions that share a hashed key with the query. */

export interface Blocked {
  /** Candidate positions in positions[0..count). */
  positions: Int32Array<ArrayBufferLike>;
  count: number;
  truncated: boolean;
  /** A query key was left out of the index as too common. */
  commonKey: boolean;
}

/** Written by the loops that touch memory ahead of use, so that their loads are not dropped as unused. */
let _touched = 0;

// Reusable candidate buffer (the matcher is synchronous, so one per index is safe).
const scratch = new WeakMap<RosterIndex, Blocked>();
// The block being filled (module state instead of closures: this runs for every candidate).
let filling: Blocked = { positions: new Int32Array(0), count: 0, truncated: false, commonKey: false };
let fillingMax = 0;
// The positions already in the block: a small open-addressing set (slot valid when its stamp is the current
// generation), which stays in cache where a stamp per participant would not.
let seenSlots = new Int32Array(1024);
let seenStamps = new Int32Array(1024);
let seenGeneration = 0;

function seenSlot(i: number): number {
  const mask = seenSlots.length - 1;
  let h = Math.imul(i, 0x9e3779b1) >>> 16;
  for (;;) {
    h &= mask;
    if (seenStamps[h] !== seenGeneration || seenSlots[h] === i) return h;
    h++;
  }
}

/** Doubles the seen set and puts the block's positions back in it. */
function growSeen(): void {
  seenSlots = new Int32Array(seenSlots.length * 2);
  seenStamps = new Int32Array(seenStamps.length * 2);
  for (let k = 0; k < filling.count; k++) {
    const h = seenSlot(filling.positions[k]!);
    seenStamps[h] = seenGeneration;
    seenSlots[h] = filling.positions[k]!;
  }
}

function addCandidate(i: number): boolean {
  const h = seenSlot(i);
  if (seenStamps[h] === seenGeneration) return true;
  const out = filling;
  if (out.count >= fillingMax) {
    out.truncated = true;
    return false;
  }
  seenStamps[h] = seenGeneration;
  seenSlots[h] = i;
  if (out.count === out.positions.length) {
    const grown = new Int32Array(out.positions.length * 2);
    grown.set(out.positions);
    out.positions = grown;
  }
  out.positions[out.count++] = i;
  if (out.count * 2 > seenSlots.length) growSeen();
  return true;
}

// The keys of the block being filled, looked up together by lookUpKeys.
const keyTables: HashBlocks[] = [];
const keyHashes: number[] = [];

function useKey(blocks: HashBlocks, key: number): void {
  keyTables.push(blocks);
  keyHashes.push(key);
}

/**
 * Looks up the keys in the order they were used. Their buckets are read first in one loop of independent
 * loads (see touch), then scanned.
 */
function lookUpKeys(): void {
  const n = keyHashes.length;
  let x = 0;
  for (let k = 0; k < n; k++) x ^= keyTables[k]!.touch(keyHashes[k]!);
  _touched = x;
  for (let k = 0; k < n; k++) if (keyTables[k]!.lookup(keyHashes[k]!, addCandidate)) filling.commonKey = true;
  keyTables.length = 0;
  keyHashes.length = 0;
}

const givenKeys: number[] = [];

/**
 * Candidate positions from the blocking keys. Every key holds a name, so blocks stay small whatever the
 * roster size: birth date (or its day/month swap) + family sound, birth date (or swap) + given sound or
 * nickname group, family sound + given initial + year, the same + month/day, and (unless `tight`) the phone.
 * The result is reused by the next call.
 */
export function block(index: RosterIndex, q: QueryFeatures, tight: boolean): Blocked {
  let st = scratch.get(index);
  if (!st) {
    st = { positions: new Int32Array(64), count: 0, truncated: false, commonKey: false };
    scratch.set(index, st);
  }
  if (seenGeneration > 2_000_000_000) {
    seenStamps.fill(0);
    seenGeneration = 0;
  }
  seenGeneration++;
  filling = st;
  filling.count = 0;
  filling.truncated = false;
  filling.commonKey = false;
  fillingMax = index.config.blocking.maxCandidates;
  if (q.dob) {
    const swapped = swappedDate(q.dob);
    const year = Math.floor(q.dob / 10000);
    const monthDay = q.dob % 10000;
    givenKeys.length = 0;
    for (const n of q.names) {
      for (let t = -1; t < n.familyTokens.length; t++) {
        // The whole family name, then each part of a compound one.
        if (t >= 0 && (n.familyTokens.length < 2 || n.familyTokens[t]!.length < 2)) continue;
        const f = t < 0 ? n.family : n.familyTokens[t]!;
        if (!f || (t >= 0 && f === n.family)) continue;
        useKey(index.byDobFamily, dobFamilyKey(f, q.dob));
        if (swapped) useKey(index.byDobFamily, dobFamilyKey(f, swapped));
        if (!n.given) continue;
        useKey(index.byNameYear, nameKey(f, n.given, year, KEY_SALT.nameYear));
        useKey(index.byNameMonthDay, nameKey(f, n.given, monthDay, KEY_SALT.nameMonthDay));
      }
      if (n.given) {
        dobGivenKeys(index.nicknames, n.given, q.dob, givenKeys);
        if (swapped) dobGivenKeys(index.nicknames, n.given, swapped, givenKeys);
      }
    }
    for (let k = 0; k < givenKeys.length; k++)
      if (givenKeys.indexOf(givenKeys[k]!) === k) useKey(index.byDobGiven, givenKeys[k]!);
  }
  if (!tight) {
    for (const p of q.phones) useKey(index.byPhone, mixInt(p, KEY_SALT.phone));
    // Keys that do not need a name and a date together, so that damage to one of each still meets.
    for (const n of q.names) {
      if (n.swapped) continue;
      if (q.dob && n.family) useKey(index.byDobInitial, dobInitialKey(n.family, 0, q.dob));
      if (q.dob && n.given) useKey(index.byDobInitial, dobInitialKey(n.given, 1, q.dob));
      if (!n.family || !n.given) continue;
      useKey(index.byNames, namesKey(n.family, n.given));
      for (let k = 0; k < q.addresses.length; k++) {
        const city = q.addresses[k]!.city;
        if (!city || q.addresses.findIndex((a) => a.city === city) < k) continue;
        useKey(index.bySoundInitial, soundInitialKey(n.family, n.given, 0, city));
        useKey(index.bySoundInitial, soundInitialKey(n.given, n.family, 1, city));
      }
    }
    for (const a of q.addresses) {
      const zip = a.zip ? Number(a.zip) : 0;
      if (!zip) continue;
      const house = houseNumber(a.street);
      if (house) useKey(index.byStreetZip, streetZipKey(house, zip));
      if (q.dob) useKey(index.byDobZip, dobZipKey(q.dob, zip));
    }
  }
  lookUpKeys();
  return filling;
}

/** Candidate positions from the blocking keys (for benchmarks and tests). */
export function blockCandidates(index: RosterIndex, q: QueryFeatures): { positions: number[]; truncated: boolean } {
  const b = block(index, q, false);
  return { positions: Array.from(b.positions.subarray(0, b.count)), truncated: b.truncated };
}
