import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { EngineMetrics } from '../api/metrics.ts';
import { createApiApp, listen } from '../api/server.ts';
import { loadEngineConfig } from '../engine/config.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../engine/deps.ts';
import { handleMessage, handleMessages, type HandleDeps, type HandleResult } from '../engine/handle.ts';
import { RunSummary } from '../engine/summary.ts';
import { MappingError } from '../mappings/load.ts';
import { defaultDataDir, openDb } from '../store/open.ts';
import { sealLegacyRows } from '../store/seal.ts';
import { assertErasable, assertPortsFree, eraseDemoFolder, type PortNeed } from './preflight.ts';
import { userMessage } from './errors.ts';
import { countOpenReviews } from '../store/review.ts';
import { fixedClock } from '../util/clock.ts';
import { TcError } from '../util/errors.ts';
import { expandPaths } from './convert.ts';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { createLogger } from '../util/log.ts';
import { startKafkaEngine, type KafkaEngine } from '../engine/kafka-engine.ts';
import { ensureBroker } from '../kafka/broker.ts';
import { kafkaKey } from '../kafka/key.ts';
import { DEFAULT_TOPICS, HEADERS } from '../kafka/topics.ts';
import { parseMessage, splitMessages } from '../hl7/index.ts';
import { MessageHandler } from '../gateway/handler.ts';
import { gatewayKey } from '../gateway/key.ts';
import { createKafkaProducer } from '../gateway/producer.ts';
import { startMllpListener } from '../gateway/server.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { routingProblem, startDeliveryWorkers } from '../delivery/worker.ts';
import { enqueueDeliveries, outboxDepth } from '../store/outbox.ts';
import { startJournalConsole } from '../console/start-hook.ts';
import { openJournal } from '../journal/context.ts';
import { runComplianceDemo } from '../report/start-hook.ts';
import { createReadbackService } from '../readback/service.ts';

/** Replayed files applied in one transaction (as the Kafka engine groups a fetched batch). */
const REPLAY_GROUP = 100;

/** The demo clock: the fixtures are set in November 2026. TC_NOW or --now overrides it. */
export const DEMO_NOW = '2026-11-23T12:00:00-06:00';

interface StartOptions {
  roster: string;
  adt: string;
  now: string;
  port: string;
  keep: boolean;
  kafka: boolean;
  mllpPort: string;
}

export function register(program: Command): void {
  program
    .command('start')
    .description(
      'local stack with no setup: load the example roster, replay the example ADT feed, print a summary, serve /healthz /readyz /metrics until Ctrl-C',
    )
    .option('--roster <file>', 'roster to load', 'fixtures/roster/roster.csv')
    .option('--adt <dir>', 'ADT messages to replay', 'fixtures/adt')
    .option('--now <datetime>', 'clock (the fixtures are set in November 2026)', process.env.TC_NOW ?? DEMO_NOW)
    .option('--port <n>', 'HTTP port for /healthz /readyz /metrics', process.env.TC_HTTP_PORT ?? '9464')
    .option('--keep', 'keep serving after the replay (default on a terminal)', Boolean(process.stdout.isTTY))
    .option('--no-kafka', 'run the pipeline from files instead of through a Kafka broker')
    .option('--mllp-port <n>', 'MLLP gateway port for hospital senders (with Kafka)', process.env.MLLP_PORT ?? '2575')
    .action(async (opts: StartOptions) => {
      try {
        await runLocalStack(opts);
      } catch (err) {
        process.stderr.write(
          `${err instanceof MappingError ? err.message : (userMessage(err) ?? String((err as Error).stack ?? err))}\n`,
        );
        process.exit(1);
      }
    });
}

