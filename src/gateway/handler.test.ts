import { readFileSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../hl7/index.ts';
import { createSenderProfiles, loadSenderProfiles } from '../mappings/senders.ts';
import { senderProfileSchema } from '../mappings/sender-profile.ts';
import { MessageHandler, type HandlerOptions } from './handler.ts';
import { gatewayKey } from './key.ts';
import { RecordingProducer } from './producer.ts';

const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7');
const profiles = loadSenderProfiles('mappings/senders');
const silent = pino({ level: 'silent' });
const PEER = { tls: false, remoteAddress: '127.0.0.1' };

/** Original mode: MSH-15/16 emptied (the fixture asks for enhanced mode). */
const original = (bytes: Buffer): Buffer => Buffer.from(bytes.toString('latin1').replace('|||AL|NE', ''), 'latin1');
const withMsh = (bytes: Buffer, from: string, to: string): Buffer =>
  Buffer.from(bytes.toString('latin1').replace(from, to), 'latin1');
const seg = (ack: Buffer | undefined, name: string): string[] =>
  (
    ack
      ?.toString('latin1')
      .split('\r')
      .find((l) => l.startsWith(name)) ?? ''
  ).split('|');

function setup(over: Partial<HandlerOptions> = {}) {
  let now = Date.UTC(2026, 10, 2, 14, 0, 0);
  const producer = new RecordingProducer();
  const clock = { now: () => now };
  const handler = new MessageHandler({
    producer,
    profiles,
    keyFn: gatewayKey,
    clock,
    log: silent,
    produceTimeoutMs: 200,
    ...over,
  });
  return { producer, handler, advance: (ms: number) => (now += ms) };
}

describe('gateway message handling', () => {
  it('writes the raw bytes to adt.inbound with the key and headers, then acknowledges CA per MSH-15', async () => {
    const { producer, handler } = setup();
    const reply = await handler.handle(A04, PEER);
    expect(reply.outcome).toBe('stored');
    expect(producer.records).toHaveLength(1);
    const r = producer.records[0]!;
    expect(r.topic).toBe('adt.inbound');
    expect(r.value.equals(A04)).toBe(true);
    const parsed = parseMessage(A04);
    if (!parsed.ok) throw new Error('fixture does not parse');
    expect(r.key).toBe(gatewayKey(parsed.message, profiles.byId('mercy-springfield')!));
    expect(r.headers).toMatchObject({
      source: 'mllp',
      'sender-profile': 'mercy-springfield',
      'control-id': 'MRC-P001-01',
      'received-at': '2026-11-02T14:00:00.000Z',
    });
    expect(JSON.stringify(r.headers)).not.toContain('ALVAREZ');
    expect(seg(reply.ack, 'MSA')).toEqual(['MSA', 'CA', 'MRC-P001-01']);
    expect(seg(reply.ack, 'MSH').slice(2, 6)).toEqual(['TCALERTS', 'MOHH', 'EPIC', 'MERCYSGF']);
  });

  it('answers AA in original mode', async () => {
    const { handler } = setup();
    expect(seg((await handler.handle(original(A04), PEER)).ack, 'MSA')[1]).toBe('AA');
  });

  it('gives a resend within the window the same ACK and does not write it twice', async () => {
    const { producer, handler, advance } = setup({ resendWindowMs: 60_000 });
    const first = await handler.handle(A04, PEER);
    advance(30_000);
    const again = await handler.handle(A04, PEER);
    expect(again.outcome).toBe('resend');
    expect(again.ack?.equals(first.ack!)).toBe(true);
    expect(producer.records).toHaveLength(1);
    advance(60_000);
    expect((await handler.handle(A04, PEER)).outcome).toBe('stored');
    expect(producer.records).toHaveLength(2);
  });

  it('writes a message that reuses an MSH-10 with different content', async () => {
    const { producer, handler } = setup();
    await handler.handle(A04, PEER);
    const other = withMsh(A04, '20261102081500||ADT', '20261102081501||ADT');
    expect((await handler.handle(other, PEER)).outcome).toBe('stored');
    expect(producer.records).toHaveLength(2);
  });

  it('rejects a sender without a profile with AR and stores nothing', async () => {
    const { producer, handler } = setup();
    const reply = await handler.handle(withMsh(original(A04), 'EPIC|MERCYSGF', 'EPIC|NOWHERE'), PEER);
    expect(reply.outcome).toBe('rejected-unknown-sender');
    expect(seg(reply.ack, 'MSA')).toEqual(['MSA', 'AR', 'MRC-P001-01', 'sender has no profile for MSH-3/MSH-4']);
    expect(producer.records).toHaveLength(0);
  });

  it('answers AE with ERR-2/3/4 for a v2.5.1 message without PV1 and writes it to the dead-letter topic', async () => {
    const { producer, handler } = setup();
    const noPv1 = Buffer.from(
      original(A04)
        .toString('latin1')
        .replace(/PV1\|[^\r]*\r/, ''),
      'latin1',
    );
    const reply = await handler.handle(noPv1, PEER);
    expect(reply.outcome).toBe('dead-lettered');
    expect(seg(reply.ack, 'MSA')[1]).toBe('AE');
    expect(seg(reply.ack, 'ERR').slice(0, 5)).toEqual(['ERR', '', 'PV1^1', '100^Segment sequence error^HL70357', 'E']);
    expect(producer.records.map((r) => r.topic)).toEqual(['adt.deadletter']);
    expect(producer.records[0]!.headers).toMatchObject({
      'error-code': 'TC_HL7_MISSING_SEGMENT',
      'error-location': 'PV1',
    });
  });

  it('answers AE with ERR-1 for a v2.3 message missing MSH-10', async () => {
    const { producer, handler } = setup();
    const v23 = withMsh(original(A04), '|MRC-P001-01|P|2.5.1', '||P|2.3');
    const reply = await handler.handle(v23, PEER);
    expect(reply.outcome).toBe('dead-lettered');
    expect(seg(reply.ack, 'MSA').slice(0, 3)).toEqual(['MSA', 'AE', '']);
    expect(seg(reply.ack, 'ERR')).toEqual(['ERR', 'MSH^1^10^101&Required field missing&HL70357']);
    expect(producer.records).toHaveLength(1);
  });

  it('acknowledges an event the engine ignores and still stores it', async () => {
    const { producer, handler } = setup();
    const a31 = withMsh(original(A04), 'ADT^A04^ADT_A01', 'ADT^A31^ADT_A05');
    const reply = await handler.handle(a31, PEER);
    expect(reply.outcome).toBe('stored-ignored-event');
    expect(seg(reply.ack, 'MSA')[1]).toBe('AA');
    expect(producer.records).toHaveLength(1);
  });

  it('rejects a message type other than ADT', async () => {
    const { producer, handler } = setup();
    const oru = withMsh(original(A04), 'ADT^A04^ADT_A01', 'ORU^R01^ORU_R01');
    const reply = await handler.handle(oru, PEER);
    expect(seg(reply.ack, 'MSA')[1]).toBe('AR');
    expect(seg(reply.ack, 'ERR')[3]).toBe('200^Unsupported message type^HL70357');
    expect(producer.records).toHaveLength(0);
  });

  it('answers AR when Kafka is down; the resend after it returns is stored once', async () => {
    const { producer, handler } = setup();
    producer.failWith = new Error('KafkaJSConnectionError');
    const down = await handler.handle(original(A04), PEER);
    expect(down.outcome).toBe('rejected-kafka-unavailable');
    expect(seg(down.ack, 'MSA')[1]).toBe('AR');
    producer.failWith = undefined;
    expect((await handler.handle(original(A04), PEER)).outcome).toBe('stored');
    expect((await handler.handle(original(A04), PEER)).outcome).toBe('resend');
    expect(producer.records).toHaveLength(1);
  });

  it('withholds the ACK and closes when the profile says so, and a slow write that lands late is not written twice', async () => {
    const strict = createSenderProfiles([
      senderProfileSchema.parse({ ...profiles.byId('mercy-springfield')!, gatewayOnKafkaDown: 'withhold' }),
    ]);
    const { producer, handler } = setup({ profiles: strict });
    let open!: () => void;
    producer.gate = new Promise((r) => (open = r));
    const held = await handler.handle(A04, PEER);
    expect(held).toMatchObject({ outcome: 'withheld-kafka-unavailable', close: true });
    expect(held.ack).toBeUndefined();
    producer.gate = undefined;
    open();
    await new Promise((r) => setImmediate(r));
    const again = await handler.handle(A04, PEER);
    expect(again.outcome).toBe('resend');
    expect(seg(again.ack, 'MSA')[1]).toBe('CA');
    expect(producer.records).toHaveLength(1);
  });

  it('over TLS requires the certificate CN and source address of the profile', async () => {
    const withAuth = createSenderProfiles([
      senderProfileSchema.parse({
        ...profiles.byId('mercy-springfield')!,
        gatewayAuth: { certificateCN: ['mercy-epic-bridge'], sourceAddresses: ['10.20.0.0/16'] },
      }),
    ]);
    const { producer, handler } = setup({ profiles: withAuth });
    const bad = await handler.handle(original(A04), {
      tls: true,
      remoteAddress: '10.20.3.4',
      certificateCN: 'someone-else',
    });
    expect(bad.outcome).toBe('rejected-not-authorized');
    expect(seg(bad.ack, 'MSA')[3]).toBe('client certificate CN is not allowed for this sender');
    const wrongAddr = await handler.handle(original(A04), {
      tls: true,
      remoteAddress: '10.21.0.1',
      certificateCN: 'mercy-epic-bridge',
    });
    expect(wrongAddr.outcome).toBe('rejected-not-authorized');
    const good = await handler.handle(original(A04), {
      tls: true,
      remoteAddress: '::ffff:10.20.3.4',
      certificateCN: 'mercy-epic-bridge',
    });
    expect(good.outcome).toBe('stored');
    expect(producer.records).toHaveLength(1);
  });

  it('answers an oversize frame with AR naming the limit, from the MSH in its head', () => {
    const { handler } = setup();
    const reply = handler.oversize(original(A04).subarray(0, 120), 5_000_000, 1_048_576);
    expect(seg(reply.ack, 'MSA')).toEqual([
      'MSA',
      'AR',
      'MRC-P001-01',
      'message of 5000000 bytes exceeds the gateway maximum of 1048576 bytes',
    ]);
  });

  it('answers AR to a frame without MSH and ignores an empty frame', async () => {
    const { handler } = setup();
    expect(seg((await handler.handle(Buffer.from('hello'), PEER)).ack, 'MSA')[1]).toBe('AR');
    expect((await handler.handle(Buffer.from('\r\n'), PEER)).ack).toBeUndefined();
  });
});
