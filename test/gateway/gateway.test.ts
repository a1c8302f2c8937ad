import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageHandler } from '../../src/gateway/handler.ts';
import { gatewayKey } from '../../src/gateway/key.ts';
import { createKafkaProducer, type Producer } from '../../src/gateway/producer.ts';
import { startMllpListener, type MllpGateway } from '../../src/gateway/server.ts';
import { senderProfileSchema } from '../../src/mappings/sender-profile.ts';
import { createSenderProfiles, loadSenderProfiles } from '../../src/mappings/senders.ts';
import { systemClock } from '../../src/util/clock.ts';
import { startTestBroker, type TestBroker } from './broker.ts';
import { RawMllpClient, msa } from './mllp-client.ts';

const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7').toString('latin1');
const profiles = loadSenderProfiles('mappings/senders');
const log = pino({ level: process.env.GW_TEST_LOG ?? 'silent' });
const MAX = 64 * 1024;

/** The A04 fixture with its own MSH-10 (and so its own content). */
const message = (controlId: string): string => A04.replace('MRC-P001-01', controlId);

let broker: TestBroker;
let kafka: Kafka;
let producer: Producer;
let gateway: MllpGateway;
const run = `r${Date.now().toString(36)}`;
const topics = { inbound: `adt.inbound.${run}`, deadletter: `adt.deadletter.${run}` };

