import { readFileSync, writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { parseRosterBundle } from '../roster/fhir-roster.ts';
import { formatIssue, parseRosterCsv, rejectsCsv, type RosterImport } from '../roster/import-csv.ts';
import { loadColumnMapping } from '../roster/load-column-mapping.ts';
import { resolveRosterPath } from '../engine/deps.ts';
import { defaultDataDir, withDb } from '../store/open.ts';
import { replaceRoster, rosterStats } from '../store/roster-repo.ts';
import { afterRosterLoad, relearnRosterWeights } from '../engine/late-enrollment.ts';
import { formatLearnedWeights, type LearnedWeights } from '../roster/learn-weights.ts';
import { DEFAULT_LATE_ENROLLMENT_DAYS, loadRosterWeights } from '../store/match-repo.ts';
import { UserError } from '../util/user-error.ts';

/** `tc-alerts roster load|learn|stats`. Prints counts and line numbers, never demographics. */

export function readRosterFile(given: string, opts: { format?: string; columns?: string }): RosterImport {
  const file = resolveRosterPath(given);
  const format = opts.format ?? (extname(file).toLowerCase() === '.json' ? 'fhir' : 'csv');
  const text = readFileSync(file, 'utf8');
  if (format === 'fhir') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return {
        format: 'fhir',
        participants: [],
        errors: [{ location: 'file', code: 'bad-json', message: 'not valid JSON' }],
        warnings: [],
        rejects: [],
        header: [],
        rows: 0,
        enrollments: 0,
      };
    }
    return parseRosterBundle(json);
  }
  if (format !== 'csv') throw new Error(`--format must be csv or fhir`);
  return parseRosterCsv(text, opts.columns ? { mapping: loadColumnMapping(opts.columns) } : {});
}

/** What EM did for a set of learned weights, as `roster load` and `roster learn` print it. */
function emState(w: LearnedWeights): 'not run' | 'converged' | 'not converged' {
  return w.mFromConfig ? 'not run' : w.converged ? 'converged' : 'not converged';
}

