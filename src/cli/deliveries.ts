import type { Command } from 'commander';
import { defaultDataDir, withDb } from '../store/open.ts';
import { EXIT, UserError } from './errors.ts';
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
  defaultDataDir(),
] as const;

function usage(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** An outbox item id as the user typed it: digits within the id range, else "no such item" (exit 2), not a crash. */
function itemId(id: string): number {
  if (!/^\d+$/.test(id)) usage('the item id is a number (see `tc-alerts deliveries list`)');
  const n = Number(id);
  if (!Number.isSafeInteger(n)) throw new UserError(`no outbox item ${id}`, EXIT.notFound);
  return n;
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
      const item = await withDb(opts.dataDir, (db) => getDelivery(db, itemId(id)));
      if (!item) throw new UserError(`no outbox item ${id}`, EXIT.notFound);
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
      const which: { id: number } | { siteId: string } | { allDead: true } =
        id !== undefined ? { id: itemId(id) } : opts.site ? { siteId: opts.site } : { allDead: true };
      const { n, why } = await withDb(opts.dataDir, async (db) => {
        const queued = await retryDeliveries(db, which);
        if (queued > 0 || 'allDead' in which) return { n: queued, why: undefined };
        // Nothing was queued: say why, so a typo is not taken for success.
        if ('id' in which) {
          const item = await getDelivery(db, which.id);
          return {
            n: 0,
            why: item
              ? `outbox item ${id} is ${item.status}: only dead, held or unroutable items are sent again`
              : `no outbox item ${id}`,
          };
        }
        const any = await listDeliveries(db, { siteId: which.siteId, limit: 1 });
        return {
          n: 0,
          why: any.length
            ? `site ${which.siteId} has no dead or held items`
            : `no outbox items for site ${which.siteId} (see \`tc-alerts sites list\`)`,
        };
      });
      if (why) throw new UserError(`${why}; nothing queued again`, EXIT.notFound);
      process.stdout.write(`${n} item(s) queued again\n`);
    });
}
