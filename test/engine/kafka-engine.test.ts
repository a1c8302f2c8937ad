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
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
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
  let sim: SiteSimulator;
  let sites: SiteDirectory;
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
      handle: {
        convert: mappings.convert,
        pipeline: () => pipeline,
        participant: (id) => index.participant(id),
        clock,
        unknownSender: 'reject',
      },
    });

  beforeAll(async () => {
    k = await startTestKafka();
    ({ db, close: closeDb } = await openTestDb('pglite'));
    sim = await startSiteSimulator();
    const list = loadSiteDirectory('mappings/sites').sites.map((s) => ({ ...s, baseUrl: sim.url }));
    sites = { sites: list, get: (id) => list.find((s) => s.siteId === id) };
  }, 180_000);
  afterAll(async () => {
    await sim?.close();
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

    const tasks = (await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle;
    expect((tasks.entry ?? []).length).toBeGreaterThan(3);
    const journal = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM message_outcome');
    expect(journal.rows[0]!.n).toBe(msgs.length - 1);

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
    await until(() => dl.length >= 1);
    await reader.disconnect();
    expect(dl).toHaveLength(1);
    expect(dl[0]!.code).toBe('TC_HL7_BAD_ENCODING_CHARS');
    expect(dl[0]!.reason).toContain('MSH-2');
    expect(outcomes.some((o) => o.kind === 'planned')).toBe(true);
    expect(JSON.stringify(outcomes)).not.toMatch(/ALVAREZ|10234567|M1001|1978-03-14/);

    // Restarted on the same group: offsets were committed only after the durable write, so nothing is redone.
    const before = (await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle;
    engine = await start();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(engine.processed).toBe(0);
    await engine.stop();
    const after = (await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle;
    expect((after.entry ?? []).length).toBe((before.entry ?? []).length);
    await producer.disconnect();
    await admin.disconnect();
  }, 180_000);

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
      const before = ((await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle).entry?.length ?? 0;
      const client = await RawMllpClient.connect(gateway.address().port);
      for (const f of expandPaths(['fixtures/adt/p003-psych-stay'])) {
        const ack = await client.send(readFileSync(f, 'latin1'));
        expect(['AA', 'CA']).toContain(msa(ack)[1]);
      }
      await until(
        async () => (((await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle).entry?.length ?? 0) > before,
      );
      await until(async () => (await listDeliveries(db, { status: 'pending' })).length === 0);
      const tasks = ((await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle).entry!.map(
        (e) => e.resource as fhir4.Task,
      );
      expect(tasks.some((t) => t.owner?.identifier?.value === 'cmhc-burrell-springfield')).toBe(true);
    } finally {
      await engine.stop();
      await gateway.close();
      await producer.close();
    }
  }, 180_000);
});
