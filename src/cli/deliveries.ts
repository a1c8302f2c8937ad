import { join } from 'node:path';
import type { Command } from 'commander';
import { withDb } from '../store/open.ts';
import {
  OUTBOX_STATUSES,
  getDelivery,
  listDeliveries,
  outboxDepth,
  retryDeliveries,
  siteStates,
  type OutboxStatus,
} from '../store/outbox.ts';

const dataDirOption = [
  '--data-dir <dir>',
  'PGlite data directory when DATABASE_URL is not set',
  join('.data', 'pglite'),
] as const;

function usage(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

export function register(program: Command): void {
  const d = program
    .command('deliveries')
    .description('the delivery outbox: what reached each site, what did not, and why');
  d.command('list')
    .description('list outbox items: ids, sites, states, attempts, results and reasons (never payloads)')
    .option('--status <s>', OUTBOX_STATUSES.join(' | '))
    .option('--site <id>', 'one site')
    .option('--message <id>', 'the items of one message')
    .option('--limit <n>', 'at most n items', '1000')
    .option('--json', 'one JSON object per item (ids, codes, times; no payload, no OperationOutcome)')
    .option(...dataDirOption)
    .action(
      async (opts: {
        status?: string;
        site?: string;
        message?: string;
        limit: string;
        json?: boolean;
        dataDir: string;
      }) => {
        if (opts.status && !OUTBOX_STATUSES.includes(opts.status as OutboxStatus))
          usage(`--status: one of ${OUTBOX_STATUSES.join(', ')}`);
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) usage('--limit: a positive integer');
        const { items, holds, depth } = await withDb(opts.dataDir, async (db) => ({
          items: await listDeliveries(db, {
            ...(opts.status ? { status: opts.status as OutboxStatus } : {}),
            ...(opts.site ? { siteId: opts.site } : {}),
            ...(opts.message ? { messageId: opts.message } : {}),
            limit,
          }),
          holds: (await siteStates(db)).filter((s) => s.held),
          depth: await outboxDepth(db),
        }));
        for (const i of items) {
          const row = {
            id: i.id,
            site: i.siteId,
            action: i.action,
            status: i.status,
            attempts: i.attempts,
            result: i.result ?? '',
            httpStatus: i.lastError?.status ?? '',
            reason: i.lastError?.reason ?? '',
            nextAttemptAt: i.nextAttemptAt ?? '',
            task: i.taskIdentifier,
            message: i.messageId,
          };
          process.stdout.write(opts.json ? `${JSON.stringify(row)}\n` : `${Object.values(row).join('\t')}\n`);
        }
        const totals = new Map<string, number>();
        for (const x of depth) totals.set(x.status, (totals.get(x.status) ?? 0) + x.count);
        process.stderr.write(
          `${items.length} item(s) listed; outbox: ${OUTBOX_STATUSES.map((s) => `${s} ${totals.get(s) ?? 0}`).join(', ')}\n`,
        );
        for (const h of holds)
          process.stderr.write(
            `site ${h.siteId} is HELD since ${h.heldAt ?? '?'} (${h.holdStatus ?? ''} ${h.holdReason ?? ''}): fix it, then \`tc-alerts deliveries retry --site ${h.siteId}\`\n`,
          );
      },
    );
  d.command('show <id>')
    .description("one item with the site's last answer (its OperationOutcome: operator eyes only, never logged)")
    .option(...dataDirOption)
    .action(async (id: string, opts: { dataDir: string }) => {
      if (!/^\d+$/.test(id)) usage('give an item id');
      const item = await withDb(opts.dataDir, (db) => getDelivery(db, Number(id)));
      if (!item) usage(`no outbox item ${id}`);
      const { request: _request, ...rest } = item;
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
    });
  d.command('retry [id]')
    .description(
      'send items again: one id, every dead or held item of a site (--site S, lifts its hold), or --all-dead',
    )
    .option('--site <id>', 'every dead or held item of one site; lifts the site’s hold')
    .option('--all-dead', 'every dead item')
    .option(...dataDirOption)
    .action(async (id: string | undefined, opts: { site?: string; allDead?: boolean; dataDir: string }) => {
      const given = [id !== undefined, !!opts.site, !!opts.allDead].filter(Boolean).length;
      if (given !== 1) usage('give exactly one of: an item id, --site S, --all-dead');
      if (id !== undefined && !/^\d+$/.test(id)) usage('the item id is a number');
      const which =
        id !== undefined ? { id: Number(id) } : opts.site ? { siteId: opts.site } : { allDead: true as const };
      const n = await withDb(opts.dataDir, (db) => retryDeliveries(db, which));
      process.stdout.write(`${n} item(s) queued again\n`);
    });
}
