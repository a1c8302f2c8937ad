/**
 * npm run bench:pipeline — the whole engine through a real Kafka broker, with the message journal and without it.
 * Mix: a 100,000-participant roster (PIPELINE_ROSTER) spread over the site directory; ADT visits (ER A04 → A03 or
 * inpatient A01 → A03) from Mercy Springfield, 10% of them for enrolled participants (test/helpers/feed.ts).
 * Processes: the broker (KAFKA_BROKERS, or Kafka 4.x from Maven Central jars), `tc-alerts sites serve` (simulator
 * sites) and `tc-alerts run` (the engine) each in their own process.
 *
 * One run measures every combination of PIPELINE_DBS (default: pglite, and pg when DATABASE_URL is set) and
 * PIPELINE_JOURNAL (default "on,off": the engine with its raw-message journal, and with TC_JOURNAL=off), each on a
 * fresh database holding the same roster and on a topic of its own, in PIPELINE_ROUNDS rounds (default 2) of
 * PIPELINE_MESSAGES / rounds each, the order turned round every other round (on, off; off, on): this machine's
 * speed drifts by a fifth within minutes, and one run of each, one after the other, measured the journal at 80% to
 * 106% of the throughput without it. The figures are the rounds' sums; each round's ratio is printed too.
 * (1) Sustained: after a warm-up (400 one by one, then PIPELINE_WARM_BATCH, 2,000, as a backlog),
 *     the round's messages (PIPELINE_MESSAGES, 20,000, in all) published as a backlog; messages/s from the publish to the last
 *     outcome (wall), and per CPU-second of the engine process (its threads; for PGlite that includes the database)
 *     and, on PostgreSQL, per CPU-second of engine + the server backends of the bench database (/proc).
 * (2) Latency (journal on, first round only): PIPELINE_RATE (200) msg/s for PIPELINE_LATENCY_SECONDS (30; 0 skips it);
 *     publish → its Tasks stored at the site, and publish → outcome.
 * Goals (issue 15): with the journal ≥ 1,500 msg/s on PostgreSQL, ≥ 1,000 msg/s on PGlite, and ≥ 90% of the
 * throughput without the journal. Wall figures on a shared machine are low; the per-CPU-second figures say what
 * one core does. Each run also prints the CPU per message of every process on the machine (engine, PostgreSQL
 * backends, broker, site simulator, this bench) and the wall rate those allow on this machine's cores.
 * Figures on the last lines.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import pg from 'pg';
import { pipelineChoices } from './pipeline-options.ts';
import { CLK_TCK, cpuDelta, cpuSeconds, serverCpu as serverCpuOf } from './proc-cpu.ts';
import { loadEngineMappings } from '../src/engine/deps.ts';
import { freePort, startLocalBroker, type LocalBroker } from '../src/kafka/broker.ts';
import type { OutcomeRecord } from '../src/kafka/topics.ts';
import { generateFeed, rosterCsv, siteRoster, type FeedMessage } from '../test/helpers/feed.ts';
import { siteDirectoryOnFreePorts } from '../test/helpers/sites.ts';

const ROSTER = Number(process.env.PIPELINE_ROSTER ?? 100_000);
const N = Number(process.env.PIPELINE_MESSAGES ?? 20_000);
const RATE = Number(process.env.PIPELINE_RATE ?? 200);
const LATENCY_S = Number(process.env.PIPELINE_LATENCY_SECONDS ?? 30);
const PARTITIONS = Number(process.env.KAFKA_PARTITIONS ?? 6);
const serverUrl = process.env.DATABASE_URL;
const { dbs: DBS, journal: JOURNAL } = pipelineChoices('PIPELINE');
const ROUNDS = Math.max(1, Number(process.env.PIPELINE_ROUNDS ?? 2));
/** Messages measured in one round of one combination. */
const PER_ROUND = Math.floor(N / ROUNDS);
const WARMUP = 400;
/** Then a backlog of this many, as the measured one is sent: the broker's and the sites' batch paths warmed too
 * (without it the first measured run of a bench paid their warm-up: about 0.3 ms CPU per message more). */
const WARM_BATCH = Number(process.env.PIPELINE_WARM_BATCH ?? 2_000);
const NOW = '2026-11-23T12:00:00-06:00';
const GOAL = { pg: 1_500, pglite: 1_000 } as const;
const GOAL_RATIO = 0.9;

