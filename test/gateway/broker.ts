import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { startLocalBroker } from '../../src/kafka/broker.ts';

/** A real broker the gateway tests can stop and start (src/kafka/broker.ts: Kafka 4.x jars from Maven Central). */
export interface TestBroker {
  brokers: string[];
  /** Stops the JVM (SIGTERM) and waits for it to exit; the data stays for start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
  const dataDir = `.kafka/test-gw-${randomBytes(4).toString('hex')}`;
  const b = await startLocalBroker({ dataDir, heap: '384m' });
  return {
    brokers: b.brokers,
    stop: () => b.stop(),
    start: () => b.restart(),
    destroy: async () => {
      await b.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
