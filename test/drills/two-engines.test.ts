import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
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
  logCounts,
  publish,
  settleAndCount,
  startDrillEngine,
  startDrillSites,
  until,
} from './drill-kit.ts';
import { expectNothingLost } from './expect-nothing-lost.ts';

const PARTITIONS = 6;
const MESSAGES = 600;

/** The partitions each member of the group holds, from the group coordinator. */
async function assignments(brokers: string[], groupId: string, topic: string): Promise<number[][]> {
  const admin = new Kafka({ clientId: 'drill-group', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    const g = groups[0]!;
    if (g.state !== 'Stable') return [];
    return g.members.map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? []);
  } finally {
    await admin.disconnect();
  }
}

describe.skipIf(skipReason)('drill: two engine instances in one consumer group', () => {
  let k: TestKafka | undefined;
  let pg: { db: PgDb; drop: () => Promise<void> } | undefined;
  let sites: Awaited<ReturnType<typeof startDrillSites>> | undefined;
  const engines: KafkaEngine[] = [];

  beforeAll(async () => {
    [k, pg, sites] = await Promise.all([startTestKafka(), freshPgDb(), startDrillSites()]);
  }, scaled(180_000));
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.stop().catch(() => undefined)));
    await pg?.drop().catch(() => undefined);
    await sites?.close().catch(() => undefined);
    await k?.stop();
  }, scaled(120_000));

  it(
    'share the partitions and the outbox, and no Task reaches a site twice',
    async () => {
      const topics = drillTopics();
      const groupId = `drill-two-${topics.inbound}`;
      const { roster, feed } = drillFeed(MESSAGES, 60, 33);
      await createTopics(k!.brokers, topics, PARTITIONS);
      const start = (clientId: string) =>
        startDrillEngine({
          brokers: k!.brokers,
          groupId,
          topics,
          partitions: PARTITIONS,
          db: pg!.db,
          sites: sites!.sites,
          roster,
          clientId,
        });
      engines.push(...(await Promise.all([start('drill-a'), start('drill-b')])));
      let held: number[][] = [];
      await until(
        'both members holding partitions',
        async () => {
          held = await assignments(k!.brokers, groupId, topics.inbound);
          return held.length === 2 && held.every((p) => p.length > 0);
        },
        120_000,
        async () => JSON.stringify(held),
      );

      await publish(k!.brokers, topics.inbound, feed);
      const c = await settleAndCount({
        brokers: k!.brokers,
        topics,
        db: pg!.db,
        sites: sites!.sites,
        logs: sites!.logs,
      });
      logCounts('two-engines', c, { partitions: held, processed: engines.map((e) => e.processed) });
      expect(held.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(engines.every((e) => e.processed > 0)).toBe(true);
      // no disruption: each message exactly one outcome record
      expectNothingLost(c, MESSAGES);
    },
    scaled(300_000),
  );
});
