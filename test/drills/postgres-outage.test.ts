import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaEngine } from '../../src/engine/kafka-engine.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open.ts';
import { skipReason, startTestKafka, type TestKafka } from '../helpers/kafka.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/postgres.ts';
import { scaled } from '../helpers/time.ts';
import {
  committedCount,
  createTopics,
  drillFeed,
  drillTopics,
  journalCount,
  logCounts,
  topicCount,
  publish,
  settleAndCount,
  sleep,
  startDrillEngine,
  startDrillSites,
  until,
} from './drill-kit.ts';
import { expectNothingLost } from './expect-nothing-lost.ts';

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
  }, scaled(180_000));
  afterAll(async () => {
    await engine?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await sites?.close().catch(() => undefined);
    await pgsrv?.destroy().catch(() => undefined);
    await k?.stop();
  }, scaled(120_000));

  it(
    'the partitions pause while the database is down and resume after it: nothing dead-lettered, nothing lost',
    async () => {
      const topics = drillTopics();
      const groupId = `drill-pg-${topics.inbound}`;
      const { roster, feed } = drillFeed(MESSAGES);
      await createTopics(k!.brokers, topics, PARTITIONS);
      engine = await startDrillEngine({
        brokers: k!.brokers,
        groupId,
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
      const stoppedAt = new Date();
      await sleep(10_000);
      // The offsets are committed only after the durable write: nothing the group has committed while the
      // database was down can be missing from the journal written before it went down.
      const committedWhileDown = await committedCount(k!.brokers, groupId, topics.inbound);
      await pgsrv!.start();

      await publishing;
      const c = await settleAndCount({ brokers: k!.brokers, topics, db: db!, sites: sites!.sites, logs: sites!.logs });
      const journalledBeforeStop = (
        await db!.query<{ n: number }>(
          `SELECT COUNT(*)::int AS n FROM message_outcome WHERE source_id LIKE $1 AND created_at <= $2`,
          [`${topics.inbound}/%`, stoppedAt],
        )
      ).rows[0]!.n;
      logCounts('postgres-outage', c, { journalledBeforeStop, committedWhileDown });
      expect(journalledBeforeStop).toBeLessThan(MESSAGES);
      expect(committedWhileDown).toBeLessThanOrEqual(journalledBeforeStop);
      expect(journalledBeforeStop).toBeGreaterThan(0);
      // the outage may leave one group of outcome records per partition emitted and not committed
      expectNothingLost(c, MESSAGES, 1, PARTITIONS);
    },
    scaled(300_000),
  );
});
