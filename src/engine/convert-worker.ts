import { isMainThread, workerData } from 'node:worker_threads';
import { loadConvertContext } from '../mappings/senders.ts';
import type { ConvertResult } from '../fhir/types.ts';
import { convertBounded } from './convert-bounded.ts';

/** Runs in a worker thread of the convert pool (convert-pool.ts): the mappings are loaded once per thread. */
const options = (workerData ?? {}) as { sendersDir?: string; codesDir?: string };
const ctx = isMainThread ? undefined : loadConvertContext(options);

export default function convert({ raw, started }: { raw: Uint8Array; started: Int32Array }): ConvertResult[] {
  if (!ctx) throw new Error('convert-worker runs in a worker thread only');
  Atomics.store(started, 0, 1); // the pool's budget counts from here, not while a new thread boots
  return convertBounded(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), ctx);
}
