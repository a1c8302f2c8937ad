import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/kafka/broker.ts';
import { skipReason, startTestKafka, uniqueTopic, type TestKafka } from '../helpers/kafka.ts';

describe.skipIf(skipReason)('tc-alerts gateway (the command)', () => {
  let k: TestKafka;
  beforeAll(async () => {
    k = await startTestKafka();
  }, 180_000);
  afterAll(async () => k?.stop());

  it("creates the engine's topics with the configured partitions before it listens", async () => {
    const inbound = uniqueTopic('adt.inbound');
    const deadLetter = uniqueTopic('adt.deadletter');
    const httpPort = await freePort();
    const args = ['gateway', '--port', '0', '--host', '127.0.0.1', '--http-port', String(httpPort)];
    const gw = spawn(process.execPath, ['bin/tc-alerts.js', ...args], {
      env: {
        ...process.env,
        KAFKA_BROKERS: k.brokers.join(','),
        KAFKA_TOPIC_INBOUND: inbound,
        KAFKA_TOPIC_DEADLETTER: deadLetter,
        KAFKA_PARTITIONS: '4',
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: gw.stderr! }).on('line', (l) => l.includes('MLLP on') && resolve());
        gw.once('exit', (c) => reject(new Error(`gateway exited (${c})`)));
      });
      const admin = new Kafka({ brokers: k.brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const meta = await admin.fetchTopicMetadata({ topics: [inbound, deadLetter] });
      await admin.disconnect();
      expect(new Map(meta.topics.map((t) => [t.name, t.partitions.length]))).toEqual(
        new Map([
          [inbound, 4],
          [deadLetter, 4],
        ]),
      );
      // its health and metrics port
      const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      expect(health.status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).toContain('tc_gateway_connections');
    } finally {
      gw.kill('SIGTERM');
    }
  }, 120_000);
});
