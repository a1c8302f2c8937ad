import { openJournal } from '../journal/context.ts';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EngineMetrics } from '../api/metrics.ts';
import { startLiveness } from '../api/liveness.ts';
import { createApiApp, listen } from '../api/server.ts';
import { createConvertPool } from '../engine/convert-pool.ts';
import { checkSites, siteCheckLog } from '../delivery/site-check.ts';
import { isLoopbackHost, loadSiteDirectory } from '../delivery/sites.ts';
import { createReadbackService } from '../readback/service.ts';
import { loadEngineConfig } from '../engine/config.ts';
import { loadEngineMappings } from '../engine/deps.ts';
import { startKafkaEngine } from '../engine/kafka-engine.ts';
import { loadKafkaEnv, readSecret, retentionMs } from '../kafka/config.ts';
import { MappingError } from '../mappings/load.ts';
import type { Pipeline } from '../pipeline/process.ts';
import type { RosterIndex } from '../roster/roster-index.ts';
import { openDb } from '../store/open.ts';
import { sealLegacyRows } from '../store/seal.ts';
import { loadRosterWeights, rosterWeightsLearnedAt } from '../store/match-repo.ts';
import { countOpenReviews } from '../store/review.ts';
import { rosterVersion } from '../store/roster-repo.ts';
import { loadRosterPipeline } from '../engine/late-enrollment.ts';
import { fixedClock, systemClock } from '../util/clock.ts';
import { log } from '../util/log.ts';
import { TimedSteps } from '../util/timed-steps.ts';
import type { KafkaConfig } from 'kafkajs';

export function kafkaClientConfig(env = loadKafkaEnv()): KafkaConfig {
  const ssl =
    env.KAFKA_TLS_CA_FILE || env.KAFKA_TLS_CERT_FILE
      ? {
          ...(env.KAFKA_TLS_CA_FILE ? { ca: [readSecret(env.KAFKA_TLS_CA_FILE)] } : {}),
          ...(env.KAFKA_TLS_CERT_FILE ? { cert: readSecret(env.KAFKA_TLS_CERT_FILE) } : {}),
          ...(env.KAFKA_TLS_KEY_FILE ? { key: readSecret(env.KAFKA_TLS_KEY_FILE) } : {}),
        }
      : undefined;
  const m = env.KAFKA_SASL_MECHANISM;
  const sasl =
    m === 'oauthbearer'
      ? {
          mechanism: 'oauthbearer' as const,
          oauthBearerProvider: async () => ({ value: readSecret(env.KAFKA_SASL_OAUTH_TOKEN_FILE!) }),
        }
      : m
        ? { mechanism: m, username: env.KAFKA_SASL_USERNAME!, password: readSecret(env.KAFKA_SASL_PASSWORD_FILE!) }
        : undefined;
  return {
    clientId: env.KAFKA_CLIENT_ID,
    brokers: env.KAFKA_BROKERS,
    ...(ssl ? { ssl } : {}),
    ...(sasl ? { sasl } : {}),
  } as KafkaConfig;
}

