import { readFileSync } from 'node:fs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MessageHandler } from '../../src/gateway/handler.ts';
import { gatewayKey } from '../../src/gateway/key.ts';
import { RecordingProducer } from '../../src/gateway/producer.ts';
import { senderProfileSchema } from '../../src/mappings/sender-profile.ts';
import { createSenderProfiles, loadSenderProfiles } from '../../src/mappings/senders.ts';
import { hostileMessage } from '../fixtures/hostile.ts';

const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7').toString('latin1');
const shipped = loadSenderProfiles('mappings/senders');
const PEER = { tls: false, remoteAddress: '127.0.0.1' };
const msa = (ack: Buffer | undefined) =>
  (
    ack
      ?.toString('latin1')
      .split('\r')
      .find((l) => l.startsWith('MSA')) ?? ''
  ).split('|');
const err = (ack: Buffer | undefined) =>
  ack
    ?.toString('latin1')
    .split('\r')
    .find((l) => l.startsWith('ERR')) ?? '';

function setup(limits: Record<string, number>) {
  const profiles = createSenderProfiles([senderProfileSchema.parse({ ...shipped.byId('mercy-springfield')!, limits })]);
  const producer = new RecordingProducer();
  const handler = new MessageHandler({
    producer,
    profiles,
    keyFn: gatewayKey,
    clock: { now: () => Date.UTC(2026, 10, 2, 14) },
    log: pino({ level: 'silent' }),
    produceTimeoutMs: 1000,
  });
  return { producer, handler };
}

describe('gateway limits per sender profile (issue 12)', () => {
  it('refuses a message over the profile byte limit with AR naming the limit, and stores nothing', async () => {
    const { producer, handler } = setup({ maxBytes: 2000 });
    const reply = await handler.handle(Buffer.from(A04.replace('ALVAREZ', 'ALVAREZ'.repeat(400))), PEER);
    expect(reply.outcome).toBe('rejected-limit');
    expect(msa(reply.ack)[1]).toBe('CR');
    expect(reply.ack!.toString('latin1')).toContain('limits.maxBytes = 2000');
    expect(reply.ack!.toString('latin1')).not.toContain('ALVAREZ');
    expect(producer.records).toHaveLength(0);
  });

  it('stores a message beyond a shape limit in the dead-letter topic and answers AE naming segment and field', async () => {
    const { producer, handler } = setup({ maxRepetitions: 50 });
    const reply = await handler.handle(Buffer.from(hostileMessage('repetitions', 5_000)), PEER);
    expect(reply.outcome).toBe('dead-lettered');
    expect(reply.code).toBe('TC_HL7_LIMIT');
    expect(msa(reply.ack)[1]).toBe('CE');
    expect(err(reply.ack)).toContain('PID^1^3');
    expect(producer.records).toHaveLength(1);
    const r = producer.records[0]!;
    expect(r.topic).toBe('adt.deadletter');
    expect(r.headers).toMatchObject({ 'error-code': 'TC_HL7_LIMIT', 'error-location': 'PID-3' });
    expect(r.headers['error-reason']).toContain('limits.maxRepetitions = 50');
  });

  it('stores a known sender’s 60 KB whitespace-run message in adt.inbound under the default limits', async () => {
    const { producer, handler } = setup({});
    const big = hostileMessage('whitespace', 60_000);
    const reply = await handler.handle(Buffer.from(big), PEER);
    expect(reply.outcome).toBe('stored');
    expect(producer.records[0]!.topic).toBe('adt.inbound');
  }, 60_000);
});
