import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageHandler } from '../../src/gateway/handler.ts';
import { gatewayKey } from '../../src/gateway/key.ts';
import { GatewayMetrics } from '../../src/gateway/metrics.ts';
import { RecordingProducer } from '../../src/gateway/producer.ts';
import { startMllpListener, type ListenerOptions, type MllpGateway } from '../../src/gateway/server.ts';
import { loadSenderProfiles } from '../../src/mappings/senders.ts';
import { systemClock } from '../../src/util/clock.ts';
import { RawMllpClient, msa } from './mllp-client.ts';

// The listener under abuse (issue 12 item 6). What is tested is the TCP side (slots, deadlines), so the handler
// writes to a recording producer; test/gateway/gateway.test.ts covers the same listener on a real broker.
const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7').toString('latin1');
const profiles = loadSenderProfiles('mappings/senders');
const log = pino({ level: process.env.GW_TEST_LOG ?? 'silent' });
const opened: { gateway: MllpGateway; clients: RawMllpClient[] }[] = [];

async function gatewayWith(options: Partial<ListenerOptions>) {
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const handler = new MessageHandler({
    producer: new RecordingProducer(),
    profiles,
    keyFn: gatewayKey,
    clock: systemClock,
    log,
    metrics,
  });
  const gateway = await startMllpListener({ port: 0, host: '127.0.0.1', metrics, ...options }, handler, log);
  const clients: RawMllpClient[] = [];
  opened.push({ gateway, clients });
  const connect = async (from: string) => {
    const c = await RawMllpClient.connect(gateway.address().port, '127.0.0.1', from);
    clients.push(c);
    return c;
  };
  return { gateway, connect, metrics };
}

/** Waits until the server has accepted or refused every client (refused ones are closed by the server). */
async function settled(gateway: MllpGateway, clients: RawMllpClient[]): Promise<void> {
  while (clients.filter((c) => c.closed).length + gateway.connectionCount() !== clients.length)
    await new Promise((r) => setTimeout(r, 20));
}

afterEach(async () => {
  for (const o of opened.splice(0)) {
    for (const c of o.clients) c.socket.destroy();
    await o.gateway.close();
  }
});

describe('the MLLP gateway under abuse (issue 12)', () => {
  it('closes a connection whose frame is not complete within the deadline from its first byte, even if bytes trickle in', async () => {
    const { connect, gateway } = await gatewayWith({ frameDeadlineMs: 800 });
    const slow = await connect('127.0.0.3');
    await slow.write(Buffer.from([0x0b]));
    // one byte every 50 ms: each byte would reset an idle timer, never the frame's deadline
    let sent = 0;
    while (!slow.closed && sent < 400) {
      await slow.write(Buffer.from('M')).catch(() => undefined);
      sent++;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(slow.closed).toBe(true);
    expect(sent).toBeLessThan(400);
    // a sender that completes its frames is never cut off, however many it sends
    const good = await connect('127.0.0.4');
    for (let i = 0; i < 3; i++) expect(msa(await good.send(A04.replace('MRC-P001-01', `ABUSE-D${i}`)))[1]).toBe('CA');
    expect(good.closed).toBe(false);
    expect(gateway.connectionCount()).toBe(1);
  }, 120_000);

  it('caps the connections of one peer address that is not a known sender', async () => {
    const { connect, gateway, metrics } = await gatewayWith({ maxConnectionsPerPeer: 3 });
    const clients: RawMllpClient[] = [];
    for (let i = 0; i < 6; i++) clients.push(await connect('127.0.0.5'));
    for (let i = 0; i < 2; i++) clients.push(await connect('127.0.0.6'));
    await settled(gateway, clients);
    expect(gateway.connectionCount()).toBe(5);
    expect(clients.filter((c) => c.closed)).toHaveLength(3);
    expect(await metrics.registry.getSingleMetricAsString('tc_gateway_connections_refused_total')).toContain(
      'reason="max-connections-per-peer"} 3',
    );
  }, 120_000);

  it('serves a known sender from the reserved slots while unknown peers hold every other slot', async () => {
    const { connect, gateway } = await gatewayWith({
      maxConnections: 12,
      reservedForKnown: 4,
      maxConnectionsPerPeer: 2,
    });
    // the hospital's engine sends once: its address is now a known sender's
    const hospital = await connect('127.0.0.2');
    expect(msa(await hospital.send(A04.replace('MRC-P001-01', 'ABUSE-K1')))[1]).toBe('CA');
    hospital.close();
    await hospital.waitClosed();
    // 20 unknown peers crowd in: only 12 - 4 slots are theirs
    const crowd: RawMllpClient[] = [];
    for (let i = 0; i < 20; i++) crowd.push(await connect(`127.0.1.${i + 1}`));
    await settled(gateway, crowd);
    expect(gateway.unknownConnectionCount()).toBe(8);
    // the hospital reconnects and is served
    const again = await connect('127.0.0.2');
    expect(msa(await again.send(A04.replace('MRC-P001-01', 'ABUSE-K2')))[1]).toBe('CA');
    expect(gateway.connectionCount()).toBe(9);
  }, 120_000);

  it('serves a peer known by its profile address before it has sent anything', async () => {
    const { connect, gateway } = await gatewayWith({
      maxConnections: 4,
      reservedForKnown: 2,
      isKnownPeer: (p) => p.remoteAddress === '127.0.0.7',
    });
    const crowd: RawMllpClient[] = [];
    for (let i = 0; i < 6; i++) crowd.push(await connect(`127.0.2.${i + 1}`));
    await settled(gateway, crowd);
    expect(gateway.connectionCount()).toBe(2);
    const known = await connect('127.0.0.7');
    expect(msa(await known.send(A04.replace('MRC-P001-01', 'ABUSE-P1')))[1]).toBe('CA');
  }, 120_000);
});
