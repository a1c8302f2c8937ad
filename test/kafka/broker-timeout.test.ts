import { availableParallelism } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { machineTimeScale } from '../../src/kafka/broker.ts';

describe("the local broker's start limit scales with the machine", () => {
  const saved = process.env.TC_TEST_TIME_SCALE;
  afterEach(() => {
    if (saved === undefined) delete process.env.TC_TEST_TIME_SCALE;
    else process.env.TC_TEST_TIME_SCALE = saved;
  });

  it('takes the factor the test runner derived (TC_TEST_TIME_SCALE)', () => {
    process.env.TC_TEST_TIME_SCALE = '3.5';
    expect(machineTimeScale()).toBe(3.5);
  });

  it('without it, derives one from cores and load: at least 1, at most 4, 2x on a 2-core machine', () => {
    delete process.env.TC_TEST_TIME_SCALE;
    const f = machineTimeScale();
    expect(f).toBeGreaterThanOrEqual(Math.max(1, 4 / availableParallelism()));
    expect(f).toBeLessThanOrEqual(4);
  });
});
