import { join } from 'node:path';
import type { Command } from 'commander';
import { withDb } from '../store/open.ts';
import { listDeliveries, retryDeliveries, type OutboxStatus } from '../store/outbox.ts';

export function register(program: Command): void {
  const d = program
    .command('deliveries')
    .description('the delivery outbox: what reached each site, what did not, and why');
  d.command('list')
    .description('list outbox items (ids, sites, states and reasons; never payloads)')
    .option('--status <s>', 'pending | delivered | dead | unroutable | held')
    .option('--site <id>', 'one site')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', join('.data', 'pglite'))
    .action(async (opts: { status?: OutboxStatus; site?: string; dataDir: string }) => {
      const items = await withDb(opts.dataDir, (db) =>
        listDeliveries(db, {
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.site ? { siteId: opts.site } : {}),
        }),
      );
      for (const i of items)
        process.stdout.write(
          `${i.id}\t${i.siteId}\t${i.action}\t${i.status}\t${i.attempts}\t${i.result ?? ''}\t${i.lastError ? `${i.lastError.status ?? ''} ${i.lastError.reason}` : ''}\t${i.taskIdentifier}\n`,
        );
      process.stderr.write(`${items.length} item(s)\n`);
    });
  d.command('retry [id]')
    .description('send dead or held items again: one id, --site S, or --all-dead')
    .option('--site <id>', 'every dead or held item of one site')
    .option('--all-dead', 'every dead item')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', join('.data', 'pglite'))
    .action(async (id: string | undefined, opts: { site?: string; allDead?: boolean; dataDir: string }) => {
      const which = id
        ? { id: Number(id) }
        : opts.site
          ? { siteId: opts.site }
          : opts.allDead
            ? { allDead: true as const }
            : undefined;
      if (!which || (id && !Number.isInteger(Number(id)))) {
        process.stderr.write('give an item id, --site S or --all-dead\n');
        process.exit(1);
      }
      const n = await withDb(opts.dataDir, (db) => retryDeliveries(db, which));
      process.stdout.write(`${n} item(s) queued again\n`);
    });
}