const dir = mkdtempSync(join(tmpdir(), 'tc-bench-pipeline-'));
// On PostgreSQL each measurement gets a database of its own (state from an earlier one would turn the feed's visits
// into no-change updates), copied from a template holding the roster; all dropped at the end.
const benchPrefix = `tc_bench_${randomBytes(3).toString('hex')}`;
const databases: string[] = [];
const adminQuery = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], db?: string) => {
  const u = new URL(serverUrl!);
  if (db) u.pathname = `/${db}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
};
const urlOf = (db: string) => {
  const u = new URL(serverUrl!);
  u.pathname = `/${db}`;
  return u.toString();
};
const children: ChildProcess[] = [];
let broker: LocalBroker | undefined;
const cleanup = async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await broker?.stop();
  if (databases.length) {
    await sleep(2_000); // let the engine close its connections
    for (const d of databases.reverse())
      await adminQuery(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`).catch(() => undefined);
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
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

const serverCpu = (db: string) => serverCpuOf((sql, params) => adminQuery<{ pid: number }>(sql, params), db);
/** CPU seconds so far of the broker (when the bench started it), the site simulator and this process. */
function othersCpu(): { broker: number; sites: number; bench: number } {
  const brokerPid = broker?.pid();
  const u = process.cpuUsage();
  return {
    broker: (brokerPid && cpuSeconds(brokerPid)) || 0,
    sites: cpuSeconds(sitesProc.pid!) ?? 0,
    bench: (u.user + u.system) / 1e6,
  };
}

// Broker.
let brokers = process.env.KAFKA_BROKERS?.split(',');
if (!brokers) {
  broker = await startLocalBroker({ dataDir: join(dir, 'kafka'), heap: '512m' });
  brokers = broker.brokers;
}
const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING });

