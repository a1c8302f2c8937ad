/**
 * npm run bench:pipeline — the whole engine through a real Kafka broker.
 * Mix: a 100,000-participant roster (PIPELINE_ROSTER) spread over the site directory; ADT visits (ER A04 → A03 or
 * inpatient A01 → A03) from Mercy Springfield, 10% of them for enrolled participants (test/helpers/feed.ts).
 * Processes: the broker (KAFKA_BROKERS, or Kafka 4.x from Maven Central jars), `tc-alerts sites serve` (simulator
 * sites) and `tc-alerts run` (the engine; PGlite unless DATABASE_URL is set) each in their own process.
 * (1) Sustained: PIPELINE_MESSAGES (20,000) published as a backlog; messages/s from the first outcome to the last.
 * (2) Latency: 200 msg/s for PIPELINE_LATENCY_SECONDS (30); per message, publish → its Tasks stored at the site
 *     (the engine's `delivered` outcome records), and publish → outcome for every message.
 * Figures on the last lines.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { loadEngineMappings } from '../src/engine/deps.ts';
import { freePort, startLocalBroker, type LocalBroker } from '../src/kafka/broker.ts';
import type { OutcomeRecord } from '../src/kafka/topics.ts';
import { generateFeed, rosterCsv, siteRoster } from '../test/helpers/feed.ts';
import { siteDirectoryOnFreePorts } from '../test/helpers/sites.ts';

const ROSTER = Number(process.env.PIPELINE_ROSTER ?? 100_000);
const N = Number(process.env.PIPELINE_MESSAGES ?? 20_000);
const RATE = Number(process.env.PIPELINE_RATE ?? 200);
const LATENCY_S = Number(process.env.PIPELINE_LATENCY_SECONDS ?? 30);
const PARTITIONS = Number(process.env.KAFKA_PARTITIONS ?? 6);
const WARMUP = 400;
const NOW = '2026-11-23T12:00:00-06:00';

const dir = mkdtempSync(join(tmpdir(), 'tc-bench-pipeline-'));
// With DATABASE_URL (PostgreSQL), each run gets a database of its own (state from an earlier run would turn the
// feed's visits into no-change updates), dropped at the end.
const serverUrl = process.env.DATABASE_URL;
const benchDb = `tc_bench_${randomBytes(3).toString('hex')}`;
const adminQuery = async (sql: string) => {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
};
let databaseUrl: string | undefined;
if (serverUrl) {
  await adminQuery(`CREATE DATABASE ${benchDb}`);
  const u = new URL(serverUrl);
  u.pathname = `/${benchDb}`;
  databaseUrl = u.toString();
}
const children: ChildProcess[] = [];
let broker: LocalBroker | undefined;
const cleanup = async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await broker?.stop();
  if (databaseUrl) {
    await sleep(2_000); // let the engine close its connections
    await adminQuery(`DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

const t = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};

// Broker.
let brokers = process.env.KAFKA_BROKERS?.split(',');
if (!brokers) {
  broker = await startLocalBroker({ dataDir: join(dir, 'kafka'), heap: '512m' });
  brokers = broker.brokers;
}

// Sites: the shipped directory on free ports, served by their own process.
const sitesDir = join(dir, 'sites');
mkdirSync(sitesDir);
const directory = await siteDirectoryOnFreePorts(sitesDir);
const sitesProc = spawn(process.execPath, ['bin/tc-alerts.js', 'sites', 'serve', '--sites', sitesDir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.push(sitesProc);
await new Promise<void>((ok, fail) => {
  createInterface({ input: sitesProc.stdout! }).on('line', (l) => l.startsWith('serving ') && ok());
  sitesProc.once('exit', (c) => fail(new Error(`sites serve exited (${c})`)));
});

// Roster, loaded as a user would.
let t0 = t();
const roster = siteRoster(
  ROSTER,
  directory.sites.map((s) => ({ siteId: s.siteId, program: s.program, providerId: s.providerId })),
);
writeFileSync(join(dir, 'roster.csv'), rosterCsv(roster));
const env = {
  ...process.env,
  ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  TC_DATA_DIR: join(dir, 'data'),
  TC_SITES_DIR: sitesDir,
  TC_NOW: NOW,
  LOG_LEVEL: 'warn',
};
const load = spawnSync(
  process.execPath,
  ['bin/tc-alerts.js', 'roster', 'load', join(dir, 'roster.csv'), '--data-dir', join(dir, 'data', 'pglite')],
  { env, encoding: 'utf8' },
);
if (load.status !== 0) throw new Error(`roster load failed: ${load.stderr}`);
console.log(`roster: ${ROSTER} participants loaded in ${((t() - t0) / 1000).toFixed(1)} s`);

// The feed.
const mappings = loadEngineMappings('mappings');
const feed = generateFeed(
  { participants: roster, count: WARMUP + N + RATE * LATENCY_S, enrolledShare: 0.1, seed: 5, before: NOW },
  mappings.convert,
);
const warm = feed.slice(0, WARMUP);
const backlog = feed.slice(WARMUP, WARMUP + N);
const paced = feed.slice(WARMUP + N);

// The engine, its own process.
const suffix = randomBytes(3).toString('hex');
const topics = {
  inbound: `adt.inbound.${suffix}`,
  deadLetter: `adt.deadletter.${suffix}`,
  outcomes: `tc.outcomes.${suffix}`,
};
const httpPort = await freePort();
// PIPELINE_ENGINE_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to look inside the engine.
const engineArgs = process.env.PIPELINE_ENGINE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const engine = spawn(process.execPath, [...engineArgs, 'bin/tc-alerts.js', 'run'], {
  env: {
    ...env,
    KAFKA_BROKERS: brokers.join(','),
    KAFKA_TOPIC_INBOUND: topics.inbound,
    KAFKA_TOPIC_DEADLETTER: topics.deadLetter,
    KAFKA_TOPIC_OUTCOMES: topics.outcomes,
    KAFKA_GROUP_ID: `bench-${suffix}`,
    KAFKA_PARTITIONS: String(PARTITIONS),
    TC_HTTP_PORT: String(httpPort),
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
children.push(engine);
t0 = t();
for (;;) {
  if (engine.exitCode !== null) throw new Error(`engine exited (${engine.exitCode})`);
  const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
    (r) => r.ok,
    () => false,
  );
  if (ok) break;
  await sleep(250);
}
console.log(`engine ready in ${((t() - t0) / 1000).toFixed(1)} s (roster index built, consumer group joined)`);

// Outcomes, read back from tc.outcomes.
const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });
const firstOutcome = new Map<string, { at: number; kind: string }>();
const lastDelivered = new Map<string, number>();
let delivered = 0;
const reader = kafka.consumer({ groupId: `bench-reader-${suffix}` });
await reader.connect();
await reader.subscribe({ topic: topics.outcomes, fromBeginning: true });
await reader.run({
  eachMessage: async ({ message }) => {
    const r = JSON.parse(message.value!.toString()) as OutcomeRecord;
    const at = Date.parse(r.at);
    if (r.kind === 'delivered') {
      delivered++;
      lastDelivered.set(r.messageId, Math.max(at, lastDelivered.get(r.messageId) ?? 0));
    } else if (r.kind !== 'delivery-failed' && !firstOutcome.has(r.messageId))
      firstOutcome.set(r.messageId, { at, kind: r.kind });
  },
});

const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
const published = new Map<string, number>(); // message id → publish wall time (ms)
async function publishOne(m: (typeof feed)[number]): Promise<string> {
  const sentAt = Date.now();
  const [md] = await producer.send({ topic: topics.inbound, acks: -1, messages: [{ key: m.key, value: m.value }] });
  const id = `${md!.topicName}/${md!.partition}/${md!.baseOffset}`;
  published.set(id, sentAt);
  return id;
}
async function untilOutcomes(n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (firstOutcome.size < n) {
    if (engine.exitCode !== null) throw new Error(`engine exited (${engine.exitCode})`);
    if (Date.now() > end) throw new Error(`only ${firstOutcome.size}/${n} outcomes after ${timeoutMs} ms`);
    await sleep(50);
  }
}

// Warm-up (JIT, connections, first deliveries).
for (const m of warm) await publishOne(m);
await untilOutcomes(WARMUP, 120_000);

// (1) Sustained throughput on a backlog, published in large batches (each key's messages together, in order).
const before = firstOutcome.size;
const tPub = Date.now();
const chunks = new Map<string, typeof feed>();
for (const m of backlog) chunks.set(m.key, [...(chunks.get(m.key) ?? []), m]);
const all = [...chunks.values()];
for (let i = 0; i < all.length; i += 200)
  await producer.sendBatch({
    acks: -1,
    topicMessages: all
      .slice(i, i + 200)
      .map((b) => ({ topic: topics.inbound, messages: b.map((m) => ({ key: m.key, value: m.value })) })),
  });
const publishS = (Date.now() - tPub) / 1000;
await untilOutcomes(before + N, 1_800_000);
const done = [...firstOutcome.values()].map((o) => o.at).sort((a, b) => a - b);
const newest = done.slice(before);
const sustained = N / ((newest[newest.length - 1]! - tPub) / 1000);
const kinds = new Map<string, number>();
for (const o of firstOutcome.values()) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
console.log(
  `sustained: ${N} messages published in ${publishS.toFixed(1)} s, all outcomes after ${((newest[newest.length - 1]! - tPub) / 1000).toFixed(1)} s → ${sustained.toFixed(0)} msg/s (outcomes so far: ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}; Tasks delivered ${delivered})`,
);

// Let the deliveries of the backlog finish before measuring latency.
for (let last = -1; last !== delivered;) {
  last = delivered;
  await sleep(3_000);
}

// (2) Latency at a steady rate, one message per send.
const pacedIds: string[] = [];
const start = Date.now();
for (const [i, m] of paced.entries()) {
  const due = start + (i / RATE) * 1000;
  if (due > Date.now()) await sleep(due - Date.now());
  pacedIds.push(await publishOne(m));
}
const pacedRate = paced.length / ((Date.now() - start) / 1000);
await untilOutcomes(before + N + paced.length, 300_000);
for (let last = -1; last !== delivered;) {
  last = delivered;
  await sleep(2_000);
}
const toOutcome = pacedIds.map((id) => firstOutcome.get(id)!.at - published.get(id)!);
const withTasks = pacedIds.filter((id) => lastDelivered.has(id));
const toTask = withTasks.map((id) => lastDelivered.get(id)! - published.get(id)!);
const planned = pacedIds.filter((id) => firstOutcome.get(id)?.kind === 'planned').length;

await reader.disconnect();
await producer.disconnect();
await cleanup();

console.log(
  `latency at ${pacedRate.toFixed(0)} msg/s for ${LATENCY_S} s: publish → outcome p50 ${pct(toOutcome, 50)} ms, p99 ${pct(toOutcome, 99)} ms (${toOutcome.length} messages)`,
);
console.log(
  `latency publish → Tasks stored at the site: p50 ${pct(toTask, 50)} ms, p99 ${pct(toTask, 99)} ms, max ${pct(toTask, 100)} ms (${withTasks.length} messages with Tasks of ${planned} planned)`,
);
console.log(
  `pipeline: ${sustained.toFixed(0)} msg/s sustained through the broker (goal ≥ 1,000); publish → Task at site at ${RATE} msg/s p50 ${pct(toTask, 50)} ms, p99 ${pct(toTask, 99)} ms (goal p99 < 500 ms); roster ${ROSTER}, ${PARTITIONS} partitions, ${databaseUrl ? 'PostgreSQL' : 'PGlite'}`,
);
process.exit(0);
