import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSiteSimulators, type SiteSimulator } from '../../src/delivery/simulator.ts';
import type { SiteDirectory } from '../../src/delivery/sites.ts';
import { freePort } from '../../src/kafka/broker.ts';
import type { TopicNames } from '../../src/kafka/topics.ts';
import type { Db } from '../../src/store/db.ts';
import { openDb } from '../../src/store/open.ts';
import { rosterCsv } from '../helpers/feed.ts';
import { skipReason, startTestKafka, type TestKafka } from '../helpers/kafka.ts';
import { siteDirectoryOnFreePorts } from '../helpers/sites.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/postgres.ts';
import { runCli, startCli, type CliProcess } from '../helpers/processes.ts';
import { scaled } from '../helpers/time.ts';
import {
  DRILL_SITE_LOG,
  NOW,
  createTopics,
  drillFeed,
  drillTopics,
  journalCount,
  logCounts,
  publish,
  settleAndCount,
  topicCount,
  until,
} from './drill-kit.ts';
import { expectNothingLost } from './expect-nothing-lost.ts';

const MESSAGES = 20_000;
const PARTITIONS = 6;
/** The engine is killed (SIGKILL) when the journal passes these shares of the feed, and started again at once. */
const KILL_AT = [0.15, 0.4, 0.65];

