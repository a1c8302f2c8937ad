import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CR, FS, MllpFramer, VT, frame, type FramerEvent } from './mllp-framer.ts';

const A01 = 'MSH|^~\\&|EPIC|MERCY|TC|TC|20260301120000||ADT^A01|M1|P|2.5.1\rPID|1||123^^^MERCY^MR\rPV1|1|I\r';
const A03 = 'MSH|^~\\&|EPIC|MERCY|TC|TC|20260301130000||ADT^A03|M2|P|2.5.1\rPID|1||123^^^MERCY^MR\rPV1|1|I\r';

const frames = (events: FramerEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'frame' ? [e.payload.toString('latin1')] : []));

function feed(framer: MllpFramer, chunks: Buffer[]): FramerEvent[] {
  return [...chunks.flatMap((c) => framer.push(c)), ...framer.end()];
}

describe('MLLP framer', () => {
  it('reads one frame and strips the VT and FS CR', () => {
    const ev = new MllpFramer().push(frame(A01));
    expect(ev).toEqual([{ type: 'frame', payload: Buffer.from(A01, 'latin1') }]);
  });

  it('reads three frames that arrive in one packet', () => {
    const f = new MllpFramer();
    expect(frames(f.push(Buffer.concat([frame(A01), frame(A03), frame(A01)])))).toEqual([A01, A03, A01]);
  });

  it('reassembles a frame split across packets, including between FS and CR', () => {
    const f = new MllpFramer();
    const bytes = frame(A01);
    const fsAt = bytes.length - 2;
    expect(f.push(bytes.subarray(0, 10))).toEqual([]);
    expect(f.push(bytes.subarray(10, fsAt + 1))).toEqual([]);
    expect(f.pendingBytes).toBe(A01.length);
    expect(frames(f.push(bytes.subarray(fsAt + 1)))).toEqual([A01]);
    expect(f.pendingBytes).toBe(0);
  });

  it('reports and drops garbage between frames and keeps the frames intact', () => {
    const f = new MllpFramer();
    const ev = f.push(Buffer.concat([Buffer.from('hello'), frame(A01), Buffer.from([0, 1, 2]), frame(A03)]));
    expect(ev).toEqual([
      { type: 'garbage', bytes: 5 },
      { type: 'frame', payload: Buffer.from(A01, 'latin1') },
      { type: 'garbage', bytes: 3 },
      { type: 'frame', payload: Buffer.from(A03, 'latin1') },
    ]);
  });

  it('does not count CR and LF between frames as garbage', () => {
    const f = new MllpFramer();
    const ev = f.push(Buffer.concat([frame(A01), Buffer.from('\r\n\n'), frame(A03)]));
    expect(ev.map((e) => e.type)).toEqual(['frame', 'frame']);
  });

  it('ends a frame at FS when the sender omits the CR', () => {
    const f = new MllpFramer();
    const bytes = Buffer.concat([Buffer.from([VT]), Buffer.from(A01), Buffer.from([FS]), frame(A03)]);
    expect(frames(f.push(bytes))).toEqual([A01, A03]);
    const g = new MllpFramer();
    expect(g.push(Buffer.concat([Buffer.from([VT]), Buffer.from(A01), Buffer.from([FS])]))).toEqual([]);
    expect(frames(g.push(frame(A03)))).toEqual([A01, A03]);
  });

  it('abandons an unterminated frame when a new VT starts another', () => {
    const f = new MllpFramer();
    const bytes = Buffer.concat([Buffer.from([VT]), Buffer.from('MSH|partial'), frame(A01)]);
    const ev = f.push(bytes);
    expect(ev).toEqual([
      { type: 'garbage', bytes: 'MSH|partial'.length + 1 },
      { type: 'frame', payload: Buffer.from(A01, 'latin1') },
    ]);
  });

  it('reports an oversize frame once with its head, discards its body, and reads the next frame', () => {
    const f = new MllpFramer({ maxMessageBytes: 200, headBytes: 64 });
    const big = A01 + 'NTE|1||' + 'x'.repeat(5000) + '\r';
    const chunks = [frame(big), frame(A03)];
    const all = Buffer.concat(chunks);
    const ev: FramerEvent[] = [];
    for (let i = 0; i < all.length; i += 97) ev.push(...f.push(all.subarray(i, i + 97)));
    expect(ev).toHaveLength(2);
    expect(ev[0]).toMatchObject({ type: 'oversize', bytes: Buffer.byteLength(big) });
    expect((ev[0] as { head: Buffer }).head.toString('latin1')).toBe(big.slice(0, 64));
    expect(ev[1]).toEqual({ type: 'frame', payload: Buffer.from(A03, 'latin1') });
  });

  it('accepts a frame of exactly the maximum size and refuses one byte more', () => {
    const f = new MllpFramer({ maxMessageBytes: 10 });
    expect(f.push(frame('0123456789'))[0]?.type).toBe('frame');
    expect(f.push(frame('0123456789A'))[0]?.type).toBe('oversize');
  });

  it('reports an unterminated frame and trailing noise as garbage at connection end', () => {
    const f = new MllpFramer();
    expect(f.push(Buffer.concat([frame(A01), Buffer.from([VT]), Buffer.from('MSH|')]))).toHaveLength(1);
    expect(f.end()).toEqual([{ type: 'garbage', bytes: 5 }]);
    const g = new MllpFramer();
    g.push(Buffer.from('noise'));
    expect(g.garbagePending).toBe(5);
    expect(g.end()).toEqual([{ type: 'garbage', bytes: 5 }]);
  });

  it('does not keep a reference to the caller buffer (the socket may reuse it)', () => {
    const f = new MllpFramer();
    const chunk = Buffer.concat([Buffer.from([VT]), Buffer.from('MSH|a')]);
    f.push(chunk);
    chunk.fill(0x41);
    expect(frames(f.push(Buffer.from([FS, CR])))).toEqual(['MSH|a']);
  });

  it('yields the same frames however the byte stream is cut into packets (property)', () => {
    const payload = fc
      .uint8Array({ minLength: 0, maxLength: 300 })
      .map((a) => Buffer.from(a.filter((b) => b !== VT && b !== FS)));
    fc.assert(
      fc.property(
        fc.array(payload, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map((p) => frame(p)));
          const chunks: Buffer[] = [];
          let at = 0;
          for (let k = 0; at < stream.length; k++) {
            const len = cuts[k % cuts.length]!;
            chunks.push(stream.subarray(at, at + len));
            at += len;
          }
          const got = feed(new MllpFramer(), chunks);
          expect(got).toEqual(payloads.map((p) => ({ type: 'frame', payload: p })));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws and never emits a frame containing VT or FS on random bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const f = new MllpFramer({ maxMessageBytes: 150 });
        const ev = feed(
          f,
          chunks.map((c) => Buffer.from(c)),
        );
        for (const e of ev) {
          if (e.type === 'frame') {
            expect(e.payload.includes(VT)).toBe(false);
            expect(e.payload.includes(FS)).toBe(false);
            expect(e.payload.length).toBeLessThanOrEqual(150);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
