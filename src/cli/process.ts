import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InMemoryCareState } from '../care/state-port.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow, type EngineMappings } from '../engine/deps.ts';
import { MappingError } from '../mappings/load.ts';
import type { ProcessResult } from '../pipeline/process.ts';
import { fixedClock, systemClock, type Clock } from '../util/clock.ts';
import type { ConvertedMessage } from '../fhir/types.ts';
import type { MatchInput, Participant } from '../roster/types.ts';
import type { MatchConfig } from '../roster/config.ts';
import { applyLearnedWeights, formatLearnedWeights, learnWeights } from '../roster/learn-weights.ts';
import { deliveryRequests } from '../engine/handle.ts';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { deliverSiteOnce, routingProblem } from '../delivery/worker.ts';
import { PgliteDb } from '../store/pglite.ts';
import { migrate } from '../store/migrate.ts';
import { enqueueDeliveries, listDeliveries, outboxDepth } from '../store/outbox.ts';
import { failureLine } from '../delivery/failure-report.ts';
import type { Db } from '../store/db.ts';
import { join } from 'node:path';
import { expandPaths } from './convert.ts';
import { convertAdmitted } from './admission.ts';

export interface ProcessOptions {
  roster: string;
  mappings: string;
  now?: string;
  deliver?: boolean;
  /** Also what the MLLP gateway refuses (senders without a profile, non-ADT types). */
  acceptAny?: boolean;
  /** Load the valid roster rows and report the rejected ones (stderr) instead of refusing the roster. */
  partial?: boolean;
  /**
   * `learned` (default): weights learned as a roster load learns them (u from the roster, m by EM over the
   * demographics of this run's ADTs); `configured`: mappings/matching.yaml as it is.
   */
  weights?: 'learned' | 'configured';
  /** Told the learned thresholds, one line (the CLI writes it to stderr). */
  onWeights?: (line: string) => void;
}

/**
 * Reads every input once: stdin can be read only once, and learned weights need the ADTs before the first is
 * matched. They are then converted twice (to learn, then to process) rather than held converted in memory.
 */
function readInputs(paths: readonly string[]): { file: string; input: Buffer }[] {
  return expandPaths(paths).map((file) => ({
    file,
    input: file === '-' ? readFileSync(0) : readFileSync(resolve(file)),
  }));
}

/** The matching configuration of a dry run: learned from the roster and the ADTs given, unless configured. */
function dryRunMatchConfig(
  mappings: EngineMappings,
  participants: readonly Participant[],
  inputs: readonly { input: Buffer }[],
  opts: ProcessOptions,
): MatchConfig {
  if (opts.weights === 'configured') return mappings.matchConfig;
  const adts: MatchInput[] = [];
  for (const { input } of inputs)
    for (const r of convertAdmitted(input, mappings.convert, Boolean(opts.acceptAny)))
      if (r.status === 'converted') adts.push({ patient: r.converted.patient, medicaidIds: r.converted.medicaidIds });
  const learned = learnWeights(participants, mappings.matchConfig, adts);
  opts.onWeights?.(formatLearnedWeights(learned).at(-1)!);
  return applyLearnedWeights(mappings.matchConfig, learned);
}

/**
 * Dry run: parse → convert → match → plan for every message, in sorted path order and file order, with
 * one shared in-memory state per invocation, so a scenario's messages can be given as several files.
 */
export async function processFiles(
  paths: readonly string[],
  opts: ProcessOptions,
  onResult: (
    r: ProcessResult,
    file: string,
    converted?: ConvertedMessage,
    participant?: (id: string) => Participant | undefined,
  ) => void | Promise<void>,
): Promise<{ messages: number; rejected: number }> {
  const mappings = loadEngineMappings(opts.mappings);
  const participants = rosterOrThrow(opts.roster, {
    ...(opts.partial ? { partial: true } : {}),
    warn: (line) => process.stderr.write(`${line}\n`),
  });
  const clock: Clock = opts.now ? fixedClock(opts.now) : systemClock;
  const inputs = readInputs(paths);
  const matchConfig = dryRunMatchConfig(mappings, participants, inputs, opts);
  const { pipeline, index: rosterIndex } = buildPipeline({ ...mappings, matchConfig }, participants, clock);
  const state = new InMemoryCareState();
  let messages = 0;
  let rejected = 0;
  for (const { file, input } of inputs) {
    const results = convertAdmitted(input, mappings.convert, Boolean(opts.acceptAny));
    for (let index = 0; index < results.length; index++) {
      const converted = results[index]!;
      const result = await pipeline.processMessage({ file, index }, converted, state);
      messages++;
      if (result.outcome === 'rejected') rejected++;
      await onResult(result, file, converted.status === 'converted' ? converted.converted : undefined, (id) =>
        rosterIndex.participant(id),
      );
    }
  }
  return { messages, rejected };
}

