/**
 * MLLP framing (HL7 v2.5.1 Appendix C, Minimal Lower Layer Protocol): VT <message> FS CR.
 *
 * A stream decoder that survives what real interface engines send: several frames in one TCP packet, a
 * frame split across packets (even between FS and CR), bytes outside any frame (stray CR/LF after a frame,
 * keep-alive bytes, garbage), a frame that never ends before the next VT, and frames larger than allowed.
 * It never throws on input and never holds more than `maxMessageBytes` + 1 byte of one message.
 */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type FramerEvent =
  /** A complete message, without the framing bytes. */
  | { type: 'frame'; payload: Buffer }
  /** A frame that grew beyond maxMessageBytes; its bytes were discarded. `head` is its first bytes (for MSH). */
  | { type: 'oversize'; bytes: number; head: Buffer }
  /** Bytes outside any frame (or an unterminated frame cut short by a new VT) that were discarded. */
  | { type: 'garbage'; bytes: number };

export interface FramerOptions {
  /** Largest message accepted, in bytes without framing. Default 1 MiB. */
  maxMessageBytes?: number;
  /** How many leading bytes of an oversize frame are kept so its MSH can still be acknowledged. Default 4 KiB. */
  headBytes?: number;
}

type State = 'outside' | 'inside' | 'afterFs';

/** Ignorable bytes between frames: CR and LF after a frame end are common and not worth reporting. */
const isLineEnd = (b: number): boolean => b === CR || b === 0x0a;

export class MllpFramer {
  private readonly max: number;
  private readonly headBytes: number;
  private state: State = 'outside';
  private parts: Buffer[] = [];
  private size = 0;
  private oversize = false;
  private garbage = 0;

  constructor(options: FramerOptions = {}) {
    this.max = options.maxMessageBytes ?? 1024 * 1024;
    this.headBytes = Math.min(options.headBytes ?? 4096, this.max);
  }

  /** Bytes of the message currently being received (0 when between frames). */
  get pendingBytes(): number {
    return this.state === 'outside' ? 0 : this.size;
  }

  /** Garbage bytes seen since the last event (a peer sending only noise can be cut off on this). */
  get garbagePending(): number {
    return this.garbage;
  }

  /** Feeds one chunk; returns the events it completes, in order. */
  push(chunk: Buffer): FramerEvent[] {
    const out: FramerEvent[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === 'outside') {
        const vt = chunk.indexOf(VT, i);
        const end = vt < 0 ? n : vt;
        for (let k = i; k < end; k++) if (!isLineEnd(chunk[k]!)) this.garbage++;
        if (vt < 0) break;
        this.flushGarbage(out);
        this.begin();
        i = vt + 1;
        continue;
      }
      if (this.state === 'afterFs') {
        // FS seen as the last byte of the previous chunk: a CR completes the frame; anything else means the
        // sender omitted CR (lenient: the frame still ends at FS), and that byte is read again outside.
        this.state = 'outside';
        this.finish(out);
        if (chunk[i] === CR) i++;
        continue;
      }
      // inside a frame: find the next FS or VT, whichever comes first
      const fs = chunk.indexOf(FS, i);
      const vt = chunk.indexOf(VT, i);
      const stop = fs < 0 ? vt : vt < 0 ? fs : Math.min(fs, vt);
      const end = stop < 0 ? n : stop;
      this.append(chunk.subarray(i, end));
      if (stop < 0) break;
      if (stop === vt) {
        // A new start block inside a frame: the unterminated frame is abandoned as garbage.
        this.garbage += this.size + 1;
        this.reset();
        this.flushGarbage(out);
        this.begin();
        i = vt + 1;
        continue;
      }
      if (fs + 1 < n) {
        this.state = 'outside';
        this.finish(out);
        i = chunk[fs + 1] === CR ? fs + 2 : fs + 1;
      } else {
        this.state = 'afterFs';
        i = n;
      }
    }
    return out;
  }

  /** At connection end: reports an unterminated frame and trailing bytes as garbage. */
  end(): FramerEvent[] {
    const out: FramerEvent[] = [];
    if (this.state === 'afterFs') {
      this.state = 'outside';
      this.finish(out);
    } else if (this.state === 'inside') {
      this.garbage += this.size + 1;
      this.reset();
    }
    this.flushGarbage(out);
    return out;
  }

  private begin(): void {
    this.state = 'inside';
    this.parts = [];
    this.size = 0;
    this.oversize = false;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const before = this.size;
    this.size += bytes.length;
    if (this.oversize) return;
    if (this.size > this.max) {
      // keep only the head (for the MSH of the AR), drop the rest from now on
      const keep = Math.max(0, this.headBytes - before);
      if (keep > 0) this.parts.push(Buffer.from(bytes.subarray(0, keep)));
      this.parts = [Buffer.concat(this.parts).subarray(0, this.headBytes)];
      this.oversize = true;
      return;
    }
    // copy: the caller's chunk buffer may be reused
    this.parts.push(Buffer.from(bytes));
  }

  private finish(out: FramerEvent[]): void {
    if (this.oversize) out.push({ type: 'oversize', bytes: this.size, head: Buffer.concat(this.parts) });
    else out.push({ type: 'frame', payload: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts) });
    this.reset();
  }

  private reset(): void {
    this.state = 'outside';
    this.parts = [];
    this.size = 0;
    this.oversize = false;
  }

  private flushGarbage(out: FramerEvent[]): void {
    if (this.garbage > 0) out.push({ type: 'garbage', bytes: this.garbage });
    this.garbage = 0;
  }
}

/** Wraps one message in MLLP framing. */
export function frame(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, CR])]);
}
