/**
 * npm run bench:mllp — messages/s from 10 MLLP connections through the gateway into a real Kafka broker
 * (idempotent producer, acks = all), each sender waiting for its ACK before the next message.
 * KAFKA_BROKERS uses an existing broker; otherwise a local KRaft broker is started and stopped.
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { MessageHandler } from '../src/gateway/handler.ts';
import { gatewayKey } from '../src/gateway/key.ts';
import { createKafkaProducer } from '../src/gateway/producer.ts';
import { startMllpListener } from '../src/gateway/server.ts';
import { loadSenderProfiles } from '../src/mappings/senders.ts';
import { systemClock } from '../src/util/clock.ts';
import { startTestBroker, type TestBroker } from '../test/gateway/broker.ts';
import { RawMllpClient, msa } from '../test/gateway/mllp-client.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7').toString('latin1');
const log = pino({ level: 'silent' });

let broker: TestBroker | undefined;
const brokers = process.env.KAFKA_BROKERS?.split(',') ?? (broker = await startTestBroker()).brokers;
const topics = {
  inbound: `bench.adt.inbound.${Date.now().toString(36)}`,
  deadletter: `bench.adt.deadletter.${Date.now().toString(36)}`,
};
const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
await admin.connect();
await admin.createTopics({
  waitForLeaders: true,
  topics: [{ topic: topics.inbound, numPartitions: 3 }, { topic: topics.deadletter }],
});

const producer = createKafkaProducer({ brokers, log });
const handler = new MessageHandler({
  producer,
  profiles: loadSenderProfiles('mappings/senders'),
  keyFn: gatewayKey,
  clock: systemClock,
  log,
  topics,
});
const gateway = await startMllpListener({ port: 0, host: '127.0.0.1' }, handler, log);
const clients = await Promise.all(
  Array.from({ length: CONNECTIONS }, () => RawMllpClient.connect(gateway.address().port)),
);

// warm-up: connect the producer, fetch metadata
await clients[0]!.send(A04.replace('MRC-P001-01', 'BENCH-WARMUP'));

const latencies: number[] = [];
let errors = 0;
const until = performance.now() + SECONDS * 1000;
const started = performance.now();
await Promise.all(
  clients.map(async (c, ci) => {
    for (let i = 0; performance.now() < until; i++) {
      const t0 = performance.now();
      // a different patient per connection (MRN) so keys spread over partitions
      const ack = await c.send(
        A04.replace('MRC-P001-01', `B${ci}-${i}`).replace('M1001^^^MERCY^MR', `M${ci}X${i % 50}^^^MERCY^MR`),
      );
      latencies.push(performance.now() - t0);
      if (msa(ack)[1] !== 'CA') errors++;
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
for (const c of clients) c.close();
await gateway.close();
await producer.close();
const offsets = await admin.fetchTopicOffsets(topics.inbound);
const stored = offsets.reduce((n, o) => n + Number(o.high), 0) - 1;
await admin.deleteTopics({ topics: [topics.inbound, topics.deadletter] }).catch(() => undefined);
await admin.disconnect();
await broker?.destroy();

latencies.sort((a, b) => a - b);
const q = (p: number): string =>
  (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(1);
console.log(
  `connections ${CONNECTIONS}, duration ${elapsed.toFixed(1)} s, messages ${latencies.length}, non-CA ${errors}, stored in Kafka ${stored}`,
);
console.log(`ACK latency ms: p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${q(1)}`);
console.log(
  `mllp gateway → Kafka (acks=all, idempotent, ACK awaited): ${(latencies.length / elapsed).toFixed(0)} messages/s`,
);
