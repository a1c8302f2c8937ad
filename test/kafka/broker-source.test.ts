import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KAFKA_VERSION, dockerAvailable, ensureBroker } from '../../src/kafka/broker.ts';

/** Sets environment variables for the duration of `fn`, then puts them back as they were. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v))
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

describe('where the local broker comes from', () => {
  it('does not take Docker when no engine answers (then the Maven Central jars are used), nor when KAFKA_LOCAL=jvm', async () => {
    await withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:1' }, async () => {
      // nothing listens on port 1
      expect(await dockerAvailable(5_000)).toBe(false);
      await withEnv({ KAFKA_LOCAL: 'jvm' }, async () => expect(await dockerAvailable(5_000)).toBe(false));
    });
  }, 20_000);

  it('without Docker and KAFKA_BROKERS runs Kafka from the Maven Central jars, and that broker answers', async () => {
    const dataDir = `.kafka/source-test-${process.pid}`;
    await withEnv({ DOCKER_HOST: 'tcp://127.0.0.1:1', KAFKA_BROKERS: undefined }, async () => {
      const b = await ensureBroker({ dataDir });
      try {
        expect(b.source).toBe('local-jvm');
        // the jars it ran from: resolved by Maven into .kafka/lib, the Kafka version the project pins
        expect(readdirSync('.kafka/lib')).toContain(`kafka_2.13-${KAFKA_VERSION}.jar`);
        // and the broker that answers is the JVM running from them: its command line has that class path
        const pid = b.pid?.();
        expect(pid).toBeGreaterThan(0);
        if (process.platform === 'linux') {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          expect(argv[argv.indexOf('-cp') + 1]).toBe(`${resolve('.kafka/lib')}/*`);
          expect(argv).toContain('kafka.Kafka');
        }
        const admin = new Kafka({ clientId: 'source-test', brokers: b.brokers, logLevel: logLevel.NOTHING }).admin();
        await admin.connect();
        const cluster = await admin.describeCluster();
        await admin.disconnect();
        expect(cluster.brokers.map((x) => `${x.host}:${x.port}`)).toEqual(b.brokers);
        expect(existsSync(dataDir)).toBe(true);
      } finally {
        await b.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }, 600_000);
});
