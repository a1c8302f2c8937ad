import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../../src/kafka/topics.ts';
import { skipReason, startTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.ts';

describe.skipIf(skipReason !== undefined)('ensureTopics on a real broker', () => {
  let k: TestKafka;
  beforeAll(async () => {
    k = await startTestKafka();
  }, 180_000);
  afterAll(async () => {
    await k?.stop();
  }, 30_000);

  it('creates the missing topics with the configured partitions and retention, then leaves them alone', async () => {
    const admin = new Kafka({ clientId: 'topics', brokers: k.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const names = { inbound: uniqueTopic('in'), deadLetter: uniqueTopic('dl'), outcomes: uniqueTopic('out') };
    const created = await ensureTopics(admin, names, { partitions: 4, retentionMs: { deadLetter: 604_800_000 } });
    expect(created.sort()).toEqual(Object.values(names).sort());
    expect(await ensureTopics(admin, names, { partitions: 4 })).toEqual([]);
    const meta = await admin.fetchTopicMetadata({ topics: [names.inbound] });
    expect(meta.topics[0]!.partitions).toHaveLength(4);
    const cfg = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: names.deadLetter, configNames: ['retention.ms'] }],
    });
    expect(cfg.resources[0]!.configEntries[0]!.configValue).toBe('604800000');
    await admin.disconnect();
  }, 60_000);
});
