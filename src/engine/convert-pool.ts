import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { ConvertResult } from '../fhir/types.ts';
import { TcError } from '../util/errors.ts';

export interface ConvertPoolOptions {
  sendersDir?: string;
  codesDir?: string;
  /** Wall time one message may take to parse and convert on its thread; past it the thread is stopped. */
  budgetMs: number;
  /** Worker threads (default: the CPUs less one, at least 2 so one stalled message leaves a thread, at most 4). */
  threads?: number;
  /** Heap of one worker thread (MB): a memory bomb ends its thread, not the engine. Default 512. */
  maxHeapMb?: number;
  /** Messages handed to a thread at once, at most (default 64). */
  chunkMax?: number;
  /** The worker module (tests swap it for a staller). */
  workerUrl?: URL;
}

export interface ConvertPool {
  /** Parse + convert off the event loop; over the budget → TcError TC_CONVERT_BUDGET (permanent). */
  convert(raw: Buffer): Promise<ConvertResult[]>;
  /** Messages stopped for their budget, and threads lost to a crash, since start. */
  readonly stopped: number;
  close(): Promise<void>;
}

/** The worker entry beside this module: compiled JavaScript as it is, TypeScript sources through a tsx boot file. */
function defaultWorkerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('./convert-worker-boot.mjs', import.meta.url)
    : new URL('./convert-worker.js', import.meta.url);
}

/**
 * Parse + convert run in worker threads (piscina), so one message, however hostile, never blocks the event loop:
 * heartbeats, /healthz and the other partitions go on. Each message has a budget that starts when a thread takes
 * it (never while it waits for one); a message over its budget has its thread stopped and is answered with a
 * permanent error, so the engine dead-letters it instead of retrying it forever.
 */
export function createConvertPool(o: ConvertPoolOptions): ConvertPool {
  const threads = o.threads ?? Math.max(2, Math.min(4, availableParallelism() - 1));
  const pool = new Piscina({
    filename: (o.workerUrl ?? defaultWorkerUrl()).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
    workerData: { sendersDir: o.sendersDir, codesDir: o.codesDir },
    resourceLimits: { maxOldGenerationSizeMb: o.maxHeapMb ?? 512 },
  });
  let stopped = 0;
  // Our own queue, so the budget counts only the time a chunk runs.
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = () =>
    running < threads ? (running++, Promise.resolve()) : new Promise<void>((r) => waiting.push(r));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  /**
   * One chunk on a thread. Each message has the budget from when the thread starts on it; over it (or the thread
   * dies) the chunk is stopped. A chunk of one answers that message's error; a larger chunk is tried again one
   * message at a time, so only the message at fault gets the error (the others are converted again).
   */
  const runChunk = async (raws: Buffer[]): Promise<(ConvertResult[] | TcError)[]> => {
    await acquire();
    const abort = new AbortController();
    const started = new Int32Array(new SharedArrayBuffer(4));
    let current = 0;
    let startedAt: number | undefined;
    const check = Math.max(10, Math.floor(o.budgetMs / 10));
    const timer = setInterval(() => {
      const now = Atomics.load(started, 0);
      if (now !== current) {
        current = now;
        startedAt = performance.now() - check / 2;
      } else if (startedAt !== undefined && performance.now() - startedAt >= o.budgetMs) abort.abort();
    }, check);
    let failed: TcError | undefined;
    try {
      return (await pool.run(
        { raws: raws.map((r) => new Uint8Array(r)), started },
        { signal: abort.signal },
      )) as ConvertResult[][];
    } catch (err) {
      if (raws.length === 1) stopped++;
      failed = abort.signal.aborted
        ? new TcError(
            'TC_CONVERT_BUDGET',
            `parse and convert took longer than the budget of ${o.budgetMs} ms: stopped`,
            'permanent',
            { details: { stage: 'convert' } },
          )
        : // The thread died (out of memory, a crash in the converter): the message's fault, not the engine's.
          new TcError(
            'TC_CONVERT_CRASHED',
            `parse and convert ended its worker thread (${(err as Error)?.name ?? 'Error'})`,
            'permanent',
            { details: { stage: 'convert' } },
          );
    } finally {
      clearInterval(timer);
      release();
    }
    if (raws.length === 1) return [failed];
    return (await Promise.all(raws.map((r) => runChunk([r])))).map((x) => x[0]!);
  };

  /**
   * Messages asked for in the same tick (a consumed batch) go to the threads in chunks: one hand-over to a thread
   * per chunk, not per message (each hand-over wakes a thread; on a busy machine that costs more than a convert).
   */
  const chunkMax = o.chunkMax ?? 64;
  let queued: { raw: Buffer; resolve: (r: ConvertResult[] | TcError) => void; reject: (e: unknown) => void }[] = [];
  const dispatch = () => {
    const items = queued;
    queued = [];
    const size = Math.max(1, Math.min(chunkMax, Math.ceil(items.length / threads)));
    for (let i = 0; i < items.length; i += size) {
      const chunk = items.slice(i, i + size);
      runChunk(chunk.map((c) => c.raw)).then(
        (results) => chunk.forEach((c, k) => c.resolve(results[k]!)),
        (err: unknown) => chunk.forEach((c) => c.reject(err)),
      );
    }
  };

  return {
    get stopped() {
      return stopped;
    },
    async convert(raw: Buffer): Promise<ConvertResult[]> {
      const r = await new Promise<ConvertResult[] | TcError>((resolve, reject) => {
        if (!queued.length) queueMicrotask(dispatch);
        queued.push({ raw, resolve, reject });
      });
      if (r instanceof TcError) throw r;
      return r;
    },
    close: () => pool.destroy(),
  };
}