export function register(program: Command): void {
  program
    .command('run')
    .description(
      'the engine: consume adt.inbound (KAFKA_BROKERS), plan Tasks, deliver them to the sites; /healthz /readyz /metrics',
    )
    .option('--now <datetime>', 'fixed clock (ISO date-time; or TC_NOW)')
    .action(async (opts: { now?: string }) => {
      try {
        await run(opts);
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.message : String((err as Error).message ?? err)}\n`);
        process.exit(1);
      }
    });
}

async function run(opts: { now?: string }): Promise<void> {
  const config = loadEngineConfig(opts.now ? { overrides: { now: opts.now } } : {});
  const kenv = loadKafkaEnv(process.env, config.kafka);
  const mappings = loadEngineMappings(config.mappingsDir);
  const sites = loadSiteDirectory(process.env.TC_SITES_DIR ?? join(config.mappingsDir, 'sites'));
  const db = await openDb(
    config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: join(config.dataDir, 'pglite') },
  );
  const clock = config.now ? fixedClock(config.now) : systemClock;
  const logger = log();
  const envInt = (name: string, fallback: number): number => {
    const n = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(n) || n <= 0)
      throw new MappingError(`${name}: a positive whole number, not ${process.env[name]}`);
    return n;
  };
  // Liveness from the event loop: a loop delayed beyond TC_LIVENESS_DELAY_MS makes /healthz answer 503.
  const liveness = startLiveness({ thresholdMs: envInt('TC_LIVENESS_DELAY_MS', 2_000) }, (delayMs) =>
    logger.warn({ event: 'loop-stalled', delayMs }, 'event loop stalled'),
  );
  // Parse + convert on worker threads, TC_CONVERT_BUDGET_MS per message; over it → dead letter.
  const pool = createConvertPool({
    sendersDir: join(config.mappingsDir, 'senders'),
    codesDir: join(config.mappingsDir, 'codes'),
    budgetMs: envInt('TC_CONVERT_BUDGET_MS', 10_000),
    ...(process.env.TC_CONVERT_THREADS ? { threads: envInt('TC_CONVERT_THREADS', 1) } : {}),
  });

  // The roster lives in the database (`tc-alerts roster load`); a new version is swapped in atomically.
  let version = await rosterVersion(db);
  if (version === 0) throw new MappingError('no roster loaded: run `tc-alerts roster load <file>` first');
  const stored = await loadRosterWeights(db);
  let learnedAt = stored?.learnedAt;
  if (!stored || stored.weights.mFromConfig)
    logger.info(
      { event: 'weights-configured', rosterVersion: version, adts: stored?.weights.queries ?? 0 },
      'matching uses the configured weights (too few ADTs for EM at the roster load): ' +
        '`tc-alerts roster learn` learns them from the ADTs received since',
    );
  let current: { pipeline: Pipeline; index: RosterIndex } = await loadRosterPipeline(db, mappings, clock);
  const poll = setInterval(async () => {
    try {
      const v = await rosterVersion(db);
      const at = await rosterWeightsLearnedAt(db);
      if (v !== version) {
        current = await loadRosterPipeline(db, mappings, clock);
        logger.info({ event: 'roster-swapped', rosterVersion: v, previousVersion: version }, 'roster swapped');
        version = v;
      } else if (at !== learnedAt) {
        // `tc-alerts roster learn` stored new weights for this version.
        current = await loadRosterPipeline(db, mappings, clock);
        logger.info({ event: 'weights-swapped', rosterVersion: v, learnedAt: at }, 'matching weights swapped');
      }
      learnedAt = at;
    } catch {
      // database unavailable: keep the roster we have
    }
  }, config.rosterPollMs);

  const metrics = new EngineMetrics();
  // Its keys also seal the raw HL7 and demographics kept for review and late enrollment (src/store/seal.ts).
  const journal = openJournal(config);
  await sealLegacyRows(db, journal.keys);
  const engine = await startKafkaEngine({
    kafka: kafkaClientConfig(kenv),
    groupId: kenv.KAFKA_GROUP_ID,
    topics: {
      inbound: kenv.KAFKA_TOPIC_INBOUND,
      deadLetter: kenv.KAFKA_TOPIC_DEADLETTER,
      outcomes: kenv.KAFKA_TOPIC_OUTCOMES,
    },
    partitions: kenv.KAFKA_PARTITIONS,
    retentionMs: retentionMs(kenv),
    sessionTimeoutMs: kenv.KAFKA_SESSION_TIMEOUT_MS,
    db,
    sites,
    metrics,
    log: logger.child({ component: 'engine' }),
    handle: {
      convertRaw: (raw) => pool.convert(raw),
      convert: mappings.convert,
      pipeline: () => current.pipeline,
      participant: (id) => current.index.participant(id),
      clock,
      unknownSender: config.unknownSender,
      // TC_JOURNAL=off: no message journal (bench:pipeline measures its cost; the console then shows nothing).
      ...(process.env.TC_JOURNAL === 'off' ? {} : { journal }),
      seal: journal.keys,
    },
  });
  const app = createApiApp(metrics, {
    live: () => liveness.live(),
    ready: () => ({ ready: engine.ready(), reasons: engine.ready() ? [] : ['joining the consumer group'] }),
  });
  // Task status read back from the sites (Subscription where the site's server takes it, else polling).
  const readback = createReadbackService({
    db,
    sites,
    ...(process.env.TC_READBACK_SECRET ? { secret: process.env.TC_READBACK_SECRET } : {}),
    log: (e) => logger.info(e, 'read-back'),
  });
  app.use(readback.router);
  const server = await listen(app, config.httpPort, config.httpHost);
  const reviews = setInterval(
    () =>
      void countOpenReviews(db).then(
        (n) => metrics.reviewOpen.set(n),
        () => undefined,
      ),
    10_000,
  );
  const address = server.address();
  const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
  logger.info(
    { brokers: kenv.KAFKA_BROKERS.length, topic: kenv.KAFKA_TOPIC_INBOUND, http: httpPort },
    'engine running',
  );
  // Sites reach the notification endpoint at TC_READBACK_URL (a public https URL in production); without it only
  // sites on this machine can, at the loopback address the engine listens on.
  const readbackUrl =
    process.env.TC_READBACK_URL ??
    (isLoopbackHost(config.httpHost) ? `http://${config.httpHost}:${httpPort}` : undefined);
  void readback
    .start(readbackUrl)
    .catch((err: unknown) =>
      logger.warn({ event: 'readback-start-failed', error: (err as Error).name }, 'read-back did not start'),
    );
  // What each site's server supports and the write mode delivery will use (ids and codes only).
  void checkSites(sites.sites).then(
    (results) => {
      for (const r of results) {
        const line = siteCheckLog(r);
        if (r.writeMode === 'none') logger.warn(line, 'site check: the site cannot be delivered to safely');
        else logger.info(line, 'site check');
      }
    },
    (err: unknown) => logger.warn({ event: 'site-check-failed', error: (err as Error).name }, 'site check failed'),
  );

  // Within docker stop's default 10 s; a platform that grants more (Kubernetes: 30 s) can say so.
  const shutdownMs = envInt('TC_SHUTDOWN_TIMEOUT_MS', 10_000);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Each step is timed, so a stop that overruns says what it was waiting on (and a slow one, which step took long).
    const started = Date.now();
    const steps = new TimedSteps();
    const hard = setTimeout(() => {
      logger.error(
        { event: 'shutdown-timeout', waitingOn: steps.waitingOn, tookMs: steps.took, elapsedMs: Date.now() - started },
        `graceful shutdown did not finish within ${shutdownMs} ms: exiting 1 (uncommitted messages are consumed again)`,
      );
      process.exit(1);
    }, shutdownMs);
    clearInterval(poll);
    clearInterval(reviews);
    // Read-back is idempotent per Task version (a poll cut short is read again at the next start), so it gets a
    // bounded share of the budget and the engine's commit is never kept waiting behind a slow site.
    const readbackStopped = Promise.race([readback.stop(), new Promise((r) => setTimeout(r, 2_000).unref())]);
    await steps.step('engine', () => engine.stop(steps));
    await steps.step('read-back', () => readbackStopped);
    await steps.step('convert-pool', () => pool.close());
    liveness.stop();
    server.close();
    await steps.step('database', () => db.close());
    clearTimeout(hard);
    logger.info({ event: 'engine-stopped', tookMs: steps.took, elapsedMs: Date.now() - started }, 'engine stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
