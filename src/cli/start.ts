import { rmSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { EngineMetrics } from '../api/metrics.ts';
import { createApiApp, listen } from '../api/server.ts';
import { loadEngineConfig } from '../engine/config.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../engine/deps.ts';
import { handleMessage } from '../engine/handle.ts';
import { RunSummary } from '../engine/summary.ts';
import { MappingError } from '../mappings/load.ts';
import { openDb } from '../store/open.ts';
import { countOpenReviews } from '../store/review.ts';
import { fixedClock } from '../util/clock.ts';
import { TcError } from '../util/errors.ts';
import { expandPaths } from './convert.ts';
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { routingProblem, startDeliveryWorkers } from '../delivery/worker.ts';
import { enqueueDeliveries, outboxDepth } from '../store/outbox.ts';

/** The demo clock: the fixtures are set in November 2026. TC_NOW or --now overrides it. */
export const DEMO_NOW = '2026-11-23T12:00:00-06:00';

interface StartOptions {
  roster: string;
  adt: string;
  now: string;
  port: string;
  keep: boolean;
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
    .action(async (opts: StartOptions) => {
      try {
        await runLocalStack(opts);
      } catch (err) {
        process.stderr.write(
          `${err instanceof MappingError || err instanceof TcError ? err.message : String((err as Error).stack ?? err)}\n`,
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

  // A fresh demo database each start (PGlite), unless DATABASE_URL points at PostgreSQL.
  const demoDir = join(config.dataDir, 'demo-pglite');
  if (!config.databaseUrl) rmSync(demoDir, { recursive: true, force: true });
  const db = await openDb(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: demoDir });
  say(`  storage:  ${db.kind === 'pg' ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${demoDir}`}`);

  const metrics = new EngineMetrics();
  let ready = false;
  const server = await listen(
    createApiApp(metrics, { live: () => true, ready: () => ({ ready, reasons: ready ? [] : ['replaying fixtures'] }) }),
    config.httpPort,
    config.httpHost,
  );
  say(`  http:     http://${config.httpHost}:${config.httpPort}/healthz  /readyz  /metrics`);
  say('  kafka:    not started by this build: messages flow from files through the same durable pipeline.');
  say('            Point KAFKA_BROKERS at a broker and use `tc-alerts run` / `tc-alerts replay` for the Kafka path.');

  const sites = loadSiteDirectory(join(config.mappingsDir, 'sites'));
  const simulators = await startSimulatorProcess(join(config.mappingsDir, 'sites'));
  say(
    `  sites:    ${sites.sites.length} site FHIR simulators in their own process (pid ${simulators.pid}), e.g. ${sites.sites[0]?.baseUrl}/Task`,
  );
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
  const bar = process.stdout.isTTY
    ? new cliProgress.SingleBar(
        { format: '  replay   [{bar}] {value}/{total} files', hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(files.length, 0);
  for (const [i, file] of files.entries()) {
    const raw = readFileSync(file);
    metrics.consumed.inc({ topic: 'files' });
    try {
      for (const r of await handleMessage(
        {
          db,
          convert: mappings.convert,
          pipeline: () => pipeline,
          participant: (id) => index.participant(id),
          clock,
          unknownSender: config.unknownSender,
          enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
        },
        `file:${file}`,
        raw,
        file,
      )) {
        summary.add(r);
        metrics.processed.inc();
        metrics.outcomes.inc({ outcome: r.outcome });
        for (const x of r.intents) metrics.tasksPlanned.inc({ action: x.action, site: x.siteId });
      }
    } catch (err) {
      if (!(err instanceof TcError) || err.kind !== 'permanent') throw err;
      summary.dead(err.code);
      metrics.deadLetters.inc({ stage: String(err.details?.stage ?? 'convert'), code: err.code });
    }
    bar?.update(i + 1);
  }
  bar?.stop();
  metrics.reviewOpen.set(await countOpenReviews(db));
  // Let the per-site workers empty the outbox (bounded wait), then report what reached each site.
  for (let i = 0; i < 100; i++) {
    const depth = await outboxDepth(db);
    if (!depth.some((d) => d.status === 'pending')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const depth = await outboxDepth(db);
  for (const d of depth) metrics.outboxDepth.set({ site: d.siteId, status: d.status }, d.count);
  say(summary.format({ files: files.length }));
  say('  Tasks delivered per site (outbox):');
  for (const s of sites.sites) {
    const st = depth
      .filter((d) => d.siteId === s.siteId)
      .map((d) => `${d.status} ${d.count}`)
      .join(', ');
    if (st) say(`    ${s.siteId.padEnd(28)} ${st}`);
  }
  say(`  Look at them (each site has its own FHIR server): curl '${sites.sites[0]?.baseUrl}/Task?status=requested'`);
  ready = true;

  const stop = async () => {
    await workers.stop();
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

/** The site simulators run as their own process, as a site's server would. Resolves when every site is ready. */
function startSimulatorProcess(sitesDir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/tc-alerts.js', 'sites', 'serve', '--sites', sitesDir], {
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