describe.skipIf(skipReason)('drill: the engine killed -9 three times during a 20,000-message replay', () => {
  let k: TestKafka | undefined;
  let pgsrv: PrivatePostgres | undefined;
  let db: Db | undefined;
  let work: string | undefined;
  let sims: Map<string, SiteSimulator> | undefined;
  let engine: CliProcess | undefined;

  afterAll(async () => {
    await engine?.kill('SIGKILL');
    await Promise.all([...(sims?.values() ?? [])].map((x) => x.close()));
    await db?.close().catch(() => undefined);
    await pgsrv?.destroy().catch(() => undefined);
    await k?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, scaled(120_000));

  let sites: SiteDirectory;
  let topics: TopicNames;
  let env: NodeJS.ProcessEnv;
  let feed: ReturnType<typeof drillFeed>['feed'];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tc-drill-crash-'));
    const sitesDir = join(work, 'sites');
    mkdirSync(sitesDir);
    sites = await siteDirectoryOnFreePorts(sitesDir);
    // The sites in this process (the engine is the process killed), so their request logs can be counted.
    [k, pgsrv, sims] = await Promise.all([
      startTestKafka(),
      startPrivatePostgres(),
      startSiteSimulators(sites, DRILL_SITE_LOG),
    ]);
    topics = drillTopics();
    env = {
      KAFKA_BROKERS: k.brokers.join(','),
      KAFKA_TOPIC_INBOUND: topics.inbound,
      KAFKA_TOPIC_DEADLETTER: topics.deadLetter,
      KAFKA_TOPIC_OUTCOMES: topics.outcomes,
      KAFKA_GROUP_ID: `drill-crash-${topics.inbound}`,
      KAFKA_PARTITIONS: String(PARTITIONS),
      KAFKA_SESSION_TIMEOUT_MS: '10000', // a killed engine's partitions move on sooner
      DATABASE_URL: pgsrv.url,
      TC_SITES_DIR: sitesDir,
      TC_NOW: NOW,
    };
    const generated = drillFeed(MESSAGES, 2_000, 44);
    feed = generated.feed;
    writeFileSync(join(work, 'roster.csv'), rosterCsv(generated.roster));
    await runCli(['roster', 'load', join(work, 'roster.csv')], env);
    db = await openDb({ databaseUrl: pgsrv.url });
    await createTopics(k.brokers, topics, PARTITIONS);
  }, scaled(300_000));

  const startEngine = async (): Promise<CliProcess> => {
    const p = startCli(['run'], {
      ...env,
      LOG_LEVEL: 'info',
      TC_HTTP_PORT: String(await freePort()),
      // The engine's own budget (10 s) on this machine's time scale, as the SIGTERM grace below.
      TC_SHUTDOWN_TIMEOUT_MS: String(scaled(10_000)),
    });
    try {
      await p.waitFor(/engine running/, scaled(120_000));
    } catch (err) {
      await p.kill('SIGKILL');
      throw err;
    }
    return p;
  };

  it(
    'every message has one outcome, no Task is missing or duplicated at the sites',
    async () => {
      const t0 = Date.now();
      const secs = () => Math.round((Date.now() - t0) / 1000);
      engine = await startEngine();
      // Replayed at 200 messages a second, so the first kills come while messages are still arriving.
      const publishing = publish(k!.brokers, topics.inbound, feed, 200, 100);
      // Each kill must land mid-stream: the engine killed had journalled messages since the last restart, the feed was
      // not done yet, and the engine started after it journals more before the next stop.
      const journalledAtKill: number[] = [];
      const killSignals: (number | string)[] = [];
      const killedAtS: number[] = [];
      const journalled = async () => journalCount(db!, topics.inbound);
      for (const share of KILL_AT) {
        await until(
          `${share * 100}% of the feed journalled`,
          async () => (await journalled()) + (await topicCount(k!.brokers, topics.deadLetter)) >= share * MESSAGES,
          600_000,
          async () =>
            `journalled ${await journalled()}, ` +
            `dead-lettered ${await topicCount(k!.brokers, topics.deadLetter)}\n${engine!.output()}`,
        );
        const killed = engine;
        await killed.kill('SIGKILL');
        killSignals.push(await killed.exited());
        journalledAtKill.push(await journalled());
        killedAtS.push(secs());
        engine = await startEngine();
      }
      // A graceful stop while messages still flow: SIGTERM finishes the in-flight work, commits and exits 0 by
      // itself within 10 s (kill() would send SIGKILL after the grace period, and the exit would not be 0).
      await until('80% of the feed journalled', async () => (await journalled()) >= 0.8 * MESSAGES, 600_000);
      const journalledAtStop = await journalled();
      const stopping = engine;
      await stopping.kill('SIGTERM', scaled(10_000));
      const stopLines = stopping
        .output()
        .split('\n')
        .filter((l) => /engine-stopped|shutdown-timeout|"level":(50|60)/.test(l));
      expect(await stopping.exited(), stopLines.join('\n') || stopping.output()).toBe(0);
      engine = await startEngine();
      await publishing;
      const c = await settleAndCount({
        brokers: k!.brokers,
        topics,
        db: db!,
        sites,
        logs: (id) => sims!.get(id)?.log,
        timeoutMs: 600_000,
      });
      logCounts('crash', c, {
        journalledAtKill,
        journalledAtStop,
        killSignals,
        killedAtS,
        settledAtS: secs(),
        stop: stopLines.map((l) => (JSON.parse(l) as { tookMs?: unknown }).tookMs),
      });
      expect(killSignals).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);
      // mid-stream: progress before each kill, after each restart, and the feed not yet through at the last stop
      const marks = [0, ...journalledAtKill, journalledAtStop];
      for (let i = 1; i < marks.length; i++) expect(marks[i]!).toBeGreaterThan(marks[i - 1]!);
      expect(journalledAtStop).toBeLessThan(MESSAGES);
      // each kill and the graceful stop may leave one group of outcome records per partition sent again
      expectNothingLost(c, MESSAGES, KILL_AT.length + 1, PARTITIONS);
    },
    scaled(1_800_000),
  );

  it(
    'roster learn after the replay: the running engine swaps in the weights learned from its ADTs',
    async () => {
      // The roster was loaded before any ADT came in: its weights were the configured ones. Whether EM finds enough
      // candidate pairs in the drill's feed is the Febrl test's business (test/roster/relearn.test.ts); this one is
      // about the running engine taking up what `roster learn` stored, without a restart.
      const learn = await runCli(['roster', 'learn'], env);
      const line = learn.split('\n').find((l) => l.startsWith('{"version"'));
      const out = JSON.parse(line!) as { weights: { queries: number }; previous: { em: string; queries: number } };
      expect(out.previous).toMatchObject({ em: 'not run', queries: 0 });
      expect(out.weights.queries).toBeGreaterThan(1_000);
      await engine!.waitFor(/"event":"weights-swapped"/, scaled(60_000));
    },
    scaled(300_000),
  );
});
