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
  say(summary.format({ files: files.length }));
  ready = true;

  const stop = async () => {
    server.close();
    await db.close();
    process.exit(0);
  };
  if (!opts.keep) return stop();
  say('Serving /healthz /readyz /metrics — Ctrl-C to stop.');
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
