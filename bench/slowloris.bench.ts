// Slowloris against the MLLP gateway (issue 12): 500 slow peers (each its own loopback address, 1 byte a second
// inside a frame that never ends) while a known sender sends messages one after another. Its ACK latency is
// measured alone, then under the crowd. The listener runs with the shipped defaults (200 connections, 50
// reserved for known senders, 10 per unknown peer, a 30 s frame deadline); the handler writes to a recording
// producer, so the figures are the listener's. BENCH_SLOWLORIS_S seconds per phase (default 20).
import net from 'node:net';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { MessageHandler } from '../src/gateway/handler.ts';
import { gatewayKey } from '../src/gateway/key.ts';
import { RecordingProducer } from '../src/gateway/producer.ts';
import { startMllpListener } from '../src/gateway/server.ts';
import { loadSenderProfiles } from '../src/mappings/senders.ts';
import { systemClock } from '../src/util/clock.ts';
import { RawMllpClient, msa } from '../test/gateway/mllp-client.ts';

const PHASE_S = Number(process.env.BENCH_SLOWLORIS_S ?? 20);
const PEERS = Number(process.env.BENCH_SLOWLORIS_PEERS ?? 500);
const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7').toString('latin1');
const log = pino({ level: 'silent' });
const producer = new RecordingProducer();
const handler = new MessageHandler({
  producer,
  profiles: loadSenderProfiles('mappings/senders'),
  keyFn: gatewayKey,
  clock: systemClock,
  log,
});
const gateway = await startMllpListener({ port: 0, host: '127.0.0.1' }, handler, log);
const port = gateway.address().port;
let seq = 0;

async function senderPhase(): Promise<{ p50: number; p99: number; n: number; failed: number }> {
  const lat: number[] = [];
  let failed = 0;
  const end = performance.now() + PHASE_S * 1000;
  while (performance.now() < end) {
    try {
      const c = await RawMllpClient.connect(port, '127.0.0.1', '127.0.0.2');
      for (let i = 0; i < 20 && performance.now() < end; i++) {
        const t0 = performance.now();
        const ack = await c.send(A04.replace('MRC-P001-01', `SLOW-${++seq}`));
        if (msa(ack)[1] !== 'CA') failed++;
        lat.push(performance.now() - t0);
      }
      c.close();
    } catch {
      failed++;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), n: lat.length, failed };
}

const alone = await senderPhase();
// the crowd: each slow peer reconnects when closed, so it keeps pressing for the whole phase
let stop = false;
let opened = 0;
let refusedOrClosed = 0;
const slowPeer = (i: number) => {
  if (stop) return;
  const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}` });
  let timer: NodeJS.Timeout | undefined;
  s.on('connect', () => {
    opened++;
    s.write(Buffer.from([0x0b]));
    timer = setInterval(() => s.write('M'), 1000);
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    refusedOrClosed++;
    clearInterval(timer);
    setTimeout(() => slowPeer(i), 1000); // a refused peer tries again a second later
  });
};
for (let i = 0; i < PEERS; i++) slowPeer(i);
await new Promise((r) => setTimeout(r, 3000));
const crowdedConnections = gateway.connectionCount();
const crowded = await senderPhase();
stop = true;
await gateway.close();
console.log(`node ${process.version}; ${PEERS} slow peers (1 byte/s each), ${PHASE_S} s per phase`);
console.log(
  `alone:   ${alone.n} ACKs, p50 ${alone.p50.toFixed(1)} ms, p99 ${alone.p99.toFixed(1)} ms, ${alone.failed} failed`,
);
console.log(
  `crowded: ${crowded.n} ACKs, p50 ${crowded.p50.toFixed(1)} ms, p99 ${crowded.p99.toFixed(1)} ms, ${crowded.failed} failed; ` +
    `${crowdedConnections} open connections, slow peers opened ${opened}, refused or closed ${refusedOrClosed}`,
);
console.log(
  `bench:slowloris: known sender's ACK p99 ${crowded.p99.toFixed(1)} ms under ${PEERS} slow peers vs ${alone.p99.toFixed(1)} ms alone (${(crowded.p99 / alone.p99).toFixed(2)}×; goal ≤ 2×), ${crowded.failed} failed`,
);
process.exit(0);
