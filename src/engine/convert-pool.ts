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
  // Our own queue, so the budget counts only the time a message runs.
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = () =>
    running < threads ? (running++, Promise.resolve()) : new Promise<void>((r) => waiting.push(r));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };

  return {
    get stopped() {
      return stopped;
    },
    async convert(raw: Buffer): Promise<ConvertResult[]> {
      await acquire();
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), o.budgetMs);
      try {
        return (await pool.run(new Uint8Array(raw), { signal: abort.signal })) as ConvertResult[];
      } catch (err) {
        stopped++;
        if (abort.signal.aborted)
          throw new TcError(
            'TC_CONVERT_BUDGET',
            `parse and convert took longer than the budget of ${o.budgetMs} ms: stopped`,
            'permanent',
            { details: { stage: 'convert' } },
          );
        // The thread died (out of memory, a crash in the converter): the message's fault, not the engine's.
        throw new TcError(
          'TC_CONVERT_CRASHED',
          `parse and convert ended its worker thread (${(err as Error)?.name ?? 'Error'})`,
          'permanent',
          { details: { stage: 'convert' } },
        );
      } finally {
        clearTimeout(timer);
        release();
      }
    },
    close: () => pool.destroy(),
  };
}
