import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipReason, startTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.ts';

describe.skipIf(skipReason !== undefined)('kafkajs 2.2.4 on Apache Kafka 4.x', () => {
  let k: TestKafka;
  beforeAll(async () => {
    k = await startTestKafka();
  }, 180_000);
  afterAll(async () => {
    await k?.stop();
  }, 30_000);

  it('creates topics, produces, consumes in a group, commits and resumes after the commit', async () => {
    const kafka = new Kafka({ clientId: 'compat', brokers: k.brokers, logLevel: logLevel.NOTHING });
    const topic = uniqueTopic('compat');
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })).toBe(true);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3].map((i) => ({ key: `k${i % 2}`, value: `m${i}` })) });

    const group = uniqueTopic('g');
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId: group });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          seen.push(message.value!.toString());
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
          if (seen.length === 4) resolve();
        },
      });
    });
    await consumer.disconnect();
    expect([...seen].sort()).toEqual(['m0', 'm1', 'm2', 'm3']);

    const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    const committed = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    expect(committed).toBe(4);
    await producer.disconnect();
    await admin.disconnect();
  }, 120_000);
});