// Sites: the shipped directory on free ports, served by their own process.
const sitesDir = join(dir, 'sites');
mkdirSync(sitesDir);
const directory = await siteDirectoryOnFreePorts(sitesDir);
// PIPELINE_SITES_NODE_ARGS: node options for the site simulator's process (e.g. --cpu-prof), as for the engine.
const sitesArgs = process.env.PIPELINE_SITES_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const sitesProc = spawn(process.execPath, [...sitesArgs, 'bin/tc-alerts.js', 'sites', 'serve', '--sites', sitesDir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.push(sitesProc);
await new Promise<void>((ok, fail) => {
  createInterface({ input: sitesProc.stdout! }).on('line', (l) => l.startsWith('serving ') && ok());
  sitesProc.once('exit', (c) => fail(new Error(`sites serve exited (${c})`)));
});

// Roster and feed, the same for every measurement.
const roster = siteRoster(
  ROSTER,
  directory.sites.map((s) => ({ siteId: s.siteId, program: s.program, providerId: s.providerId })),
);
writeFileSync(join(dir, 'roster.csv'), rosterCsv(roster));
const mappings = loadEngineMappings('mappings');
const feed = generateFeed(
  {
    participants: roster,
    count: WARMUP + WARM_BATCH + PER_ROUND + RATE * LATENCY_S,
    enrolledShare: 0.1,
    seed: 5,
    before: NOW,
  },
  mappings.convert,
);
const warm = feed.slice(0, WARMUP);
const warmBacklog = feed.slice(WARMUP, WARMUP + WARM_BATCH);
const backlog = feed.slice(WARMUP + WARM_BATCH, WARMUP + WARM_BATCH + PER_ROUND);
const paced = feed.slice(WARMUP + WARM_BATCH + PER_ROUND);

const baseEnv: NodeJS.ProcessEnv = { ...process.env, TC_SITES_DIR: sitesDir, TC_NOW: NOW, LOG_LEVEL: 'warn' };
delete baseEnv.DATABASE_URL;

/** The roster loaded as a user would, once per database kind: a PGlite folder to copy, or a template database. */
const rosterTemplate = new Map<'pg' | 'pglite', string>();
function loadRoster(env: NodeJS.ProcessEnv, dataDir: string): void {
  const t0 = t();
  const load = spawnSync(
    process.execPath,
    ['bin/tc-alerts.js', 'roster', 'load', join(dir, 'roster.csv'), '--data-dir', join(dataDir, 'pglite')],
    { env, encoding: 'utf8' },
  );
  if (load.status !== 0) throw new Error(`roster load failed: ${load.stderr}`);
  console.log(`roster: ${ROSTER} participants loaded in ${((t() - t0) / 1000).toFixed(1)} s`);
}
async function freshDatabase(kind: 'pg' | 'pglite', name: string): Promise<{ env: NodeJS.ProcessEnv; db?: string }> {
  const dataDir = join(dir, name);
  if (kind === 'pglite') {
    let template = rosterTemplate.get('pglite');
    if (!template) {
      template = join(dir, 'template-pglite');
      loadRoster({ ...baseEnv, TC_DATA_DIR: template }, template);
      rosterTemplate.set('pglite', template);
    }
    cpSync(template, dataDir, { recursive: true });
    return { env: { ...baseEnv, TC_DATA_DIR: dataDir } };
  }
  let template = rosterTemplate.get('pg');
  if (!template) {
    template = `${benchPrefix}_template`;
    await adminQuery(`CREATE DATABASE ${template}`);
    databases.push(template);
    loadRoster({ ...baseEnv, TC_DATA_DIR: join(dir, 'template-pg'), DATABASE_URL: urlOf(template) }, dataDir);
    rosterTemplate.set('pg', template);
  }
  const db = `${benchPrefix}_${name.replace(/\W/g, '_')}`;
  await adminQuery(`CREATE DATABASE ${db} TEMPLATE ${template}`);
  databases.push(db);
  return { env: { ...baseEnv, TC_DATA_DIR: dataDir, DATABASE_URL: urlOf(db) }, db };
}

interface Measured {
  kind: 'pg' | 'pglite';
  journal: 'on' | 'off';
  round: number;
  /** Messages measured. */
  n: number;
  wall: number;
  engineCpuS: number;
  serverCpuS: number;
  /** The other processes on the machine during the same phase: the broker, the site simulator, this bench. */
  othersCpuS: { broker: number; sites: number; bench: number };
  seconds: number;
  latency?: { outcomeP50: number; outcomeP99: number; taskP50: number; taskP99: number; tasks: number };
}

async function measure(kind: 'pg' | 'pglite', journal: 'on' | 'off', round: number): Promise<Measured> {
  const label = `${kind === 'pg' ? 'PostgreSQL' : 'PGlite'}, journal ${journal}${ROUNDS > 1 ? `, round ${round + 1}` : ''}`;
  const { env, db } = await freshDatabase(kind, `${kind}-${journal}-${round}`);
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
      ...(journal === 'off' ? { TC_JOURNAL: 'off' } : {}),
      KAFKA_BROKERS: brokers!.join(','),
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
  const t0 = t();
  for (;;) {
    if (engine.exitCode !== null) throw new Error(`engine exited (${engine.exitCode})`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await sleep(250);
  }
  console.log(`[${label}] engine ready in ${((t() - t0) / 1000).toFixed(1)} s`);

  // Outcomes, read back from tc.outcomes.
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
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const published = new Map<string, number>(); // message id → publish wall time (ms)
  const publishOne = async (m: FeedMessage): Promise<string> => {
    const sentAt = Date.now();
    const [md] = await producer.send({ topic: topics.inbound, acks: -1, messages: [{ key: m.key, value: m.value }] });
    const id = `${md!.topicName}/${md!.partition}/${md!.baseOffset}`;
    published.set(id, sentAt);
    return id;
  };
  const untilOutcomes = async (n: number, timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    while (firstOutcome.size < n) {
      if (engine.exitCode !== null) throw new Error(`engine exited (${engine.exitCode})`);
      if (Date.now() > end) throw new Error(`only ${firstOutcome.size}/${n} outcomes after ${timeoutMs} ms`);
      await sleep(20);
    }
  };
  const untilDeliveriesSettle = async (ms: number) => {
    for (let last = -1; last !== delivered;) {
      last = delivered;
      await sleep(ms);
    }
  };

  /** Publishes a backlog in large batches (each key's messages together, in order). */
  const publishBacklog = async (msgs: FeedMessage[]) => {
    const chunks = new Map<string, FeedMessage[]>();
    for (const m of msgs) chunks.set(m.key, [...(chunks.get(m.key) ?? []), m]);
    const all = [...chunks.values()];
    for (let i = 0; i < all.length; i += 200)
      await producer.sendBatch({
        acks: -1,
        topicMessages: all
          .slice(i, i + 200)
          .map((b) => ({ topic: topics.inbound, messages: b.map((m) => ({ key: m.key, value: m.value })) })),
      });
  };

  // Warm-up (JIT, connections, first deliveries; then the batch paths of the broker, engine and sites).
  for (const m of warm) await publishOne(m);
  await untilOutcomes(WARMUP, 120_000);
  await publishBacklog(warmBacklog);
  await untilOutcomes(WARMUP + WARM_BATCH, 600_000);
  await untilDeliveriesSettle(1_000);

  // (1) Sustained throughput on a backlog.
  const before = firstOutcome.size;
  const cpu0 = cpuSeconds(engine.pid!) ?? 0;
  const server0 = db ? await serverCpu(db) : new Map<number, number>();
  const others0 = othersCpu();
  const tPub = Date.now();
  await publishBacklog(backlog);
  const publishS = (Date.now() - tPub) / 1000;
  await untilOutcomes(before + PER_ROUND, 1_800_000);
  const engineCpuS = (cpuSeconds(engine.pid!) ?? cpu0) - cpu0;
  const serverCpuS = db ? cpuDelta(server0, await serverCpu(db)) : 0;
  const others1 = othersCpu();
  const othersCpuS = {
    broker: others1.broker - others0.broker,
    sites: others1.sites - others0.sites,
    bench: others1.bench - others0.bench,
  };
  const newest = [...firstOutcome.values()]
    .map((o) => o.at)
    .sort((a, b) => a - b)
    .slice(before);
  const seconds = (newest[newest.length - 1]! - tPub) / 1000;
  const kinds = new Map<string, number>();
  for (const o of firstOutcome.values()) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
  const n = PER_ROUND;
  const m: Measured = { kind, journal, round, n, wall: n / seconds, engineCpuS, serverCpuS, othersCpuS, seconds };
  console.log(
    `[${label}] sustained: ${n} messages published in ${publishS.toFixed(1)} s, all outcomes after ${seconds.toFixed(1)} s → ${fmt(m.wall)} msg/s wall; engine CPU ${engineCpuS.toFixed(1)} s → ${fmt(n / engineCpuS)} msg/CPU-s${db ? `; + server backends ${serverCpuS.toFixed(1)} s → ${fmt(n / (engineCpuS + serverCpuS))} msg/CPU-s` : ''} (outcomes: ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}; Tasks delivered ${delivered})`,
  );

  // (2) Latency at a steady rate, one message per send, once the backlog's deliveries are done.
  if (journal === 'on' && round === 0 && paced.length) {
    await untilDeliveriesSettle(3_000);
    const pacedIds: string[] = [];
    const start = Date.now();
    for (const [i, msg] of paced.entries()) {
      const due = start + (i / RATE) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      pacedIds.push(await publishOne(msg));
    }
    const pacedRate = paced.length / ((Date.now() - start) / 1000);
    await untilOutcomes(before + PER_ROUND + paced.length, 300_000);
    await untilDeliveriesSettle(2_000);
    const toOutcome = pacedIds.map((id) => firstOutcome.get(id)!.at - published.get(id)!);
    const withTasks = pacedIds.filter((id) => lastDelivered.has(id));
    const toTask = withTasks.map((id) => lastDelivered.get(id)! - published.get(id)!);
    const planned = pacedIds.filter((id) => firstOutcome.get(id)?.kind === 'planned').length;
    m.latency = {
      outcomeP50: pct(toOutcome, 50),
      outcomeP99: pct(toOutcome, 99),
      taskP50: pct(toTask, 50),
      taskP99: pct(toTask, 99),
      tasks: withTasks.length,
    };
    console.log(
      `[${label}] latency at ${pacedRate.toFixed(0)} msg/s for ${LATENCY_S} s: publish → outcome p50 ${m.latency.outcomeP50} ms, p99 ${m.latency.outcomeP99} ms; publish → Tasks stored at the site p50 ${m.latency.taskP50} ms, p99 ${m.latency.taskP99} ms, max ${pct(toTask, 100)} ms (${withTasks.length} messages with Tasks of ${planned} planned)`,
    );
  }
  await reader.disconnect();
  await producer.disconnect();
  engine.kill('SIGTERM');
  await new Promise((r) => (engine.exitCode !== null ? r(undefined) : engine.once('exit', r)));
  return m;
}

const results: Measured[] = [];
try {
  for (const kind of DBS)
    for (let round = 0; round < ROUNDS; round++)
      for (const journal of round % 2 ? [...JOURNAL].reverse() : JOURNAL)
        results.push(await measure(kind, journal, round));
} finally {
  await cleanup();
}

console.log(
  `\nbench:pipeline — roster ${ROSTER}, ${N} messages (${ROUNDS} round${ROUNDS > 1 ? 's' : ''} of ${PER_ROUND} per combination), ${PARTITIONS} partitions, ${CLK_TCK} ticks/s`,
);
/** The rounds of one combination as one measurement: their messages, seconds and CPU added up. */
function summed(rs: Measured[]): Measured | undefined {
  if (!rs.length) return undefined;
  const add = (f: (r: Measured) => number) => rs.reduce((a, r) => a + f(r), 0);
  const n = add((r) => r.n);
  const seconds = add((r) => r.seconds);
  return {
    ...rs[0]!,
    n,
    seconds,
    wall: n / seconds,
    engineCpuS: add((r) => r.engineCpuS),
    serverCpuS: add((r) => r.serverCpuS),
    othersCpuS: {
      broker: add((r) => r.othersCpuS.broker),
      sites: add((r) => r.othersCpuS.sites),
      bench: add((r) => r.othersCpuS.bench),
    },
  };
}
const lines: string[] = [];
for (const kind of DBS) {
  const name = kind === 'pg' ? 'PostgreSQL' : 'PGlite';
  const of = (journal: 'on' | 'off') => results.filter((r) => r.kind === kind && r.journal === journal);
  const on = summed(of('on'));
  const off = summed(of('off'));
  for (const r of [on, off]) {
    if (!r) continue;
    const all = r.engineCpuS + r.serverCpuS;
    // Where the machine's CPU went per message: with every process on the same cores, the wall rate cannot pass
    // cores ÷ (the sum of these), however fast the engine gets.
    const o = r.othersCpuS;
    const perMsg = (sec: number) => ((sec * 1000) / r.n).toFixed(2);
    const machine = r.engineCpuS + r.serverCpuS + o.broker + o.sites + o.bench;
    console.log(
      `  ${name.padEnd(10)} journal ${r.journal.padEnd(3)}: CPU ms per message: engine ${perMsg(r.engineCpuS)}${kind === 'pg' ? `, PostgreSQL ${perMsg(r.serverCpuS)}` : ''}, broker ${perMsg(o.broker)}, sites ${perMsg(o.sites)}, bench ${perMsg(o.bench)}; all ${perMsg(machine)} → at most ${fmt((availableParallelism() * r.n) / machine)} msg/s on ${availableParallelism()} cores`,
    );
    const latency = results.find((x) => x.kind === kind && x.journal === r.journal && x.latency)?.latency;
    console.log(
      `  ${name.padEnd(10)} journal ${r.journal.padEnd(3)}: ${fmt(r.wall).padStart(6)} msg/s wall, ${fmt(r.n / r.engineCpuS).padStart(6)} msg per engine CPU-s${kind === 'pg' ? `, ${fmt(r.n / all).padStart(6)} msg per CPU-s engine + server` : ''}${latency ? `; publish → Task at site p50 ${latency.taskP50} ms, p99 ${latency.taskP99} ms` : ''}`,
    );
  }
  if (!on) continue;
  // One core's worth: what the engine (and, on PostgreSQL, its server backends) do per CPU-second.
  const perCpu = (r: Measured) => r.n / (r.engineCpuS + r.serverCpuS);
  const ratioWall = off ? on.wall / off.wall : NaN;
  const ratioCpu = off ? perCpu(on) / perCpu(off) : NaN;
  if (off && ROUNDS > 1) {
    const byRound = Array.from({ length: ROUNDS }, (_, k) => {
      const a = of('on').find((r) => r.round === k);
      const b = of('off').find((r) => r.round === k);
      return a && b
        ? `${((a.wall / b.wall) * 100).toFixed(0)}% / ${((perCpu(a) / perCpu(b)) * 100).toFixed(0)}%`
        : 'n/a';
    });
    console.log(`  ${name.padEnd(10)} with/without the journal by round (wall / per CPU-s): ${byRound.join(', ')}`);
  }
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  lines.push(
    `pipeline ${name}: with journal ${fmt(on.wall)} msg/s wall (goal ≥ ${fmt(GOAL[kind])}: ${met(on.wall >= GOAL[kind])}), ${fmt(perCpu(on))} msg/CPU-s (${met(perCpu(on) >= GOAL[kind])})` +
      (off
        ? `; without ${fmt(off.wall)} msg/s wall, ${fmt(perCpu(off))} msg/CPU-s; with/without ${(ratioWall * 100).toFixed(0)}% wall, ${(ratioCpu * 100).toFixed(0)}% per CPU-s (goal ≥ ${GOAL_RATIO * 100}%: ${met(ratioWall >= GOAL_RATIO)} wall, ${met(ratioCpu >= GOAL_RATIO)} per CPU-s)`
        : ''),
  );
}
for (const l of lines) console.log(l);
process.exit(0);
