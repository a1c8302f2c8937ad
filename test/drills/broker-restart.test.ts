import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaEngine } from '../../src/engine/kafka-engine.ts';
import type { PgDb } from '../../src/store/pg.ts';
import { freshPgDb } from '../helpers/db.ts';
import { skipReason, startTestKafka, type TestKafka } from '../helpers/kafka.ts';
import { scaled } from '../helpers/time.ts';
import {
  createTopics,
  drillFeed,
  drillTopics,
  journalCount,
  logCounts,
  publish,
  settleAndCount,
  startDrillEngine,
  startDrillSites,
  topicCount,
  until,
} from './drill-kit.ts';
import { expectNothingLost } from './expect-nothing-lost.ts';

const PARTITIONS = 3;
const MESSAGES = 400;

// Restarting needs the broker this test started; a shared KAFKA_BROKERS cluster is not ours to restart.
describe.skipIf(skipReason || process.env.KAFKA_BROKERS)('drill: the broker restarted mid-run', () => {
  let k: TestKafka | undefined;
  let pg: { db: PgDb; drop: () => Promise<void> } | undefined;
  let sites: Awaited<ReturnType<typeof startDrillSites>> | undefined;
  let engine: KafkaEngine | undefined;

  beforeAll(async () => {
    [k, pg, sites] = await Promise.all([startTestKafka(), freshPgDb(), startDrillSites()]);
  }, scaled(180_000));
  afterAll(async () => {
    await engine?.stop().catch(() => undefined);
    await pg?.drop().catch(() => undefined);
    await sites?.close().catch(() => undefined);
    await k?.stop();
  }, scaled(120_000));

  it(
    'the engine reconnects and carries on: nothing dead-lettered, nothing lost, no Task twice',
    async () => {
      const topics = drillTopics();
      const { roster, feed } = drillFeed(MESSAGES, 60, 21);
      const db = pg!.db;
      await createTopics(k!.brokers, topics, PARTITIONS);
      engine = await startDrillEngine({
        brokers: k!.brokers,
        groupId: `drill-broker-${topics.inbound}`,
        topics,
        partitions: PARTITIONS,
        db,
        sites: sites!.sites,
        roster,
      });
      const publishing = publish(k!.brokers, topics.inbound, feed, 30);
      await until(
        'the engine journalling messages',
        async () => (await journalCount(db, topics.inbound)) >= 60,
        120_000,
        async () => `published ${await topicCount(k!.brokers, topics.inbound)}, processed ${engine!.processed}`,
      );

      const journalledBeforeRestart = await journalCount(db, topics.inbound);
      await k!.local!.restart();
      await publishing;
      const c = await settleAndCount({
        brokers: k!.brokers,
        topics,
        db,
        sites: sites!.sites,
        logs: sites!.logs,
        timeoutMs: 180_000,
      });
      logCounts('broker-restart', c, { journalledBeforeRestart });
      expect(journalledBeforeRestart).toBeLessThan(MESSAGES);
      expect(journalledBeforeRestart).toBeGreaterThan(0);
      expect(c.journalled - journalledBeforeRestart).toBeGreaterThan(0);
      expectNothingLost(c, MESSAGES, 1, PARTITIONS);
    },
    scaled(420_000),
  );
});
