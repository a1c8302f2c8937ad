import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadRuleSet } from '../care/load-rules.ts';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { routingProblem } from '../delivery/worker.ts';
import { sweepOverdue } from '../report/overdue.ts';
import { worklist } from '../report/worklist.ts';
import { withDb } from '../store/open.ts';
import { enqueueDeliveries } from '../store/outbox.ts';
import { loadRoster } from '../store/roster-repo.ts';
import { fixedClock, systemClock } from '../util/clock.ts';

/** `tc-alerts worklist --site S`: the site's open Tasks due today and overdue (ids and codes, no PHI). */
export function register(program: Command): void {
  registerEscalate(program);
  program
    .command('worklist')
    .description("a site's open Tasks due today (in the site's time zone) and overdue, most overdue first")
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
      const sitesDir = process.env.TC_SITES_DIR ?? join('mappings', 'sites');
      const tz = existsSync(sitesDir) ? loadSiteDirectory(sitesDir).get(opts.site)?.timeZone : undefined;
      const items = await withDb(opts.dataDir, (db) => worklist(db, opts.site, now, tz));
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

/** `tc-alerts escalate`: the overdue sweep (priority raised at the site, supervisor Tasks), deliveries queued. */
export function registerEscalate(program: Command): void {
  program
    .command('escalate')
    .description(
      'raise the priority of Tasks still open past due and create supervisor Tasks (rules: escalation in mappings/rules); queues the deliveries',
    )
    .option('--now <datetime>', 'clock (ISO date-time; default: now)')
    .option('--mappings <dir>', 'mappings folder', 'mappings')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', join('.data', 'pglite'))
    .action(async (opts: { now?: string; mappings: string; dataDir: string }) => {
      if (opts.now && Number.isNaN(Date.parse(opts.now))) {
        process.stderr.write('--now: an ISO date-time\n');
        process.exit(1);
      }
      const rules = loadRuleSet(opts.mappings);
      const sites = loadSiteDirectory(join(opts.mappings, 'sites'));
      const clock = opts.now ? fixedClock(opts.now) : systemClock;
      const r = await withDb(opts.dataDir, async (db) => {
        const roster = new Map((await loadRoster(db)).map((p) => [p.participantId, p]));
        return sweepOverdue(db, rules, clock, {
          participant: (id) => roster.get(id),
          enqueue: (q, reqs, id) => enqueueDeliveries(q, reqs, id, routingProblem(sites)),
        });
      });
      process.stdout.write(
        `escalated ${r.escalated} overdue Task(s), ${r.supervisorTasks} supervisor Task(s) created\n`,
      );
    });
}
