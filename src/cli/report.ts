import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { complianceReport } from '../report/compliance.ts';
import { toCsv, toMeasureReports, toTable } from '../report/format.ts';
import { toHtml } from '../report/html.ts';
import { rosterOrThrow } from '../engine/deps.ts';
import type { Participant } from '../roster/types.ts';
import { withDb } from '../store/open.ts';
import { loadRoster } from '../store/roster-repo.ts';

const FORMATS = ['table', 'csv', 'json', 'measure-report', 'html'] as const;
type Format = (typeof FORMATS)[number];

function usage(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const isDate = (s: string | undefined): s is string =>
  !!s && /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s));

export function register(program: Command): void {
  const r = program.command('report').description('reports from the stored Task lifecycle');
  r.command('compliance')
    .description(
      'follow-up compliance per site, provider, program and month (TCM contact and face-to-face, FUH/FUM/FUA 7/30, readmissions, ED visits per 1,000 participant-months, median hours to contact); definitions in docs/compliance.md',
    )
    .requiredOption('--from <date>', 'first local date (YYYY-MM-DD)')
    .requiredOption('--to <date>', 'last local date (YYYY-MM-DD)')
    .option('--site <id>', 'one site')
    .option('--format <f>', FORMATS.join(' | '), 'table')
    .option('--out <file>', 'write to this file instead of stdout (e.g. report.html)')
    .option('--roster <file>', 'roster for participant-months (default: the roster loaded into the database)')
    .option('--sites <dir>', 'site directory (site → provider)', join('mappings', 'sites'))
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', join('.data', 'pglite'))
    .action(
      async (opts: {
        from: string;
        to: string;
        site?: string;
        format: string;
        out?: string;
        roster?: string;
        sites: string;
        dataDir: string;
      }) => {
        if (!isDate(opts.from) || !isDate(opts.to)) usage('--from/--to: dates like 2026-11-01');
        if (opts.from > opts.to) usage('--from: after --to');
        if (!FORMATS.includes(opts.format as Format)) usage(`--format: one of ${FORMATS.join(', ')}`);
        const directory = loadSiteDirectory(opts.sites);
        const fromFile: Participant[] | undefined = opts.roster ? rosterOrThrow(opts.roster) : undefined;
        const report = await withDb(opts.dataDir, async (db) =>
          complianceReport(db, {
            from: opts.from,
            to: opts.to,
            ...(opts.site ? { site: opts.site } : {}),
            providerOf: (s) => directory.get(s)?.providerId,
            participants: fromFile ?? (await loadRoster(db)),
          }),
        );
        const now = new Date().toISOString();
        const text =
          opts.format === 'csv'
            ? toCsv(report)
            : opts.format === 'json'
              ? `${JSON.stringify(report, null, 2)}\n`
              : opts.format === 'measure-report'
                ? `${JSON.stringify(toMeasureReports(report, now), null, 2)}\n`
                : opts.format === 'html'
                  ? toHtml(report, now)
                  : toTable(report);
        if (opts.out) {
          writeFileSync(opts.out, text);
          process.stderr.write(`wrote ${opts.out}\n`);
        } else process.stdout.write(text);
      },
    );
}
