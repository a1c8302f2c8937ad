import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type KafkaMessage, type Producer } from 'kafkajs';
import { startSiteSimulators, type SimulatorRequestLog, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, type DirectorySite, type SiteDirectory } from '../../src/delivery/sites.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { buildPipeline, loadEngineMappings } from '../../src/engine/deps.ts';
import { startKafkaEngine, type KafkaEngine } from '../../src/engine/kafka-engine.ts';
import { messageId, type OutcomeRecord, type TopicNames } from '../../src/kafka/topics.ts';
import type { Participant } from '../../src/roster/types.ts';
import type { Db } from '../../src/store/db.ts';
import type { Logger } from '../../src/util/log.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { generateFeed, siteRoster, type FeedMessage } from '../helpers/feed.ts';
import { uniqueTopic } from '../helpers/kafka.ts';
import { scaled } from '../helpers/time.ts';
import { testKeys } from '../helpers/seal.ts';

/** Shared pieces of the drills: a feed and roster, in-process sites and engine, and the "nothing lost" counts. */
export const NOW = '2026-11-23T12:00:00-06:00';
export const clock = fixedClock(NOW);
export const mappings = loadEngineMappings('mappings');
export const directory = loadSiteDirectory('mappings/sites');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls cond until it holds, for ms scaled with the machine (test/helpers/time.ts); on timeout the error says what
 * was awaited and, with `status`, where things stood.
 */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 120_000,
  status?: () => Promise<string>,
): Promise<void> {
  const end = Date.now() + scaled(ms);
  // A poll that fails (the database or broker busy for a moment) is a "not yet", not the drill's failure.
  while (
    !(await Promise.resolve()
      .then(cond)
      .catch(() => false))
  ) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${status ? ` (${await status().catch(String)})` : ''}`);
    await sleep(250);
  }
}

/** Participants spread over every site of the directory, and a feed in which half the visits are theirs. */
export function drillFeed(count: number, participants = 60, seed = 7): { roster: Participant[]; feed: FeedMessage[] } {
  const roster = siteRoster(
    participants,
    directory.sites.map((s) => ({ siteId: s.siteId, program: s.program as 'PCHH' | 'CMHC', providerId: s.providerId })),
  );
  return { roster, feed: generateFeed({ participants: roster, count, enrolledShare: 0.5, seed }, mappings.convert) };
}

export function drillTopics(): TopicNames {
  return {
    inbound: uniqueTopic('drill.inbound'),
    deadLetter: uniqueTopic('drill.deadletter'),
    outcomes: uniqueTopic('drill.outcomes'),
  };
}

/** Site simulators that keep every request's writes (no bodies) for the drills' counts. */
export const DRILL_SITE_LOG = { logLimit: Number.POSITIVE_INFINITY, logBodies: false } as const;

/** One simulator per site of the directory, on free ports; the directory rewritten to point at them. */
export async function startDrillSites(): Promise<{
  sites: SiteDirectory;
  sims: Map<string, SiteSimulator>;
  logs: SiteLogs;
  close(): Promise<void>;
}> {
  const sims = await startSiteSimulators(directory, { anyPort: true, ...DRILL_SITE_LOG });
  const list: DirectorySite[] = directory.sites.map((s) => ({ ...s, baseUrl: sims.get(s.siteId)?.url ?? s.baseUrl }));
  return {
    sites: { sites: list, get: (id) => list.find((s) => s.siteId === id) },
    sims,
    logs: (id) => sims.get(id)?.log,
    close: async () => void (await Promise.all([...sims.values()].map((s) => s.close()))),
  };
}

export function startDrillEngine(o: {
  brokers: string[];
  groupId: string;
  topics: TopicNames;
  partitions: number;
  db: Db;
  sites: SiteDirectory;
  roster: Participant[];
  clientId?: string;
  /** The engine's log (dead letters, stalls, held sites, consumer crashes); default none. */
  log?: Logger;
}): Promise<KafkaEngine> {
  const { pipeline, index } = buildPipeline(mappings, o.roster, clock);
  return startKafkaEngine({
    kafka: { clientId: o.clientId ?? 'drill', brokers: o.brokers, logLevel: logLevel.NOTHING },
    groupId: o.groupId,
    topics: o.topics,
    partitions: o.partitions,
    db: o.db,
    sites: o.sites,
    deliveryPollMs: 100,
    maxBackoffMs: 2_000,
    ...(o.log ? { log: o.log } : {}),
    handle: {
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'reject',
      seal: testKeys,
    },
  });
}

export async function createTopics(brokers: string[], topics: TopicNames, partitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'drill-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: Object.values(topics).map((topic) => ({ topic, numPartitions: partitions })),
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Publishes the feed `batch` messages a send (acks=all, idempotent producer, like `tc-alerts replay`), `perSecond`
 * messages a second at most; a batch keeps the feed's order within each partition. A send the broker refuses (it is restarting) is retried until it succeeds: the
 * drill's count of published messages is exact.
 */
export async function publish(
  brokers: string[],
  topic: string,
  feed: readonly FeedMessage[],
  perSecond = 0,
  batch = 1,
): Promise<number> {
  const producer: Producer = new Kafka({
    clientId: 'drill-feed',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 20, maxRetryTime: 5_000 },
  }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = Date.now();
  try {
    for (let i = 0; i < feed.length; i += batch) {
      const messages = feed.slice(i, i + batch).map((m) => ({ key: m.key, value: m.value }));
      for (let attempt = 0; ; attempt++) {
        try {
          await producer.send({ topic, acks: -1, messages });
          break;
        } catch (err) {
          if (attempt >= 30) throw err;
          await sleep(1_000);
        }
      }
      if (perSecond > 0) {
        const due = started + ((i + messages.length) / perSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  return feed.length;
}

/** Messages on a topic: the sum of its partitions' high watermarks (no transactions, so offsets are dense). */
export async function topicCount(brokers: string[], topic: string): Promise<number> {
  const admin: Admin = new Kafka({ clientId: 'drill-count', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Sum of the offsets the consumer group has committed on a topic (messages it will not be given again). */
export async function committedCount(brokers: string[], groupId: string, topic: string): Promise<number> {
  const admin: Admin = new Kafka({ clientId: 'drill-count', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

export async function journalCount(db: Db, topic: string): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM message_outcome WHERE source_id LIKE $1`, [
    `${topic}/%`,
  ]);
  return r.rows[0]!.n;
}

