import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { expect } from 'vitest';
import { startSiteSimulators, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, type DirectorySite, type SiteDirectory } from '../../src/delivery/sites.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { buildPipeline, loadEngineMappings } from '../../src/engine/deps.ts';
import { startKafkaEngine, type KafkaEngine } from '../../src/engine/kafka-engine.ts';
import type { TopicNames } from '../../src/kafka/topics.ts';
import type { Participant } from '../../src/roster/types.ts';
import type { Db } from '../../src/store/db.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { generateFeed, siteRoster, type FeedMessage } from '../helpers/feed.ts';
import { uniqueTopic } from '../helpers/kafka.ts';

/** Shared pieces of the drills: a feed and roster, in-process sites and engine, and the "nothing lost" counts. */
export const NOW = '2026-11-23T12:00:00-06:00';
export const clock = fixedClock(NOW);
export const mappings = loadEngineMappings('mappings');
export const directory = loadSiteDirectory('mappings/sites');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls cond until it holds; on timeout the error says what was awaited and, with `status`, where things stood. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 120_000,
  status?: () => Promise<string>,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
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

/** One simulator per site of the directory, on free ports; the directory rewritten to point at them. */
export async function startDrillSites(): Promise<{
  sites: SiteDirectory;
  sims: Map<string, SiteSimulator>;
  close(): Promise<void>;
}> {
  const sims = await startSiteSimulators(directory, { anyPort: true });
  const list: DirectorySite[] = directory.sites.map((s) => ({ ...s, baseUrl: sims.get(s.siteId)?.url ?? s.baseUrl }));
  return {
    sites: { sites: list, get: (id) => list.find((s) => s.siteId === id) },
    sims,
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
    handle: {
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'reject',
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
  const r = await db.query<{ n: number }>(
    `SELECT COUNT(DISTINCT message_id)::int AS n FROM message_outcome WHERE message_id LIKE $1`,
    [`${topic}/%`],
  );
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

/** Dead-lettered messages counted by their code header (read only when there are some: it says why). */
export async function deadLetterCodes(
  brokers: string[],
  topic: string,
  expected: number,
): Promise<Record<string, number>> {
  const codes: Record<string, number> = {};
  if (expected === 0) return codes;
  const consumer = new Kafka({ clientId: 'drill-dl', brokers, logLevel: logLevel.NOTHING }).consumer({
    groupId: `drill-dl-${Date.now()}`,
  });
  await consumer.connect();
  try {
    let seen = 0;
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const code = message.headers?.code?.toString() ?? '(no code)';
        codes[code] = (codes[code] ?? 0) + 1;
        seen++;
      },
    });
    await until('the dead letters read', () => seen >= expected, 60_000).catch(() => undefined);
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return codes;
}

export interface DrillCounts {
  /** Messages published to the inbound topic. */
  messages: number;
  /** Distinct message ids of that topic in the journal. */
  outcomes: number;
  deadLettered: number;
  /** Dead letters by code (empty when there are none). */
  deadLetterCodes: Record<string, number>;
  /** Distinct (site, Task identifier) the engine planned (outbox rows not unroutable). */
  tasksPlanned: number;
  /** Tasks held by the sites, and distinct identifiers among them. */
  tasksAtSites: number;
  distinctAtSites: number;
  /** Identifiers that appear more than once at a site. */
  duplicates: number;
  /** Planned (site, identifier) pairs absent at the site. */
  missing: number;
  /** Outbox rows not delivered (pending, held, dead). */
  undelivered: number;
}

/** Waits until the engine has journalled every message and the outbox has no pending row, then counts. */
export async function settleAndCount(o: {
  brokers: string[];
  topics: TopicNames;
  db: Db;
  sites: SiteDirectory;
  timeoutMs?: number;
}): Promise<DrillCounts> {
  const messages = await topicCount(o.brokers, o.topics.inbound);
  const pending = async () =>
    (await o.db.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM delivery_outbox WHERE status = 'pending'`))
      .rows[0]!.n;
  const status = async () =>
    `published ${messages}, journalled ${await journalCount(o.db, o.topics.inbound)}, ` +
    `dead-lettered ${await topicCount(o.brokers, o.topics.deadLetter)}, outbox pending ${await pending()}`;
  // Every message has a fate (journalled or dead-lettered): the counts below tell which.
  await until(
    'every message journalled or dead-lettered',
    async () =>
      (await journalCount(o.db, o.topics.inbound)) + (await topicCount(o.brokers, o.topics.deadLetter)) >= messages,
    o.timeoutMs,
    status,
  );
  await until('the outbox drained', async () => (await pending()) === 0, o.timeoutMs, status);
  const outcomes = await journalCount(o.db, o.topics.inbound);
  const deadLettered = await topicCount(o.brokers, o.topics.deadLetter);
  // A Task planned and then cancelled before any write reached the site (its create coalesced into the cancel,
  // answered not-at-site) is rightly never at the site: the planner now cancels admission-phase Tasks at discharge.
  // Every other planned Task must be there exactly once.
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
  const cancelledUnsent = (
    await o.db.query<{ n: number }>(
      `SELECT COUNT(DISTINCT (site_id, task_identifier))::int AS n FROM delivery_outbox
        WHERE action = 'cancel' AND result = 'not-at-site'`,
    )
  ).rows[0]!.n;
  console.log(`[drill] planned Tasks cancelled before any write reached the site: ${cancelledUnsent}`);
  const undelivered = (
    await o.db.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM delivery_outbox WHERE status NOT IN ('delivered', 'unroutable')`,
    )
  ).rows[0]!.n;
  let tasksAtSites = 0;
  let distinctAtSites = 0;
  let duplicates = 0;
  let missing = 0;
  for (const site of o.sites.sites) {
    const tasks = await siteTasks(site.baseUrl);
    tasksAtSites += tasks.length;
    const perId = new Map<string, number>();
    for (const t of tasks) {
      const id =
        (t.identifier ?? []).find((i) => i.system === TASK_IDENTIFIER_SYSTEM)?.value ?? t.identifier?.[0]?.value;
      const k = id ?? `(no identifier) ${t.id}`;
      perId.set(k, (perId.get(k) ?? 0) + 1);
    }
    distinctAtSites += perId.size;
    duplicates += [...perId.values()].filter((n) => n > 1).length;
    missing += planned.filter((p) => p.site_id === site.siteId && !perId.has(p.task_identifier)).length;
  }
  return {
    messages,
    outcomes,
    deadLettered,
    deadLetterCodes: await deadLetterCodes(o.brokers, o.topics.deadLetter, deadLettered),
    tasksPlanned: planned.length,
    tasksAtSites,
    distinctAtSites,
    duplicates,
    missing,
    undelivered,
  };
}

/** Every published message has exactly one outcome, none dead-lettered, every planned Task at its site once. */
export function expectNothingLost(c: DrillCounts, published: number): void {
  expect(c.messages).toBe(published);
  expect(c.outcomes).toBe(c.messages);
  expect(c.deadLettered).toBe(0);
  expect(c.tasksPlanned).toBeGreaterThan(0);
  expect(c.undelivered).toBe(0);
  expect(c.missing).toBe(0);
  expect(c.duplicates).toBe(0);
  expect(c.distinctAtSites).toBe(c.tasksPlanned);
  expect(c.tasksAtSites).toBe(c.tasksPlanned);
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
