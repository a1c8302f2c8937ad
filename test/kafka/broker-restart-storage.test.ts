import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { startLocalBroker, storedClusterId } from '../../src/kafka/broker.ts';
import { scaled } from '../helpers/time.ts';

describe('the local broker started twice on the same storage (npm start, then npm start again)', () => {
  it(
    'keeps its cluster id, starts again and still has its topics',
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'tc-broker-twice-'));
      const first = await startLocalBroker({ dataDir });
      const id = storedClusterId(join(dataDir, 'data'));
      expect(id).toBeTruthy();
      const admin = new Kafka({ brokers: first.brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: 'kept.topic', numPartitions: 1 }], waitForLeaders: true });
      await admin.disconnect();
      await first.stop();

      // A new start (a new process in real life) on the same folder: formatting it with a new random id made Kafka
      // refuse to start ("Invalid cluster.id"); the stored id is used instead.
      const second = await startLocalBroker({ dataDir });
      try {
        expect(storedClusterId(join(dataDir, 'data'))).toBe(id);
        const again = new Kafka({ brokers: second.brokers, logLevel: logLevel.NOTHING }).admin();
        await again.connect();
        expect(await again.listTopics()).toContain('kept.topic');
        await again.disconnect();
      } finally {
        await second.stop();
      }
    },
    scaled(400_000),
  );
});