export function register(program: Command): void {
  const roster = program.command('roster').description('the enrolled-participant roster');
  roster
    .command('load <file>')
    .description('replace the roster atomically from a CSV file or a FHIR Bundle (Patients + ATR Group)')
    .option('--format <format>', 'csv | fhir (default: by extension, .json is fhir)')
    .option('--columns <map.yaml>', 'column-mapping file for CSV files in another layout')
    .option('--partial', 'load the valid rows and write the rejected ones to --rejects')
    .option('--rejects <file>', 'where --partial writes rejected rows (CSV with reject_line and reject_reason)')
    .option(
      '--late-days <n>',
      'late enrollment: ADTs of the last n days that had no match are matched again and planned (TC_LATE_ENROLLMENT_DAYS)',
      process.env.TC_LATE_ENROLLMENT_DAYS ?? String(DEFAULT_LATE_ENROLLMENT_DAYS),
    )
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(
      async (
        file: string,
        opts: {
          format?: string;
          columns?: string;
          partial?: boolean;
          rejects?: string;
          lateDays: string;
          dataDir: string;
        },
      ) => {
        const lateDays = Number(opts.lateDays);
        if (!Number.isInteger(lateDays) || lateDays < 0) {
          console.error('--late-days must be a whole number of days');
          process.exit(1);
        }
        if (opts.format && !['csv', 'fhir'].includes(opts.format)) {
          console.error('--format must be csv or fhir');
          process.exit(1);
        }
        if (opts.partial && !opts.rejects) {
          console.error('--partial needs --rejects <file>');
          process.exit(1);
        }
        let result: RosterImport;
        try {
          result = readRosterFile(file, opts);
        } catch (err) {
          console.error(`roster load: ${(err as Error).message}`);
          process.exit(1);
        }
        for (const w of result.warnings) console.error(`warning: ${formatIssue(w)}`);
        for (const e of result.errors) console.error(`error: ${formatIssue(e)}`);
        const fatal =
          result.errors.length > 0 &&
          (!opts.partial || result.rejects.length === 0 || result.participants.length === 0);
        if (fatal) {
          console.error(
            `roster load: ${result.errors.length} error(s); nothing loaded${opts.partial ? '' : ' (use --partial to load the valid rows)'}`,
          );
          process.exit(2);
        }
        if (opts.partial && opts.rejects) writeFileSync(opts.rejects, rejectsCsv(result));
        const { version, followUp } = await withDb(
          opts.dataDir,
          async (db) => {
            const v = await replaceRoster(db, result.participants, {
              source: `${result.format}:${basename(file)}`,
              warnings: result.warnings,
              rejected: result.rejects.length,
            });
            // Weights learned from this roster and the recent ADTs; then the late enrollments planned.
            return { version: v, followUp: await afterRosterLoad(db, result.participants, v, { days: lateDays }) };
          },
          { create: true },
        );
        const w = followUp.weights;
        console.log(
          JSON.stringify({
            version,
            participants: result.participants.length,
            enrollments: result.enrollments,
            rows: result.rows,
            rejected: result.rejects.length,
            warnings: result.warnings.length,
            weights: {
              em: emState(w),
              iterations: w.iterations,
              pairs: w.pairs,
              matched: w.thresholds.matched,
              possible: w.thresholds.possible,
              falseMatchRate: w.thresholds.falseMatchRate,
            },
            lateEnrollment: followUp.lateEnrollment,
          }),
        );
      },
    );
  roster
    .command('learn')
    .description(
      'learn the matching weights again from the current roster and the ADTs of the last days (a new deployment ' +
        'matches with the configured weights until enough ADTs have come in); the engine uses them at its next roster poll',
    )
    .option(
      '--days <n>',
      'learn from the ADTs of the last n days (TC_LATE_ENROLLMENT_DAYS)',
      process.env.TC_LATE_ENROLLMENT_DAYS ?? String(DEFAULT_LATE_ENROLLMENT_DAYS),
    )
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(async (opts: { days: string; dataDir: string }) => {
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days <= 0)
        throw new UserError(`--days: a positive whole number, not ${opts.days}`);
      const { version, weights: w, previous } = await withDb(opts.dataDir, (db) => relearnRosterWeights(db, { days }));
      const summary = (x: typeof w) => ({
        em: emState(x),
        iterations: x.iterations,
        pairs: x.pairs,
        queries: x.queries,
        matched: x.thresholds.matched,
        possible: x.thresholds.possible,
      });
      console.log(
        JSON.stringify({ version, weights: summary(w), ...(previous ? { previous: summary(previous) } : {}) }),
      );
      if (w.mFromConfig)
        console.error(
          `roster learn: ${w.queries} ADTs of the last ${days} days gave ${w.pairs} candidate pairs, too few for EM: ` +
            'the configured weights stay',
        );
    });
  roster
    .command('stats')
    .description('version and counts of the loaded roster')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .option('--weights', 'also print the learned weights, one line per field')
    .action(async (opts: { dataDir: string; weights?: boolean }) => {
      const { stats, learned } = await withDb(opts.dataDir, async (db) => ({
        stats: await rosterStats(db),
        learned: await loadRosterWeights(db),
      }));
      const weights = learned
        ? {
            learnedAt: learned.learnedAt,
            thresholds: learned.weights.thresholds,
            em: {
              ran: !learned.weights.mFromConfig,
              converged: learned.weights.converged,
              iterations: learned.weights.iterations,
              pairs: learned.weights.pairs,
              queries: learned.weights.queries,
            },
            fields: Object.fromEntries(
              Object.entries(learned.weights.fields).map(([f, levels]) => [
                f,
                Object.fromEntries(Object.entries(levels).map(([l, v]) => [l, v.weight])),
              ]),
            ),
          }
        : undefined;
      console.log(JSON.stringify({ ...stats, ...(weights ? { weights } : {}) }));
      if (opts.weights && learned) for (const line of formatLearnedWeights(learned.weights)) console.log(line);
    });
}
