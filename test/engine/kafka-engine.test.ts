import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageHandler } from '../../src/gateway/handler.ts';
import { gatewayKey } from '../../src/gateway/key.ts';
import { createKafkaProducer } from '../../src/gateway/producer.ts';
import { startMllpListener } from '../../src/gateway/server.ts';
import { RawMllpClient, msa } from '../gateway/mllp-client.ts';
import { expandPaths } from '../../src/cli/convert.ts';
import { EngineMetrics } from '../../src/api/metrics.ts';
import { Writable } from 'node:stream';
import { startSiteSimulators, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { createConvertPool, type ConvertPool } from '../../src/engine/convert-pool.ts';
import { hostileMessage } from '../fixtures/hostile.ts';
import { loadSiteDirectory, type SiteDirectory } from '../../src/delivery/sites.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { startKafkaEngine, type KafkaEngine } from '../../src/engine/kafka-engine.ts';
import { parseMessage } from '../../src/hl7/index.ts';
import { kafkaKey } from '../../src/kafka/key.ts';
import type { OutcomeRecord } from '../../src/kafka/topics.ts';
import type { Db } from '../../src/store/db.ts';
import { listDeliveries } from '../../src/store/outbox.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { openTestDb } from '../helpers/db.ts';
import { skipReason, startTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.ts';
import { testKeys } from '../helpers/seal.ts';

const clock = fixedClock('2026-11-23T12:00:00-06:00');
const mappings = loadEngineMappings('mappings');
const { pipeline, index } = buildPipeline(mappings, rosterOrThrow('fixtures/roster/roster.csv'), clock);

async function until(cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(skipReason)('the engine on a real Kafka broker', () => {
  let k: TestKafka;
  let db: Db;
  let closeDb: () => Promise<void>;
  /** One simulator per site: a Task routed to the wrong site lands on the wrong server and is seen. */
  let sims: Map<string, SiteSimulator>;
  let sites: SiteDirectory;
  let pool: ConvertPool;
  const logLines: Record<string, unknown>[] = [];
  const engineLog = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as never);
        cb();
      },
    }),
  );
  const tasksAt = async (site: string): Promise<fhir4.Task[]> =>
    (((await (await fetch(`${sims.get(site)!.url}/Task?_count=1000`)).json()) as fhir4.Bundle).entry ?? []).map(
      (e) => e.resource as fhir4.Task,
    );
  const allTasks = async (): Promise<fhir4.Task[]> => (await Promise.all([...sims.keys()].map(tasksAt))).flat();
  const topics = {
    inbound: uniqueTopic('adt.inbound'),
    deadLetter: uniqueTopic('adt.deadletter'),
    outcomes: uniqueTopic('tc.outcomes'),
  };
  const outcomes: OutcomeRecord[] = [];
  const metrics = new EngineMetrics({ defaultMetrics: false });
  const start = (): Promise<KafkaEngine> =>
    startKafkaEngine({
      kafka: { clientId: 'test', brokers: k.brokers, logLevel: logLevel.NOTHING },
      groupId: 'engine-test',
      topics,
      partitions: 3,
      db,
      sites,
      deliveryPollMs: 50,
      metrics,
      gaugeMs: 300,
      onOutcome: (r) => outcomes.push(r),
      log: engineLog,
      handle: {
        convertRaw: (raw) => pool.convert(raw),
        convert: mappings.convert,
        pipeline: () => pipeline,
        participant: (id) => index.participant(id),
        clock,
        unknownSender: 'reject',
        seal: testKeys,
      },
    });

  beforeAll(async () => {
    k = await startTestKafka();
    ({ db, close: closeDb } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    sims = await startSiteSimulators(shipped, { anyPort: true });
    const list = shipped.sites
      .filter((s) => sims.has(s.siteId))
      .map((s) => ({ ...s, baseUrl: sims.get(s.siteId)!.url }));
    expect(list.length).toBeGreaterThan(2);
    sites = { sites: list, get: (id) => list.find((s) => s.siteId === id) };
    pool = createConvertPool({ sendersDir: 'mappings/senders', codesDir: 'mappings/codes', budgetMs: 60_000 });
  }, 600_000);
  afterAll(async () => {
    await Promise.all([...(sims?.values() ?? [])].map((x) => x.close()));
    await pool?.close();
    await closeDb?.();
    await k?.stop();
  });

  it('plans and delivers the feed, dead-letters a poison message with its reason while the next ones flow, and loses nothing across a restart', async () => {
    const files = expandPaths(['fixtures/adt/p001-ed-admit-discharge', 'fixtures/adt/p010-observation-latin1']);
    const producer = new Kafka({ clientId: 'feed', brokers: k.brokers, logLevel: logLevel.NOTHING }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const admin = new Kafka({ clientId: 'admin', brokers: k.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topics.inbound, numPartitions: 3 }] });
    const msgs = files.map((f) => {
      const value = readFileSync(f);
      const p = parseMessage(value);
      if (!p.ok) throw new Error('fixture does not parse');
      return {
        key: kafkaKey(
          p.message,
          mappings.convert.profiles.resolve(p.message.header.sendingApplication!, p.message.header.sendingFacility!)
            .profile,
        ),
        value,
      };
    });
    // The poison message shares P001's key (same partition) and sits in the middle of P001's story.
    msgs.splice(1, 0, { key: msgs[0]!.key, value: Buffer.from('MSH|^~|broken') });
    // A message beyond its sender's limits (20,000 PID-3 repetitions) in the same partition: dead-lettered, unconverted.
    msgs.splice(3, 0, { key: msgs[0]!.key, value: Buffer.from(hostileMessage('repetitions', 400_000)) });
    for (const m of msgs) await producer.send({ topic: topics.inbound, acks: -1, messages: [m] });

    let engine = await start();
    await until(() => engine.processed >= msgs.length);
    await until(async () => (await listDeliveries(db, { status: 'pending' })).length === 0);
    // /metrics: the lag is gone and the outbox shows what was delivered, per site.
    await until(async () => {
      const text = await metrics.registry.metrics();
      return /tc_consumer_lag\{[^}]*\} 0\n/.test(text) && !/tc_consumer_lag\{[^}]*\} [1-9]/.test(text);
    });
    await until(async () =>
      /tc_outbox_depth\{site="pchh-springfield-north",status="delivered"\} [1-9]/.test(
        await metrics.registry.metrics(),
      ),
    );
    await engine.stop();

    // Every delivered Task is on its own site's server and on no other; every Task a server holds is its site's.
    const delivered = await listDeliveries(db, { status: 'delivered' });
    expect(delivered.length).toBeGreaterThan(3);
    expect(delivered.filter((d) => d.result === 'created').length).toBeGreaterThan(0);
    for (const site of sims.keys()) {
      const here = await tasksAt(site);
      for (const t of here) expect(t.owner?.identifier?.value).toBe(site);
      const ids = new Set(here.flatMap((t) => (t.identifier ?? []).map((i) => i.value)));
      for (const d of delivered) {
        // never at another site's server; a created Task at its own (a cancel may find nothing to cancel)
        if (d.siteId !== site) expect(ids.has(d.taskIdentifier)).toBe(false);
        else if (d.result === 'created') expect(ids.has(d.taskIdentifier)).toBe(true);
      }
    }
    const journal = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM message_outcome');
    expect(journal.rows[0]!.n).toBe(msgs.length - 2);

    const dl: { code?: string; reason?: string }[] = [];
    const reader = new Kafka({ clientId: 'dl', brokers: k.brokers, logLevel: logLevel.NOTHING }).consumer({
      groupId: 'dl-reader',
    });
    await reader.connect();
    await reader.subscribe({ topic: topics.deadLetter, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) =>
        void dl.push({ code: message.headers?.code?.toString(), reason: message.headers?.reason?.toString() }),
    });
    await until(() => dl.length >= 2);
    await reader.disconnect();
    expect(dl).toHaveLength(2);
    expect(dl[0]!.code).toBe('TC_HL7_BAD_ENCODING_CHARS');
    expect(dl[0]!.reason).toContain('MSH-2');
    expect(dl[1]!.code).toBe('TC_HL7_LIMIT');
    expect(dl[1]!.reason).toContain('PID-3');
    expect(dl[1]!.reason).toContain('limits.maxRepetitions');
    // One log line per dead letter, with its id and code; no value of the message in any line.
    const dead = logLines.filter((l) => l.event === 'dead-letter');
    expect(dead.map((l) => l.code)).toEqual(['TC_HL7_BAD_ENCODING_CHARS', 'TC_HL7_LIMIT']);
    expect(dead.every((l) => typeof l.messageId === 'string')).toBe(true);
    expect(logLines.some((l) => l.event === 'group-joined')).toBe(true);
    expect(JSON.stringify(logLines)).not.toMatch(/ALVAREZ|TESTER|10234567|M1001|1978-03-14|19780314/);
    expect(outcomes.some((o) => o.kind === 'planned')).toBe(true);
    expect(JSON.stringify(outcomes)).not.toMatch(/ALVAREZ|10234567|M1001|1978-03-14/);

    // Restarted on the same group: offsets were committed only after the durable write, so nothing is redone.
    const before = (await allTasks()).length;
    const writes = () => [...sims.values()].flatMap((x) => x.log).filter((l) => l.method !== 'GET').length;
    const writesBefore = writes();
    engine = await start();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(engine.processed).toBe(0);
    await engine.stop();
    expect((await allTasks()).length).toBe(before);
    expect(writes()).toBe(writesBefore);
    await producer.disconnect();
    await admin.disconnect();
  }, 600_000);

  it('a hospital sends over MLLP: ACK after Kafka stored it, and the Task reaches the site', async () => {
    const log = pino({ level: 'silent' });
    const producer = createKafkaProducer({ brokers: k.brokers, log });
    const handler = new MessageHandler({
      producer,
      profiles: mappings.convert.profiles,
      keyFn: gatewayKey,
      clock,
      log,
      topics: { inbound: topics.inbound, deadletter: topics.deadLetter },
    });
    const gateway = await startMllpListener({ port: 0, host: '127.0.0.1' }, handler, log);
    const engine = await start();
    try {
      const before = (await tasksAt('cmhc-burrell-springfield')).length;
      const counts = async () =>
        new Map(await Promise.all([...sims.keys()].map(async (x) => [x, (await tasksAt(x)).length] as const)));
      const othersBefore = await counts();
      const client = await RawMllpClient.connect(gateway.address().port);
      for (const f of expandPaths(['fixtures/adt/p003-psych-stay'])) {
        const ack = await client.send(readFileSync(f, 'latin1'));
        expect(['AA', 'CA']).toContain(msa(ack)[1]);
      }
      await until(async () => (await tasksAt('cmhc-burrell-springfield')).length > before);
      await until(async () => (await listDeliveries(db, { status: 'pending' })).length === 0);
      // The psychiatric stay's Tasks went to the CMHC's own server, and to no other site's.
      const tasks = await tasksAt('cmhc-burrell-springfield');
      expect(tasks.every((t) => t.owner?.identifier?.value === 'cmhc-burrell-springfield')).toBe(true);
      for (const [site, n] of await counts())
        if (site !== 'cmhc-burrell-springfield') expect(n).toBe(othersBefore.get(site));
    } finally {
      await engine.stop();
      await gateway.close();
      await producer.close();
    }
  }, 600_000);
});
