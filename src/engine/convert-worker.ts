import { isMainThread, workerData } from 'node:worker_threads';
import { loadConvertContext } from '../mappings/senders.ts';
import type { ConvertResult } from '../fhir/types.ts';
import { convertBounded } from './convert-bounded.ts';

/** Runs in a worker thread of the convert pool (convert-pool.ts): the mappings are loaded once per thread. */
const options = (workerData ?? {}) as { sendersDir?: string; codesDir?: string };
const ctx = isMainThread ? undefined : loadConvertContext(options);

/**
 * A chunk of messages, one after another; `started[0]` is set to the number of the message being converted (1 for
 * the first) so the pool's budget counts each message from its own start, not while a new thread boots.
 */
export default function convert({ raws, started }: { raws: Uint8Array[]; started: Int32Array }): ConvertResult[][] {
  if (!ctx) throw new Error('convert-worker runs in a worker thread only');
  const out: ConvertResult[][] = [];
  for (const [i, raw] of raws.entries()) {
    Atomics.store(started, 0, i + 1);
    out.push(convertBounded(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), ctx));
  }
  return out;
}
