/**
 * A compact multimap from 32-bit key hashes to participant positions (CSR layout in typed arrays), so a
 * roster of a million people costs a few bytes per key instead of a JavaScript Map entry. Hash collisions
 * only add candidates; the caller verifies every candidate.
 */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mixes an integer key (a date number, a phone number) into a 32-bit hash. */
export function mixInt(x: number, salt: number): number {
  let h = (Math.floor(x / 4294967296) ^ (x >>> 0) ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class HashBlocksBuilder {
  private hashes: Uint32Array;
  private positions: Int32Array;
  private count = 0;

  constructor(expected = 1024) {
    this.hashes = new Uint32Array(Math.max(16, expected));
    this.positions = new Int32Array(Math.max(16, expected));
  }

  add(hash: number, position: number): void {
    if (this.count === this.hashes.length) {
      const h = new Uint32Array(this.hashes.length * 2);
      h.set(this.hashes);
      this.hashes = h;
      const p = new Int32Array(this.positions.length * 2);
      p.set(this.positions);
      this.positions = p;
    }
    this.hashes[this.count] = hash >>> 0;
    this.positions[this.count] = position;
    this.count++;
  }

  /**
   * Packs the entries. A key with more than maxBlock positions is a stop word for blocking (a shared clinic
   * phone number, a placeholder birth date): it is left out, and the block remembers its hash so the matcher
   * can say that a key was skipped: in `dropped`, and as a marker entry (position -1) at the start of its
   * bucket, so that a lookup learns it from the bucket it reads anyway.
   */
  build(maxBlock = Infinity): HashBlocks {
    const n = this.count;
    const src = this.hashes;
    // About four entries a bucket: the offsets cost one byte an entry, and a lookup scans one cache line.
    let buckets = 16;
    while (buckets * 4 < n) buckets *= 2;
    const mask = buckets - 1;
    const dropped = new Set<number>();
    if (Number.isFinite(maxBlock)) {
      const perBucket = new Int32Array(buckets);
      for (let i = 0; i < n; i++) perBucket[src[i]! & mask]!++;
      const sizes = new Map<number, number>();
      for (let i = 0; i < n; i++)
        if (perBucket[src[i]! & mask]! > maxBlock) sizes.set(src[i]!, (sizes.get(src[i]!) ?? 0) + 1);
      for (const [h, c] of sizes) if (c > maxBlock) dropped.add(h);
    }
    const offsets = new Int32Array(buckets + 1);
    let kept = dropped.size;
    for (const h of dropped) offsets[(h & mask) + 1]!++;
    for (let i = 0; i < n; i++) {
      if (dropped.size && dropped.has(src[i]!)) continue;
      offsets[(src[i]! & mask) + 1]!++;
      kept++;
    }
    for (let b = 0; b < buckets; b++) offsets[b + 1]! += offsets[b]!;
    const fill = offsets.slice(0, buckets);
    // The bucket holds the low bits of a hash; each entry keeps the high 16 bits to tell keys apart.
    const high = new Uint16Array(kept);
    const positions = new Int32Array(kept);
    for (const h of dropped) {
      const at = fill[h & mask]!++;
      high[at] = h >>> 16;
      positions[at] = -1;
    }
    for (let i = 0; i < n; i++) {
      const h = src[i]!;
      if (dropped.size && dropped.has(h)) continue;
      const at = fill[h & mask]!++;
      high[at] = h >>> 16;
      positions[at] = this.positions[i]!;
    }
    this.hashes = new Uint32Array(0);
    this.positions = new Int32Array(0);
    this.count = 0;
    return new HashBlocks(mask, offsets, high, positions, dropped);
  }
}

export class HashBlocks {
  constructor(
    private readonly mask: number,
    private readonly offsets: Int32Array,
    /** High 16 bits of each entry's hash (the bucket holds the low bits). */
    private readonly high: Uint16Array,
    private readonly positions: Int32Array,
    /** Hashes of the keys left out by build(maxBlock). */
    readonly dropped: ReadonlySet<number> = new Set(),
  ) {}

  /** Calls fn for each position stored under hash; stops early when fn returns false. */
  forEach(hash: number, fn: (position: number) => boolean | void): void {
    // A left-out key has only its marker in the bucket, so lookup's early return skips no position.
    this.lookup(hash, fn);
  }

  /**
   * Reads the start of hash's bucket and returns a value of it: a loop of these over several keys lets the
   * memory fetches overlap before the buckets are scanned.
   */
  touch(hash: number): number {
    const at = this.offsets[(hash >>> 0) & this.mask]!;
    return at < this.positions.length ? this.high[at]! ^ this.positions[at]! : at;
  }

  /**
   * Like forEach, but a key left out as too common calls nothing and returns true. One bucket read: the
   * markers of left-out keys come first in their bucket (the set is asked only when a marker's bits agree).
   */
  lookup(hash: number, fn: (position: number) => boolean | void): boolean {
    const h = hash >>> 0;
    const b = h & this.mask;
    const top = h >>> 16;
    const end = this.offsets[b + 1]!;
    for (let i = this.offsets[b]!; i < end; i++) {
      if (this.high[i] !== top) continue;
      const p = this.positions[i]!;
      if (p < 0) {
        if (this.dropped.has(h)) return true;
      } else if (fn(p) === false) return false;
    }
    return false;
  }

  count(hash: number): number {
    let n = 0;
    this.forEach(hash, () => {
      n++;
    });
    return n;
  }

  /** Sizes of the largest blocks (distinct hashes), largest first. */
  largest(k: number): number[] {
    const top: number[] = [];
    for (let b = 0; b + 1 < this.offsets.length; b++) {
      const size = this.offsets[b + 1]! - this.offsets[b]!;
      if (size === 0 || (top.length >= k && size <= top[top.length - 1]!)) continue;
      const sizes = new Map<number, number>();
      for (let i = this.offsets[b]!; i < this.offsets[b + 1]!; i++)
        if (this.positions[i]! >= 0) sizes.set(this.high[i]!, (sizes.get(this.high[i]!) ?? 0) + 1);
      for (const c of sizes.values()) {
        top.push(c);
        top.sort((x, y) => y - x);
        if (top.length > k) top.pop();
      }
    }
    return top;
  }

  get entries(): number {
    return this.positions.length - this.dropped.size;
  }

  get bytes(): number {
    return this.offsets.byteLength + this.high.byteLength + this.positions.byteLength;
  }
}
