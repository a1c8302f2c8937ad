import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MessageHandler } from '../../src/gateway/handler.ts';
import { startGatewayHttp } from '../../src/gateway/http.ts';
import { gatewayKey } from '../../src/gateway/key.ts';
import { GatewayMetrics } from '../../src/gateway/metrics.ts';
import { RecordingProducer } from '../../src/gateway/producer.ts';
import { loadSenderProfiles } from '../../src/mappings/senders.ts';

const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7').toString('latin1');
const PEER = { tls: false, remoteAddress: '127.0.0.1' };
const NOW = Date.UTC(2026, 10, 2, 14);

describe('gateway metrics and health (issue 14 item 9)', () => {
  it('counts messages and ACK codes per sender profile and keeps the time of its last message', async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false });
    const producer = new RecordingProducer();
    const handler = new MessageHandler({
      producer,
      profiles: loadSenderProfiles('mappings/senders'),
      keyFn: gatewayKey,
      clock: { now: () => NOW },
      log: pino({ level: 'silent' }),
      metrics,
    });
    await handler.handle(Buffer.from(A04), PEER);
    await handler.handle(Buffer.from(A04.replace('MRC-P001-01', 'M2')), PEER);
    await handler.handle(
      Buffer.from(
        A04.replace('MRC-P001-01', 'M3')
          .replace('ADT^A04', 'ADT^A04')
          .replace(/\rPV1[^\r]*/, ''),
      ),
      PEER,
    );
    await handler.handle(Buffer.from(A04.replace('MERCYSGF', 'NOSUCHPLACE')), PEER);
    const text = await metrics.registry.metrics();
    expect(text).toContain('tc_gateway_messages_total{sender="mercy-springfield",outcome="stored"} 2');
    expect(text).toContain('tc_gateway_messages_total{sender="mercy-springfield",outcome="dead-lettered"} 1');
    expect(text).toContain('tc_gateway_acks_total{sender="mercy-springfield",ack="AA"} 2');
    expect(text).toContain('tc_gateway_acks_total{sender="mercy-springfield",ack="AE"} 1');
    expect(text).toContain('tc_gateway_acks_total{sender="unknown",ack="AR"} 1');
    expect(text).toContain(`tc_gateway_last_message_timestamp_seconds{sender="mercy-springfield"} ${NOW / 1000}`);
    expect(text).not.toContain('NOSUCHPLACE');
  });

  it('serves /healthz from its liveness, /readyz with reasons and /metrics', async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false });
    let live = true;
    const server = await startGatewayHttp(
      metrics,
      { live: () => live, ready: () => ({ ready: false, reasons: ['the last Kafka write failed'] }) },
      0,
    );
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      live = false;
      expect((await fetch(`${base}/healthz`)).status).toBe(503);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'not-ready', reasons: ['the last Kafka write failed'] });
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('tc_gateway_messages_total');
    } finally {
      server.close();
    }
  });
});
