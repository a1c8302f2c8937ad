import { describe, expect, it } from 'vitest';
import { dockerAvailable } from '../../src/kafka/broker.ts';

describe('where the local broker comes from', () => {
  it('does not take Docker when no engine answers (then the Maven Central jars are used), nor when KAFKA_LOCAL=jvm', async () => {
    const saved = { host: process.env.DOCKER_HOST, local: process.env.KAFKA_LOCAL };
    try {
      process.env.DOCKER_HOST = 'tcp://127.0.0.1:1'; // nothing listens on port 1
      expect(await dockerAvailable(5_000)).toBe(false);
      process.env.KAFKA_LOCAL = 'jvm';
      expect(await dockerAvailable(5_000)).toBe(false);
    } finally {
      for (const [k, v] of [
        ['DOCKER_HOST', saved.host],
        ['KAFKA_LOCAL', saved.local],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  }, 20_000);
});
