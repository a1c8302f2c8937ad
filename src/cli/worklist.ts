import { join } from 'node:path';
import type { Command } from 'commander';
import { worklist } from '../report/worklist.ts';
import { withDb } from '../store/open.ts';

/** `tc-alerts worklist --site S`: the site's open Tasks due today and overdue (ids and codes, no PHI). */
export function register(program: Command): void {
  program
    .command('worklist')
    .description("a site's open Tasks due today (America/Chicago) and overdue, most overdue first")
    .requiredOption('--site <id>', 'site id')
    .option('--now <datetime>', 'clock (ISO date-time; default: now)')
    .option('--json', 'one JSON object per Task')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', join('.data', 'pglite'))
    .action(async (opts: { site: string; now?: string; json?: boolean; dataDir: string }) => {
      const now = opts.now ? Date.parse(opts.now) : Date.now();
      if (Number.isNaN(now)) {
        process.stderr.write('--now: an ISO date-time\n');
        process.exit(1);
      }
      const items = await withDb(opts.dataDir, (db) => worklist(db, opts.site, now));
      if (opts.json) {
        for (const i of items) process.stdout.write(`${JSON.stringify(i)}\n`);
        return;
      }
      if (!items.length) {
        process.stdout.write(`site ${opts.site}: nothing due today or overdue\n`);
        return;
      }
      process.stdout.write(`site ${opts.site}: ${items.length} Task(s) due today or overdue\n`);
      for (const i of items)
        process.stdout.write(
          `${i.state.padEnd(9)} due ${i.due}  ${i.priority.padEnd(7)} ${i.status.padEnd(11)} ${i.code.padEnd(28)} participant ${i.participantId}  task ${i.taskIdentifier}${i.escalated ? '  escalated' : ''}\n`,
        );
    });
}
