import { readFileSync, writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { parseRosterBundle } from '../roster/fhir-roster.ts';
import { formatIssue, parseRosterCsv, rejectsCsv, type RosterImport } from '../roster/import-csv.ts';
import { loadColumnMapping } from '../roster/load-column-mapping.ts';
import { resolveRosterPath } from '../engine/deps.ts';
import { defaultDataDir, withDb } from '../store/open.ts';
import { replaceRoster, rosterStats } from '../store/roster-repo.ts';

/** `tc-alerts roster load|stats`. Prints counts and line numbers, never demographics. */

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

export function register(program: Command): void {
  const roster = program.command('roster').description('the enrolled-participant roster');
  roster
    .command('load <file>')
    .description('replace the roster atomically from a CSV file or a FHIR Bundle (Patients + ATR Group)')
    .option('--format <format>', 'csv | fhir (default: by extension, .json is fhir)')
    .option('--columns <map.yaml>', 'column-mapping file for CSV files in another layout')
    .option('--partial', 'load the valid rows and write the rejected ones to --rejects')
    .option('--rejects <file>', 'where --partial writes rejected rows (CSV with reject_line and reject_reason)')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(
      async (
        file: string,
        opts: { format?: string; columns?: string; partial?: boolean; rejects?: string; dataDir: string },
      ) => {
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
        const version = await withDb(
          opts.dataDir,
          (db) => replaceRoster(db, result.participants, { source: `${result.format}:${basename(file)}` }),
          { create: true },
        );
        console.log(
          JSON.stringify({
            version,
            participants: result.participants.length,
            enrollments: result.enrollments,
            rows: result.rows,
            rejected: result.rejects.length,
            warnings: result.warnings.length,
          }),
        );
      },
    );
  roster
    .command('stats')
    .description('version and counts of the loaded roster')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(async (opts: { dataDir: string }) => {
      const stats = await withDb(opts.dataDir, (db) => rosterStats(db));
      console.log(JSON.stringify(stats));
    });
}
