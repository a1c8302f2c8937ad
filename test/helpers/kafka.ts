import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { startLocalBroker, type LocalBroker } from '../../src/kafka/broker.ts';

/**
 * One broker per test file: KAFKA_BROKERS if set, else a local KRaft JVM (src/kafka/broker.ts).
 * `skipReason` is set when no broker can be had; under CI=true that is an error, not a skip.
 */
export interface TestKafka {
  brokers: string[];
  local: LocalBroker | undefined;
  stop(): Promise<void>;
}

export function brokerUnavailableReason(): string | undefined {
  if (process.env.KAFKA_BROKERS) return undefined;
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error) return 'no KAFKA_BROKERS and no Java 17 to run a local broker';
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.error) return 'no KAFKA_BROKERS and no Maven to fetch the Kafka jars';
  return undefined;
}

export const skipReason = brokerUnavailableReason();
if (skipReason && process.env.CI === 'true') throw new Error(`Kafka broker tests cannot run under CI: ${skipReason}`);
if (skipReason) console.warn(`SKIPPING Kafka broker tests: ${skipReason}`);

export async function startTestKafka(): Promise<TestKafka> {
  const env = process.env.KAFKA_BROKERS?.trim();
  if (env) return { brokers: env.split(','), local: undefined, stop: async () => {} };
  const dataDir = `.kafka/test-${randomBytes(4).toString('hex')}`;
  const local = await startLocalBroker({ dataDir, heap: '384m' });
  return {
    brokers: local.brokers,
    local,
    stop: async () => {
      await local.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function uniqueTopic(base: string): string {
  return `${base}-${randomBytes(4).toString('hex')}`;
}