async function runLocalStack(opts: StartOptions): Promise<void> {
  const config = loadEngineConfig({ overrides: { now: opts.now, httpPort: Number(opts.port) } });
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const mappings = loadEngineMappings(config.mappingsDir);
  const participants = rosterOrThrow(opts.roster);
  const clock = fixedClock(config.now ?? DEMO_NOW);
  const { pipeline, index } = buildPipeline(mappings, participants, clock);
  say(`tc-alerts local stack — clock ${config.now}`);
  say(`  mappings: ${mappings.convert.profiles.all.length} sender profiles, ${mappings.rules.rules.length} care rules`);
  say(`  roster:   ${participants.length} participants from ${opts.roster}`);

  // Everything the stack needs is checked before anything is erased or started: the folders, then the ports.
  // A clean demo database each start (PGlite in the same folder as `run` and the operator commands, so
  // `tc-alerts review list` sees it), unless DATABASE_URL points at PostgreSQL. The broker starts clean too.
  const demoDir = defaultDataDir({ TC_DATA_DIR: config.dataDir });
  const brokerDir = join(config.dataDir, 'demo-kafka');
  const localBroker = opts.kafka && !process.env.KAFKA_BROKERS;
  if (!config.databaseUrl) assertErasable(demoDir, 'database');
  if (localBroker) assertErasable(brokerDir, 'Kafka broker', isLocalBrokerFolder);
  const sitesDir = process.env.TC_SITES_DIR ?? join(config.mappingsDir, 'sites');
  const sites = loadSiteDirectory(sitesDir);
  await assertPortsFree([
    { port: config.httpPort, host: config.httpHost, what: '/healthz /readyz /metrics, --port or TC_HTTP_PORT' },
    ...(opts.kafka ? [{ port: Number(opts.mllpPort), host: '127.0.0.1', what: 'the MLLP gateway, --mllp-port' }] : []),
    ...sitePorts(sites),
  ]);
  if (!config.databaseUrl) eraseDemoFolder(demoDir, 'database');
  if (localBroker) eraseDemoFolder(brokerDir, 'Kafka broker', isLocalBrokerFolder);
  const db = await openDb(
    config.databaseUrl
      ? { databaseUrl: config.databaseUrl }
      : { dataDir: demoDir, createdBy: 'start', ifOwned: 'refuse' },
  );
  say(`  storage:  ${db.kind === 'pg' ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${demoDir} (clean at each start)`}`);

  const metrics = new EngineMetrics();
  let ready = false;
  const app = createApiApp(metrics, {
    live: () => true,
    ready: () => ({ ready, reasons: ready ? [] : ['replaying fixtures'] }),
  });
  // Task status read-back: the simulated care managers document on the demo's clock, ahead of the sites' own.
  const readback = createReadbackService({ db, sites, maxAheadMs: Infinity });
  app.use(readback.router);
  const server = await listen(app, config.httpPort, config.httpHost);
  say(`  http:     http://${config.httpHost}:${config.httpPort}/healthz  /readyz  /metrics`);

  const simulators = await startSimulatorProcess(sitesDir);
  say(
    `  sites:    ${sites.sites.length} site FHIR simulators in their own process (pid ${simulators.pid}), e.g. ${sites.sites[0]?.baseUrl}/Task`,
  );
  const address = server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
  await readback.start(`http://${config.httpHost}:${httpPort}`);
  const delivered = new Map<string, number>();
  const workers = startDeliveryWorkers({
    db,
    sites,
    pollMs: 100,
    onEvent: (e) => {
      metrics.deliveries.inc({ site: e.siteId, result: e.type });
      if (e.type === 'delivered') {
        delivered.set(e.siteId, (delivered.get(e.siteId) ?? 0) + 1);
        if (e.latencyMs !== undefined) metrics.deliveryLatency.observe({ site: e.siteId }, e.latencyMs / 1000);
      }
    },
  });
  const route = routingProblem(sites);

  const files = expandPaths([opts.adt]);
  const summary = new RunSummary();
  const journal = openJournal(config);
  await sealLegacyRows(db, journal.keys);
  const handle = {
    journal,
    seal: journal.keys,
    convert: mappings.convert,
    pipeline: () => pipeline,
    participant: (id: string) => index.participant(id),
    clock,
    unknownSender: config.unknownSender,
  };
  let kafkaStack: { engine: KafkaEngine; total: number; stop(): Promise<void> } | undefined;
  if (opts.kafka) {
    try {
      kafkaStack = await startKafkaStack(config.dataDir, files, opts, { db, sites, metrics, handle, say });
    } catch (err) {
      if (!(err instanceof BrokerUnavailable)) throw err; // a busy port or a bug is not "no broker"
      say(`  kafka:    no broker (${err.message.split('\n')[0]}); running from files instead.`);
      say('            Set KAFKA_BROKERS, start Docker, or install Java 17 + Maven, for the Kafka path.');
    }
  }
  if (!kafkaStack) {
    const bar = process.stdout.isTTY
      ? new cliProgress.SingleBar(
          { format: '  replay   [{bar}] {value}/{total} files', hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
    bar?.start(files.length, 0);
    const replayStarted = performance.now();
    const deps: HandleDeps = {
      db,
      ...handle,
      enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
    };
    const record = (results: HandleResult[]) => {
      for (const r of results) {
        summary.add(r);
        metrics.processed.inc();
        metrics.recordResult(r);
      }
    };
    const deadLetter = async (file: string, raw: Buffer, err: TcError) => {
      await journal.deadLettered(db, { messageId: `file:${file}`, raw, error: err });
      summary.dead(err.code);
      metrics.deadLetters.inc({ stage: String(err.details?.stage ?? 'convert'), code: err.code });
    };
    // Files in groups that share one transaction, as the Kafka engine does with a fetched batch (3,000 A03s on
    // PGlite: 29.1 s a transaction each, 20.7 s in groups); a group whose transaction fails is redone file by file.
    for (let i = 0; i < files.length; i += REPLAY_GROUP) {
      const group = files.slice(i, i + REPLAY_GROUP).map((file) => ({ file, raw: readFileSync(file) }));
      metrics.consumed.inc({ topic: 'files' }, group.length);
      const outcomes = await handleMessages(
        deps,
        group.map((g) => ({ messageId: `file:${g.file}`, raw: g.raw, source: g.file })),
      ).catch(() => undefined);
      for (const [k, { file, raw }] of group.entries()) {
        const o = outcomes?.[k];
        if (o?.ok) record(o.results);
        else if (o) await deadLetter(file, raw, o.error);
        else
          try {
            record(await handleMessage(deps, `file:${file}`, raw, file));
          } catch (err) {
            if (!(err instanceof TcError) || err.kind !== 'permanent') throw err;
            await deadLetter(file, raw, err);
          }
      }
      bar?.update(Math.min(files.length, i + REPLAY_GROUP));
    }
    bar?.stop();
    say(`  replay:   ${files.length} files applied in ${((performance.now() - replayStarted) / 1000).toFixed(1)} s`);
  }
  metrics.reviewOpen.set(await countOpenReviews(db));
  // Let the per-site workers empty the outbox (bounded wait), then report what reached each site.
  for (let i = 0; i < 100; i++) {
    const depth = await outboxDepth(db);
    if (!depth.some((d) => d.status === 'pending')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const depth = await outboxDepth(db);
  for (const d of depth) metrics.outboxDepth.set({ site: d.siteId, status: d.status }, d.count);
  if (kafkaStack) await fillSummaryFromJournal(db, summary, kafkaStack.total);
  say(summary.format({ 'ADT files': `${files.length} read from ${opts.adt} (a file may hold several messages)` }));
  // Outbox rows are Task writes (create, update, cancel); one Task at a site may have had several writes.
  const distinct = await db.query<{ site_id: string; tasks: number | string }>(
    `SELECT site_id, count(DISTINCT task_identifier) AS tasks FROM delivery_outbox WHERE status = 'delivered' GROUP BY site_id`,
  );
  const tasksAt = new Map(distinct.rows.map((r) => [r.site_id, Number(r.tasks)]));
  say('  Task writes per site (delivery outbox: each create, update or cancel is one write):');
  for (const s of sites.sites) {
    const st = depth
      .filter((d) => d.siteId === s.siteId)
      .map(
        (d) =>
          `${d.status} ${d.count}${d.status === 'delivered' ? ` (${tasksAt.get(s.siteId) ?? 0} distinct Tasks)` : ''}`,
      )
      .join(', ');
    if (st) say(`    ${s.siteId.padEnd(28)} ${st}`);
  }
  say(`  Look at them (each site has its own FHIR server): curl '${sites.sites[0]?.baseUrl}/Task?status=requested'`);
  ready = true;
  const console_ = await startJournalConsole({ config, db, participants, sites, handle, route, workers, metrics, say });
  await runComplianceDemo({
    db,
    clock,
    rules: mappings.rules,
    sites,
    participants,
    route,
    workers,
    readback,
    dataDir: config.dataDir,
    say,
  });

  const stop = async () => {
    await console_?.stop();
    await readback.stop();
    await workers.stop();
    await kafkaStack?.stop();
    simulators.kill('SIGTERM');
    server.close();
    await db.close();
    process.exit(0);
  };
  if (!opts.keep) return stop();
  say('Serving /healthz /readyz /metrics — Ctrl-C to stop.');
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

class BrokerUnavailable extends Error {}

/** The local broker's folder (src/kafka/broker.ts writes these two files first): start's own, erased at each start. */
function isLocalBrokerFolder(names: string[]): boolean {
  return names.includes('server.properties') && names.includes('log4j2.properties');
}

/** The ports of the site directory's local sites (the simulators listen on them). */
function sitePorts(sites: ReturnType<typeof loadSiteDirectory>): PortNeed[] {
  const seen = new Set<number>();
  const out: PortNeed[] = [];
  for (const s of sites.sites) {
    const u = new URL(s.baseUrl);
    if (!['127.0.0.1', 'localhost'].includes(u.hostname) || !u.port || seen.has(Number(u.port))) continue;
    seen.add(Number(u.port));
    out.push({ port: Number(u.port), host: '127.0.0.1', what: `site simulator ${s.siteId}` });
  }
  return out;
}

/** The site simulators run as their own process, as a site's server would. Resolves when every site is ready. */
function startSimulatorProcess(sitesDir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // The same entry point as this process (the compiled bin, or the sources under tsx in a test).
    const self = [...process.execArgv, process.argv[1]!];
    const child = spawn(process.execPath, [...self, 'sites', 'serve', '--sites', sitesDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    process.once('exit', () => child.kill('SIGTERM'));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      if (l.startsWith('serving ')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`site simulators exited (${code ?? 'signal'})`)));
  });
}

interface StackDeps {
  db: Awaited<ReturnType<typeof openDb>>;
  sites: ReturnType<typeof loadSiteDirectory>;
  metrics: EngineMetrics;
  handle: Parameters<typeof startKafkaEngine>[0]['handle'];
  say: (s: string) => void;
}

/** Broker (KAFKA_BROKERS, else Docker, else Kafka 4.x from Maven Central jars), the engine, an MLLP gateway, then the feed through Kafka. */
async function startKafkaStack(
  dataDir: string,
  files: string[],
  opts: StartOptions,
  d: StackDeps,
): Promise<{ engine: KafkaEngine; total: number; stop(): Promise<void> }> {
  let broker: Awaited<ReturnType<typeof ensureBroker>>;
  try {
    broker = await ensureBroker({ dataDir: join(dataDir, 'demo-kafka') });
  } catch (err) {
    throw new BrokerUnavailable((err as Error).message);
  }
  d.say(
    `  kafka:    ${{ env: 'KAFKA_BROKERS', docker: 'Apache Kafka 4.x in Docker (testcontainers)', 'local-jvm': 'Apache Kafka 4.x from Maven Central jars' }[broker.source]} at ${broker.brokers.join(',')}`,
  );
  const topics = DEFAULT_TOPICS;
  const engine = await startKafkaEngine({
    kafka: { clientId: 'tc-alerts-start', brokers: broker.brokers, logLevel: logLevel.NOTHING },
    groupId: `tc-alerts-local-${Date.now()}`,
    topics,
    partitions: 3,
    db: d.db,
    sites: d.sites,
    metrics: d.metrics,
    deliveryPollMs: 100,
    handle: d.handle,
  });
  // The gateway logs like the engine (stderr, LOG_LEVEL); the demo keeps its summary readable at warn by default.
  const log = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'tc-alerts-gateway' });
  const gwProducer = createKafkaProducer({ brokers: broker.brokers, log });
  const gateway = await startMllpListener(
    { port: Number(opts.mllpPort), host: '127.0.0.1' },
    new MessageHandler({
      producer: gwProducer,
      profiles: d.handle.convert.profiles,
      keyFn: gatewayKey,
      clock: d.handle.clock,
      log,
      topics: { inbound: topics.inbound, deadletter: topics.deadLetter },
    }),
    log,
  );
  d.say(
    `  mllp:     hospitals can send to 127.0.0.1:${gateway.address().port} (MLLP; ACK after Kafka stored the message)`,
  );

  const producer = new Kafka({
    clientId: 'tc-alerts-replay',
    brokers: broker.brokers,
    logLevel: logLevel.NOTHING,
  }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  let total = 0;
  const bar = process.stdout.isTTY
    ? new cliProgress.SingleBar(
        { format: '  replay   [{bar}] {value}/{total} messages via Kafka', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const messages = files.flatMap((f) =>
    splitMessages(readFileSync(f)).map((value, i) => ({ value, source: `${f}#${i}` })),
  );
  bar?.start(messages.length, 0);
  for (const m of messages) {
    const p = parseMessage(m.value);
    const key = p.ok
      ? kafkaKey(
          p.message,
          d.handle.convert.profiles.resolve(
            p.message.header.sendingApplication ?? '',
            p.message.header.sendingFacility ?? '',
          ).profile,
        )
      : 'unparsed';
    await producer.send({
      topic: topics.inbound,
      acks: -1,
      messages: [
        {
          key,
          value: m.value,
          headers: { [HEADERS.source]: m.source, [HEADERS.receivedAt]: new Date().toISOString() },
        },
      ],
    });
    total++;
  }
  await producer.disconnect();
  for (let i = 0; i < 600 && engine.processed < total; i++) {
    bar?.update(engine.processed);
    await new Promise((r) => setTimeout(r, 100));
  }
  bar?.update(engine.processed);
  bar?.stop();
  return {
    engine,
    total,
    stop: async () => {
      await gateway.close();
      await gwProducer.close();
      await engine.stop();
      await broker.stop();
    },
  };
}

/** The summary from the message journal and outbox: what is durable, not what was seen in passing. */
async function fillSummaryFromJournal(db: StackDeps['db'], summary: RunSummary, replayed: number): Promise<void> {
  const rows = await db.query<{ outcome: string; participant_id: string | null }>(
    'SELECT outcome, participant_id FROM message_outcome',
  );
  for (const r of rows.rows)
    summary.add({
      messageId: '',
      outcome: r.outcome as 'planned',
      ...(r.participant_id ? { participantId: r.participant_id } : {}),
      intents: [],
    });
  // Every replayed message has an outcome in the journal or went to the dead-letter topic.
  for (let i = rows.rowCount; i < replayed; i++) summary.dead('dead-letter');
  const intents = await db.query<{ site_id: string; action: string }>('SELECT site_id, action FROM delivery_outbox');
  for (const i of intents.rows) summary.intentsBySite.set(i.site_id, (summary.intentsBySite.get(i.site_id) ?? 0) + 1);
}