/** Records in a topic whose control-id header is `controlId` (read back from the broker). */
async function recordsWith(topic: string, controlId: string): Promise<Buffer[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((n, o) => n + Number(o.high), 0);
  const consumer = kafka.consumer({ groupId: `gw-test-${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const found: Buffer[] = [];
  let seen = 0;
  await new Promise<void>((resolve) => {
    if (total === 0) return resolve();
    void consumer.run({
      eachMessage: async ({ message: m }) => {
        seen++;
        if (m.headers?.['control-id']?.toString() === controlId && m.value) found.push(m.value);
        if (seen >= total) resolve();
      },
    });
  });
  await consumer.disconnect();
  return found;
}

beforeAll(async () => {
  broker = await startTestBroker();
  kafka = new Kafka({ brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: topics.inbound, numPartitions: 3 },
      { topic: topics.deadletter, numPartitions: 1 },
    ],
  });
  await admin.disconnect();
  producer = createKafkaProducer({ brokers: broker.brokers, log, requestTimeoutMs: 2_000, connectionTimeoutMs: 1_000 });
  const handler = new MessageHandler({
    producer,
    profiles,
    keyFn: gatewayKey,
    clock: systemClock,
    log,
    topics,
    produceTimeoutMs: 4_000,
  });
  gateway = await startMllpListener(
    { port: 0, host: '127.0.0.1', maxMessageBytes: MAX, maxConnections: 150 },
    handler,
    log,
  );
});

afterAll(async () => {
  await gateway?.close();
  await producer?.close();
  await broker?.destroy();
});

describe('MLLP gateway with a real Kafka broker', () => {
  it('acknowledges CA only once the message is stored in adt.inbound, with the raw bytes', async () => {
    const c = await RawMllpClient.connect(gateway.address().port);
    const ack = await c.send(message('GW-ONE'));
    expect(msa(ack).slice(0, 3)).toEqual(['MSA', 'CA', 'GW-ONE']);
    const stored = await recordsWith(topics.inbound, 'GW-ONE');
    expect(stored).toHaveLength(1);
    expect(stored[0]!.toString('latin1')).toBe(message('GW-ONE'));
    c.close();
  });

  it('handles three frames in one packet and one frame split into many packets, ACKs in order', async () => {
    const c = await RawMllpClient.connect(gateway.address().port);
    await c.write(Buffer.concat(['GW-J1', 'GW-J2', 'GW-J3'].map((id) => RawMllpClient.frame(message(id)))));
    const split = RawMllpClient.frame(message('GW-S1'));
    for (let i = 0; i < split.length; i += 7) {
      await c.write(split.subarray(i, i + 7));
      if (i % 70 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    const acks = await c.waitForAcks(4);
    expect(acks.map((a) => msa(a).slice(1, 3))).toEqual([
      ['CA', 'GW-J1'],
      ['CA', 'GW-J2'],
      ['CA', 'GW-J3'],
      ['CA', 'GW-S1'],
    ]);
    expect(await recordsWith(topics.inbound, 'GW-S1')).toHaveLength(1);
    c.close();
  });

  it('serves 100 concurrent connections, each message acknowledged and stored', async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => RawMllpClient.connect(gateway.address().port)));
    const acks = await Promise.all(clients.map((c, i) => c.send(message(`GW-C${i}`))));
    expect(acks.map((a) => msa(a)[1])).toEqual(Array(100).fill('CA'));
    expect(acks.map((a) => msa(a)[2])).toEqual(clients.map((_, i) => `GW-C${i}`));
    expect(await recordsWith(topics.inbound, 'GW-C57')).toHaveLength(1);
    for (const c of clients) c.close();
  });

  it('answers an oversize message AR with the reason and keeps the connection usable', async () => {
    const c = await RawMllpClient.connect(gateway.address().port);
    const big = message('GW-BIG') + `NTE|1||${'x'.repeat(MAX)}\r`;
    const ack = await c.send(big);
    expect(msa(ack)).toEqual([
      'MSA',
      'CR',
      'GW-BIG',
      `message of ${Buffer.byteLength(big, 'latin1')} bytes exceeds the gateway maximum of ${MAX} bytes`,
    ]);
    expect(msa(await c.send(message('GW-AFTER-BIG')))[1]).toBe('CA');
    expect(await recordsWith(topics.inbound, 'GW-BIG')).toHaveLength(0);
    c.close();
  });

  it('survives garbage: recovers after stray bytes and closes a connection that sends only noise', async () => {
    const c = await RawMllpClient.connect(gateway.address().port);
    await c.write(Buffer.from([0x00, 0xff, 0x41, 0x1c, 0x0d, 0x0a]));
    await c.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(msa(await c.send(message('GW-AFTER-GARBAGE')))[1]).toBe('CA');
    c.close();
    const noise = await RawMllpClient.connect(gateway.address().port);
    await noise.write(Buffer.alloc(MAX + 10, 0x41)).catch(() => undefined);
    await noise.waitClosed();
    expect(noise.acks).toHaveLength(0);
    const next = await RawMllpClient.connect(gateway.address().port);
    expect(msa(await next.send(message('GW-AFTER-NOISE')))[1]).toBe('CA');
    next.close();
  });

  it('answers AE and writes to the dead-letter topic when PV1 is missing', async () => {
    const c = await RawMllpClient.connect(gateway.address().port);
    const noPv1 = message('GW-NOVISIT').replace(/PV1\|[^\r]*\r/, '');
    const ack = await c.send(noPv1);
    expect(msa(ack)[1]).toBe('CE');
    expect(ack).toContain('ERR||PV1^1|100^Segment sequence error^HL70357|E');
    expect(await recordsWith(topics.deadletter, 'GW-NOVISIT')).toHaveLength(1);
    expect(await recordsWith(topics.inbound, 'GW-NOVISIT')).toHaveLength(0);
    c.close();
  });

  it('answers a resend with the same ACK without storing it twice', async () => {
    const c = await RawMllpClient.connect(gateway.address().port);
    const first = await c.send(message('GW-RESEND'));
    const second = await c.send(message('GW-RESEND'));
    expect(second).toBe(first);
    expect(await recordsWith(topics.inbound, 'GW-RESEND')).toHaveLength(1);
    c.close();
  });

  it('rejects while the broker is stopped and stores the resend exactly once after it returns', async () => {
    await broker.stop();
    const c = await RawMllpClient.connect(gateway.address().port);
    const down = await c.send(message('GW-DOWN'));
    expect(msa(down).slice(0, 3)).toEqual(['MSA', 'CR', 'GW-DOWN']);
    await broker.start();
    let ack = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      ack = await c.send(message('GW-DOWN'));
      if (msa(ack)[1] === 'CA') break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(msa(ack)[1]).toBe('CA');
    expect(await recordsWith(topics.inbound, 'GW-DOWN')).toHaveLength(1);
    c.close();
  }, 120_000);
});

describe('MLLP gateway over TLS with client certificates', () => {
  let dir: string;
  let tlsGateway: MllpGateway;
  const pem = (name: string): Buffer => readFileSync(join(dir, name));
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tc-gw-tls-'));
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=tc-test-ca',
    );
    const leaf = (name: string, cn: string, ext: string): void => {
      ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${cn}`,
      );
      execFileSync('sh', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      );
    };
    leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
    leaf('client', 'mercy-epic-bridge', 'extendedKeyUsage=clientAuth');
    leaf('stranger', 'someone-else', 'extendedKeyUsage=clientAuth');
    const mercy = profiles.byId('mercy-springfield')!;
    const tlsProfiles = createSenderProfiles([
      senderProfileSchema.parse({
        ...mercy,
        gatewayAuth: { certificateCN: ['mercy-epic-bridge'], sourceAddresses: ['127.0.0.1'] },
      }),
    ]);
    const handler = new MessageHandler({
      producer,
      profiles: tlsProfiles,
      keyFn: gatewayKey,
      clock: systemClock,
      log,
      topics,
      produceTimeoutMs: 4_000,
    });
    tlsGateway = await startMllpListener(
      { port: 0, host: '127.0.0.1', tls: { key: pem('server.key'), cert: pem('server.crt'), ca: pem('ca.crt') } },
      handler,
      log,
    );
  });

  afterAll(async () => {
    await tlsGateway?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a sender whose client certificate CN and address match its profile', async () => {
    const c = await RawMllpClient.connectTls(tlsGateway.address().port, {
      ca: pem('ca.crt'),
      key: pem('client.key'),
      cert: pem('client.crt'),
    });
    expect(msa(await c.send(message('GW-TLS-1')))[1]).toBe('CA');
    expect(await recordsWith(topics.inbound, 'GW-TLS-1')).toHaveLength(1);
    c.close();
  });

  it('rejects a valid certificate whose CN is not the sender’s with CR and stores nothing', async () => {
    const c = await RawMllpClient.connectTls(tlsGateway.address().port, {
      ca: pem('ca.crt'),
      key: pem('stranger.key'),
      cert: pem('stranger.crt'),
    });
    const ack = await c.send(message('GW-TLS-2'));
    expect(msa(ack)).toEqual(['MSA', 'CR', 'GW-TLS-2', 'client certificate CN is not allowed for this sender']);
    expect(await recordsWith(topics.inbound, 'GW-TLS-2')).toHaveLength(0);
    c.close();
  });

  it('refuses a connection without a client certificate', async () => {
    const attempt = RawMllpClient.connectTls(tlsGateway.address().port, { ca: pem('ca.crt') }).then(async (c) => {
      // TLS 1.3: the server's refusal may arrive after the client considers the handshake done
      await c.write(RawMllpClient.frame(message('GW-TLS-3'))).catch(() => undefined);
      await c.waitClosed();
      return c.acks.length;
    });
    await expect(attempt.catch(() => 'refused')).resolves.toSatisfy((r) => r === 'refused' || r === 0);
    expect(await recordsWith(topics.inbound, 'GW-TLS-3')).toHaveLength(0);
  });
});
