import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaEngine } from '../../src/engine/kafka-engine.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open.ts';
import { skipReason, startTestKafka, type TestKafka } from '../helpers/kafka.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/postgres.ts';
import {
  createTopics,
  drillFeed,
  drillTopics,
  journalCount,
  topicCount,
  publish,
  settleAndCount,
  sleep,
  startDrillEngine,
  startDrillSites,
  until,
} from './drill-kit.ts';

const PARTITIONS = 3;
const MESSAGES = 400;

describe.skipIf(skipReason)('drill: PostgreSQL stopped for a while', () => {
  let k: TestKafka | undefined;
  let pgsrv: PrivatePostgres | undefined;
  let db: Db | undefined;
  let sites: Awaited<ReturnType<typeof startDrillSites>> | undefined;
  let engine: KafkaEngine | undefined;

  beforeAll(async () => {
    [k, pgsrv, sites] = await Promise.all([startTestKafka(), startPrivatePostgres(), startDrillSites()]);
    db = await openDb({ databaseUrl: pgsrv.url });
  }, 180_000);
  afterAll(async () => {
    await engine?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await sites?.close().catch(() => undefined);
    await pgsrv?.destroy().catch(() => undefined);
    await k?.stop();
  }, 120_000);

  it('the partitions pause while the database is down and resume after it: nothing dead-lettered, nothing lost', async () => {
    const topics = drillTopics();
    const { roster, feed } = drillFeed(MESSAGES);
    await createTopics(k!.brokers, topics, PARTITIONS);
    engine = await startDrillEngine({
      brokers: k!.brokers,
      groupId: `drill-pg-${topics.inbound}`,
      topics,
      partitions: PARTITIONS,
      db: db!,
      sites: sites!.sites,
      roster,
    });
    // Paced so that messages are still arriving while the database is down and after it is back.
    const publishing = publish(k!.brokers, topics.inbound, feed, 30);
    await until(
      'the engine journalling messages',
      async () => (await journalCount(db!, topics.inbound)) >= 60,
      120_000,
      async () =>
        `published ${await topicCount(k!.brokers, topics.inbound)}, ` +
        `dead-lettered ${await topicCount(k!.brokers, topics.deadLetter)}, processed ${engine!.processed}`,
    );

    await pgsrv!.stop();
    const processedAtStop = engine.processed;
    await sleep(10_000);
    // Whatever was in flight when the database went away finishes or waits; nothing new becomes durable.
    const processedWhileDown = engine.processed - processedAtStop;
    await pgsrv!.start();

    await publishing;
    const c = await settleAndCount({ brokers: k!.brokers, topics, db: db!, sites: sites!.sites });
    console.log(
      `[drill postgres-outage] messages=${c.messages} outcomes=${c.outcomes} deadLettered=${c.deadLettered} ` +
        `tasksPlanned=${c.tasksPlanned} tasksAtSites=${c.tasksAtSites} duplicates=${c.duplicates} missing=${c.missing} ` +
        `journalledBeforeStop=${processedAtStop} committedWhileDown=${processedWhileDown}`,
    );
    expect(processedAtStop).toBeLessThan(MESSAGES);
    expect(processedWhileDown).toBeLessThanOrEqual(PARTITIONS);
    expect(c.messages).toBe(MESSAGES);
    expect(c.outcomes).toBe(c.messages);
    expect(c.deadLettered).toBe(0);
    expect(c.tasksPlanned).toBeGreaterThan(0);
    expect(c.undelivered).toBe(0);
    expect(c.missing).toBe(0);
    expect(c.duplicates).toBe(0);
    expect(c.distinctAtSites).toBe(c.tasksPlanned);
    expect(c.tasksAtSites).toBe(c.tasksPlanned);
  }, 300_000);
});