/** Every Task a site holds, paged through its FHIR search (_count/_offset: the simulator gives no next links). */
export async function siteTasks(baseUrl: string): Promise<fhir4.Task[]> {
  const out: fhir4.Task[] = [];
  for (;;) {
    const url = `${baseUrl}/Task?_count=1000&_offset=${out.length}`;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
    const b = (await res.json()) as fhir4.Bundle;
    const page = (b.entry ?? []).map((e) => e.resource as fhir4.Task);
    out.push(...page);
    if (page.length === 0 || (b.total !== undefined && out.length >= b.total)) return out;
  }
}

/** Reads a topic from the beginning up to its current end; `each` gets every message with its partition. */
export async function readTopic(
  brokers: string[],
  topic: string,
  each: (m: KafkaMessage, partition: number) => void,
): Promise<void> {
  const kafka = new Kafka({ clientId: 'drill-read', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const p of await admin.fetchTopicOffsets(topic))
      if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high));
  } finally {
    await admin.disconnect();
  }
  if (!ends.size) return;
  const consumer = kafka.consumer({ groupId: `drill-read-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const left = new Set(ends.keys());
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= ends.get(batch.partition)!) continue;
          each(m, batch.partition);
          if (BigInt(m.offset) + 1n >= ends.get(batch.partition)!) left.delete(batch.partition);
        }
      },
    });
    await until(`topic ${topic} read to its end`, () => left.size === 0, 120_000);
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/** Messages on a topic by partition: [partition, low, high) offsets. */
async function topicRanges(
  brokers: string[],
  topic: string,
): Promise<{ partition: number; low: bigint; high: bigint }[]> {
  const admin: Admin = new Kafka({ clientId: 'drill-count', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).map((p) => ({
      partition: p.partition,
      low: BigInt(p.low),
      high: BigInt(p.high),
    }));
  } finally {
    await admin.disconnect();
  }
}

/** The engine's outcome records are sent with the offset commit every this many messages per partition (FLUSH_EVERY). */
export const OUTCOME_FLUSH_EVERY = 100;

export interface MessageCounts {
  /** Messages published to the inbound topic. */
  messages: number;
  /** Messages with a journal row (message_outcome by its consumed message id). */
  journalled: number;
  deadLettered: number;
  /** Dead letters by code (empty when there are none). */
  deadLetterCodes: Record<string, number>;
  /** Messages with no outcome at all: no journal row, no dead letter. */
  withoutOutcome: number;
  /** Messages with more than one outcome: several journal rows, journalled and dead-lettered, or two dead letters. */
  withSeveralOutcomes: number;
  /** Journalled messages with no outcome record on the outcomes topic. */
  withoutOutcomeRecord: number;
  /** Outcome records beyond the first for a message (the engine re-sends a journalled outcome on redelivery). */
  outcomeRecordsResent: number;
  /** Messages whose outcome records disagree on the outcome. */
  conflictingOutcomeRecords: number;
}

/**
 * Outcomes counted per consumed message (every offset of the inbound topic): its journal rows, its dead letters
 * (by their source-message-id header) and its records on the outcomes topic.
 */
export async function countMessageOutcomes(brokers: string[], topics: TopicNames, db: Db): Promise<MessageCounts> {
  const ids: string[] = [];
  for (const r of await topicRanges(brokers, topics.inbound))
    for (let o = r.low; o < r.high; o++) ids.push(messageId(topics.inbound, r.partition, o.toString()));
  const per = new Map<string, number>(ids.map((id) => [id, 0]));
  const journal = await db.query<{ source_id: string; n: number }>(
    `SELECT source_id, COUNT(*)::int AS n FROM message_outcome WHERE source_id LIKE $1 GROUP BY source_id`,
    [`${topics.inbound}/%`],
  );
  const journalled = new Set<string>();
  for (const r of journal.rows) {
    journalled.add(r.source_id);
    per.set(r.source_id, (per.get(r.source_id) ?? 0) + r.n);
  }
  const deadLetterCodes: Record<string, number> = {};
  let deadLettered = 0;
  await readTopic(brokers, topics.deadLetter, (m) => {
    deadLettered++;
    const code = m.headers?.code?.toString() ?? '(no code)';
    deadLetterCodes[code] = (deadLetterCodes[code] ?? 0) + 1;
    const src = m.headers?.['source-message-id']?.toString() ?? '(no source)';
    per.set(src, (per.get(src) ?? 0) + 1);
  });
  const records = new Map<string, string[]>();
  await readTopic(brokers, topics.outcomes, (m) => {
    const r = JSON.parse(m.value?.toString() ?? '{}') as OutcomeRecord;
    if (r.kind === 'delivered' || r.kind === 'delivery-failed') return;
    const list = records.get(r.messageId) ?? [];
    list.push(r.kind);
    records.set(r.messageId, list);
  });
  const counts = [...per.values()];
  return {
    messages: ids.length,
    journalled: journalled.size,
    deadLettered,
    deadLetterCodes,
    withoutOutcome: counts.filter((n) => n === 0).length,
    // an outcome for an offset the topic does not have is counted here too
    withSeveralOutcomes: counts.filter((n) => n > 1).length + [...per.keys()].filter((k) => !ids.includes(k)).length,
    withoutOutcomeRecord: [...journalled].filter((id) => !records.has(id)).length,
    outcomeRecordsResent: [...records.values()].reduce((n, l) => n + l.length - 1, 0),
    conflictingOutcomeRecords: [...records.values()].filter((l) => new Set(l).size > 1).length,
  };
}

/** Where the site simulators' request logs come from (in-process simulators: their `log`). */
export type SiteLogs = (siteId: string) => SimulatorRequestLog[] | undefined;

export interface SiteWriteCounts {
  /** Task creates the sites answered 201 (a new resource). */
  taskCreates: number;
  /** Conditional creates of a Task the site already had (answered 200: a re-send it merged). */
  mergedCreates: number;
  /** Task updates the sites accepted. */
  taskUpdates: number;
  /** Planned (site, Task) pairs never created at their site. */
  lost: number;
  /** (site, Task) pairs created more than once: a second create that made a second resource. */
  createdTwice: number;
  /** Tasks created at a site they were not planned for (a wrong-site route) or never planned. */
  unplanned: number;
  /** Writes to a Task identifier that hit another resource than the one created for it. */
  writesToOtherResource: number;
  /** Task resources a site holds, by its FHIR search (a cross-check of the log). */
  tasksAtSites: number;
}

const taskIdOf = (identifiers: string[]): string | undefined =>
  identifiers.find((i) => i.startsWith(`${TASK_IDENTIFIER_SYSTEM}|`))?.slice(TASK_IDENTIFIER_SYSTEM.length + 1);

/** Task writes counted per (site, Task identifier) in each site's request log, against the Tasks planned for it. */
export async function countSiteWrites(
  sites: SiteDirectory,
  logs: SiteLogs,
  planned: readonly { site_id: string; task_identifier: string }[],
): Promise<SiteWriteCounts> {
  const c: SiteWriteCounts = {
    taskCreates: 0,
    mergedCreates: 0,
    taskUpdates: 0,
    lost: 0,
    createdTwice: 0,
    unplanned: 0,
    writesToOtherResource: 0,
    tasksAtSites: 0,
  };
  for (const site of sites.sites) {
    const log = logs(site.siteId);
    if (!log) throw new Error(`no request log for site ${site.siteId}`);
    const created = new Map<string, string[]>(); // Task identifier -> resource ids created for it
    const written = new Map<string, Set<string>>(); // Task identifier -> resource ids written (any write)
    for (const e of log)
      for (const w of e.writes ?? []) {
        if (w.resourceType !== 'Task' || w.status < 200 || w.status >= 300) continue;
        const id = taskIdOf(w.identifiers);
        if (!id) continue;
        if (w.method === 'POST' && w.status === 201) {
          c.taskCreates++;
          created.set(id, [...(created.get(id) ?? []), w.id ?? '?']);
        } else if (w.method === 'POST') c.mergedCreates++;
        else c.taskUpdates++;
        if (w.id) written.set(id, (written.get(id) ?? new Set()).add(w.id));
      }
    const mine = new Set(planned.filter((p) => p.site_id === site.siteId).map((p) => p.task_identifier));
    for (const id of mine) if (!created.has(id)) c.lost++;
    for (const [id, resources] of created) {
      if (resources.length > 1) c.createdTwice++;
      if (!mine.has(id)) c.unplanned++;
      c.writesToOtherResource += [...(written.get(id) ?? [])].filter((r) => r !== resources[0]).length;
    }
    c.tasksAtSites += (await siteTasks(site.baseUrl)).length;
  }
  return c;
}

export interface DrillCounts extends MessageCounts, SiteWriteCounts {
  /** Distinct (site, Task identifier) the engine planned and sent (outbox rows not unroutable, not not-at-site). */
  tasksPlanned: number;
  /** Planned Tasks cancelled before any write reached the site (rightly absent there). */
  notAtSite: number;
  /** Outbox rows not delivered (pending, held, dead). */
  undelivered: number;
}

/** Waits until the engine has journalled every message and the outbox has no pending row, then counts. */
export async function settleAndCount(o: {
  brokers: string[];
  topics: TopicNames;
  db: Db;
  sites: SiteDirectory;
  logs: SiteLogs;
  timeoutMs?: number;
}): Promise<DrillCounts> {
  const timeoutMs = o.timeoutMs ?? 120_000;
  const messages = await topicCount(o.brokers, o.topics.inbound);
  const pending = async () =>
    (await o.db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM delivery_outbox WHERE status = 'pending'`))
      .rows[0]!.n;
  const status = async () =>
    `published ${messages}, journalled ${await journalCount(o.db, o.topics.inbound)}, ` +
    `dead-lettered ${await topicCount(o.brokers, o.topics.deadLetter)}, outbox pending ${await pending()}`;
  // Every message has a fate (journalled or dead-lettered): the counts below tell which, once each.
  await until(
    'every message journalled or dead-lettered',
    async () =>
      (await journalCount(o.db, o.topics.inbound)) + (await topicCount(o.brokers, o.topics.deadLetter)) >= messages,
    timeoutMs,
    status,
  );
  await until('the outbox drained', async () => (await pending()) === 0, timeoutMs, status);
  // A Task planned and then cancelled before any write reached the site (its create coalesced into the cancel,
  // answered not-at-site) is rightly never at the site: the planner cancels admission-phase Tasks at discharge.
  // Every other planned Task must be created at its site exactly once.
  const planned = (
    await o.db.query<{ site_id: string; task_identifier: string }>(
      `SELECT DISTINCT site_id, task_identifier FROM delivery_outbox o WHERE status <> 'unroutable'
         AND NOT (
           EXISTS (SELECT 1 FROM delivery_outbox c WHERE c.site_id = o.site_id AND c.task_identifier = o.task_identifier
                     AND c.action = 'cancel' AND c.result = 'not-at-site')
           AND NOT EXISTS (SELECT 1 FROM delivery_outbox w WHERE w.site_id = o.site_id
                     AND w.task_identifier = o.task_identifier AND w.result IN ('created', 'updated', 'unchanged')))`,
    )
  ).rows;
  const notAtSite = (
    await o.db.query<{ n: number }>(
      `SELECT COUNT(DISTINCT (site_id, task_identifier))::int AS n FROM delivery_outbox
        WHERE action = 'cancel' AND result = 'not-at-site'`,
    )
  ).rows[0]!.n;
  console.log(`[drill] planned Tasks cancelled before any write reached the site (not-at-site): ${notAtSite}`);
  const undelivered = (
    await o.db.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM delivery_outbox WHERE status NOT IN ('delivered', 'unroutable')`,
    )
  ).rows[0]!.n;
  return {
    ...(await countMessageOutcomes(o.brokers, o.topics, o.db)),
    ...(await countSiteWrites(o.sites, o.logs, planned)),
    tasksPlanned: planned.length,
    notAtSite,
    undelivered,
  };
}

/** One line of counts in the test output. */
export function logCounts(drill: string, c: DrillCounts, extra: Record<string, unknown> = {}): void {
  const all: Record<string, unknown> = { ...c, ...extra };
  console.log(
    `[drill ${drill}] ${Object.entries(all)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ')}`,
  );
}
