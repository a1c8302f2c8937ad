import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { convertBounded } from '../../src/engine/convert-bounded.ts';
import { createConvertPool } from '../../src/engine/convert-pool.ts';
import { convertInput } from '../../src/fhir/input.ts';
import { loadConvertContext } from '../../src/mappings/senders.ts';
import { TcError } from '../../src/util/errors.ts';
import { hostileMessage } from '../fixtures/hostile.ts';

const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7');
const ctx = loadConvertContext({ sendersDir: 'mappings/senders', codesDir: 'mappings/codes' });
const pools: { close(): Promise<void> }[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

/** Counts event-loop turns while `work` runs: a blocked loop counts none. */
async function ticksDuring<T>(work: Promise<T>): Promise<{ ticks: number; result: PromiseSettledResult<T> }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const [result] = await Promise.allSettled([work]);
  clearInterval(timer);
  return { ticks, result: result! };
}

describe('parse + convert off the event loop (issue 12)', () => {
  it('converts on a worker thread exactly as inline', async () => {
    const pool = createConvertPool({
      sendersDir: 'mappings/senders',
      codesDir: 'mappings/codes',
      budgetMs: 60_000,
      threads: 1,
    });
    pools.push(pool);
    expect(await pool.convert(A04)).toEqual(convertInput(A04, ctx));
  }, 120_000);

  it('stops a message over its budget with a permanent error while the loop goes on, then converts the next', async () => {
    const pool = createConvertPool({
      budgetMs: 1_500,
      threads: 1,
      workerUrl: new URL('../fixtures/stall-worker.mjs', import.meta.url),
    });
    pools.push(pool);
    const { ticks, result } = await ticksDuring(pool.convert(Buffer.from('MSH|^~\\&|STALL')));
    expect(result.status).toBe('rejected');
    const err = (result as PromiseRejectedResult).reason as TcError;
    expect(err).toBeInstanceOf(TcError);
    expect(err.code).toBe('TC_CONVERT_BUDGET');
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('1500 ms');
    // the 1.5 s the staller ran, the loop kept turning (a blocked loop would count 0)
    expect(ticks).toBeGreaterThan(5);
    expect(pool.stopped).toBe(1);
    expect(await pool.convert(Buffer.from('MSH|^~\\&|FINE'))).toEqual([{ status: 'ignored', tag: 'MSH|^~\\&' }]);
  }, 120_000);

  it('hands a batch to the threads in chunks; a staller among them fails alone, each message gets its own answer', async () => {
    const pool = createConvertPool({
      budgetMs: 1_000,
      threads: 2,
      chunkMax: 4,
      workerUrl: new URL('../fixtures/stall-worker.mjs', import.meta.url),
    });
    pools.push(pool);
    const raws = Array.from({ length: 12 }, (_, i) =>
      Buffer.from(i === 5 ? 'MSG05 STALL' : `MSG${String(i).padStart(2, '0')}...`),
    );
    const results = await Promise.allSettled(raws.map((r) => pool.convert(r)));
    for (const [i, r] of results.entries()) {
      if (i === 5) {
        expect(r.status).toBe('rejected');
        expect(((r as PromiseRejectedResult).reason as TcError).code).toBe('TC_CONVERT_BUDGET');
      } else
        expect(r).toEqual({
          status: 'fulfilled',
          value: [{ status: 'ignored', tag: raws[i]!.subarray(0, 8).toString() }],
        });
    }
    // its chunk was stopped and tried again one by one: only the staller counts as stopped
    expect(pool.stopped).toBe(1);
  }, 120_000);

  it('dead-letters a message beyond its sender profile limits, naming the limit', () => {
    const [r] = convertBounded(Buffer.from(hostileMessage('repetitions', 200_000)), ctx);
    expect(r).toMatchObject({ status: 'rejected', code: 'TC_HL7_LIMIT' });
    const text = JSON.stringify(r);
    expect(text).toContain('PID-3');
    expect(text).toContain('limits.maxRepetitions');
    expect(convertBounded(A04, ctx)).toEqual(convertInput(A04, ctx));
  });
});