export function register(program: Command): void {
  program
    .command('process')
    .description(
      'dry run: convert, match the roster and plan Tasks; one JSON envelope per message (exit 2 if any is rejected, or with --deliver any delivery is dead)',
    )
    .argument('[paths...]', "ADT files or directories (sorted; '-' reads stdin)", ['-'])
    .requiredOption('--roster <file>', 'roster: CSV with the documented header, or a FHIR Bundle (.json)')
    .option(
      '--mappings <dir>',
      'mappings folder (senders, codes, rules, matching)',
      process.env.TC_MAPPINGS_DIR ?? 'mappings',
    )
    .option('--now <datetime>', 'clock for due dates and staleness (ISO date-time; or TC_NOW)', process.env.TC_NOW)
    .option('--accept-any', 'also process what the MLLP gateway refuses (senders without a profile, non-ADT types)')
    .option('--partial', 'load the valid roster rows and report the rejected ones instead of refusing the roster')
    .option(
      '--weights <mode>',
      'matching weights: learned (u from the roster, m by EM over these ADTs, as a roster load learns them) or configured (mappings/matching.yaml)',
      'learned',
    )
    .option(
      '--deliver',
      'also deliver the planned Tasks to the sites of the site directory (e.g. `tc-alerts sites serve`)',
    )
    .action(async (paths: string[], opts: ProcessOptions) => {
      if (opts.now && Number.isNaN(Date.parse(opts.now))) {
        process.stderr.write(`--now: not a date-time\n`);
        process.exit(1);
      }
      if (opts.weights !== 'learned' && opts.weights !== 'configured') {
        process.stderr.write(`--weights: learned or configured, not ${opts.weights}\n`);
        process.exit(1);
      }
      opts.onWeights = (line) => process.stderr.write(`weights ${line}\n`);
      let summary;
      let dead = false;
      const out: string[] = [];
      let outbox: Db | undefined;
      const sites = opts.deliver
        ? loadSiteDirectory(process.env.TC_SITES_DIR ?? join(opts.mappings, 'sites'))
        : undefined;
      if (sites) {
        outbox = await PgliteDb.open();
        await migrate(outbox);
      }
      try {
        summary = await processFiles(paths.length ? paths : ['-'], opts, async (r, _file, converted, participant) => {
          if (outbox && sites && converted && participant) {
            const reqs = deliveryRequests(r, converted, participant);
            const id = `${r.envelope.message.file}#${r.envelope.message.index}`;
            if (reqs.length) await outbox.tx((q) => enqueueDeliveries(q, reqs, id, routingProblem(sites)));
          }
          out.push(JSON.stringify(r.envelope));
          if (out.length >= 128) process.stdout.write(out.splice(0).join('\n') + '\n');
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        process.stderr.write(
          `${err instanceof MappingError ? err.message : e.code === 'ENOENT' ? `cannot read ${e.path ?? 'path'}: ENOENT` : String(err)}\n`,
        );
        process.exit(1);
      }
      if (out.length) process.stdout.write(out.join('\n') + '\n');
      if (outbox && sites) {
        // Deliver in order per site; a site that is down keeps its items pending (reported below), never lost silently.
        for (let round = 0; round < 5; round++) {
          for (const s of sites.sites)
            await deliverSiteOnce({ db: outbox, sites, baseBackoffMs: 200, maxBackoffMs: 1_000 }, s.siteId);
          if (!(await outboxDepth(outbox)).some((d) => d.status === 'pending')) break;
          await new Promise((r) => setTimeout(r, 1_000));
        }
        for (const d of await outboxDepth(outbox))
          process.stderr.write(`deliveries ${d.siteId} ${d.status} ${d.count}\n`);
        // Each failed delivery with the site's OperationOutcome (codes and capped diagnostics, no Patient data).
        const failed = (await listDeliveries(outbox)).filter(
          (d) => d.status === 'dead' || d.status === 'held' || (d.status === 'pending' && d.lastError),
        );
        for (const d of failed) process.stderr.write(`${failureLine(d)}\n`);
        if (failed.some((d) => d.status === 'dead')) dead = true;
        await outbox.close();
      }
      process.exitCode = summary.rejected > 0 || dead ? 2 : 0;
    });
}
