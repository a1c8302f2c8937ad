import { isMainThread, workerData } from 'node:worker_threads';
import { loadConvertContext } from '../mappings/senders.ts';
import type { ConvertResult } from '../fhir/types.ts';
import { convertBounded } from './convert-bounded.ts';

/** Runs in a worker thread of the convert pool (convert-pool.ts): the mappings are loaded once per thread. */
const options = (workerData ?? {}) as { sendersDir?: string; codesDir?: string };
const ctx = isMainThread ? undefined : loadConvertContext(options);

export default function convert(raw: Uint8Array): ConvertResult[] {
  if (!ctx) throw new Error('convert-worker runs in a worker thread only');
  return convertBounded(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), ctx);
}
