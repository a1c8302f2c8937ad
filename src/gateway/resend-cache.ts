import type { Clock } from '../util/clock.ts';

/**
 * Remembers, per sender and MSH-10, what was stored and the ACK given, so a resend within the window (same
 * sender, same MSH-10, same content hash) gets the same ACK and is not produced twice. A write still in
 * flight (Kafka slow or down) is remembered too: a resend joins it instead of writing again, and when it
 * succeeds late, the next resend gets the ACK. In memory and bounded: a gateway restart forgets it (the
 * engine's message journal de-duplicates downstream).
 */
export interface ResendEntry {
  hash: string;
  /** When the write was confirmed (ms); the window counts from here. Undefined while in flight. */
  storedAt?: number;
  /** Resolves true when Kafka confirmed the write, false when it failed. */
  stored: Promise<boolean>;
  /** The ACK bytes sent (or to send) for a confirmed write. */
  ack?: Buffer;
}

export class ResendCache {
  private readonly entries = new Map<string, ResendEntry>();

  constructor(private readonly options: { windowMs: number; maxEntries: number; clock: Clock }) {}

  get size(): number {
    return this.entries.size;
  }

  private static key(senderId: string, controlId: string): string {
    return `${senderId}\u001f${controlId}`;
  }

  /** The live entry for this sender and control id, if any (expired ones are dropped). */
  get(senderId: string, controlId: string): ResendEntry | undefined {
    const k = ResendCache.key(senderId, controlId);
    const e = this.entries.get(k);
    if (!e) return undefined;
    if (e.storedAt !== undefined && this.options.clock.now() - e.storedAt > this.options.windowMs) {
      this.entries.delete(k);
      return undefined;
    }
    return e;
  }

  /**
   * Tracks a write. On success `ackOnSuccess` gives the ACK to remember; on failure the entry is dropped so
   * a resend writes again. Returns the entry.
   */
  track(
    senderId: string,
    controlId: string,
    hash: string,
    stored: Promise<boolean>,
    ackOnSuccess: () => Buffer,
  ): ResendEntry {
    const k = ResendCache.key(senderId, controlId);
    const entry: ResendEntry = { hash, stored };
    this.entries.delete(k);
    this.entries.set(k, entry);
    this.evict();
    void stored.then((ok) => {
      if (this.entries.get(k) !== entry) return;
      if (ok) {
        entry.storedAt = this.options.clock.now();
        entry.ack ??= ackOnSuccess();
      } else {
        this.entries.delete(k);
      }
    });
    return entry;
  }

  private evict(): void {
    const now = this.options.clock.now();
    for (const [k, e] of this.entries) {
      const expired = e.storedAt !== undefined && now - e.storedAt > this.options.windowMs;
      if (!expired && this.entries.size <= this.options.maxEntries) break;
      this.entries.delete(k);
    }
  }
}
