import type { Command } from 'commander';
import type { Db } from '../store/db.ts';
import { defaultDataDir, withDb } from '../store/open.ts';
import { listReviews, resolveReview, type ResolvedReview, type ReviewStatus } from '../store/review.ts';
import { TcError } from '../util/errors.ts';

/** Plans a resolved message again; registered by the engine (the lead wires it). */
export type ReplanHook = (db: Db, resolved: ResolvedReview) => Promise<unknown>;
let replanHook: ReplanHook | undefined;
export function setReplanHook(hook: ReplanHook | undefined): void {
  replanHook = hook;
}

export function register(program: Command): void {
  const review = program.command('review').description('review queue of uncertain patient matches');

  review
    .command('list')
    .description('list review items (candidate ids and scores only)')
    .option('--status <status>', 'open | resolved | all', 'open')
    .option('--json', 'one JSON line per item')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(async (opts: { status: string; json?: boolean; dataDir: string }) => {
      if (!['open', 'resolved', 'all'].includes(opts.status)) {
        process.stderr.write(`--status must be open, resolved or all\n`);
        process.exitCode = 1;
        return;
      }
      const items = await withDb(opts.dataDir, (db) =>
        listReviews(db, { status: opts.status as ReviewStatus | 'all' }),
      );
      for (const i of items) {
        if (opts.json) {
          process.stdout.write(JSON.stringify(i) + '\n');
          continue;
        }
        const cands = i.candidates.map((c) => `${c.participantId}(${c.score})`).join(' ');
        const decided = i.status === 'resolved' ? ` -> ${i.decision} by ${i.decidedBy ?? '?'} at ${i.decidedAt}` : '';
        process.stdout.write(
          `${i.messageId}\t${i.status}\t${i.event ?? '-'}\t${i.facilityKey ?? '-'}\t${i.createdAt}\t${cands}${decided}\n`,
        );
      }
      if (!opts.json) process.stderr.write(`${items.length} item(s)\n`);
    });

  review
    .command('resolve <messageId> <participantId>')
    .description("record the decision for a review item: a candidate participant id or 'none'")
    .option('--by <who>', 'who decided', process.env.USER)
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(async (messageId: string, participantId: string, opts: { by?: string; dataDir: string }) => {
      try {
        await withDb(opts.dataDir, async (db) => {
          const r = await resolveReview(db, messageId, participantId, opts.by);
          const { rawMessage: _raw, ...shown } = r;
          process.stdout.write(JSON.stringify(shown) + '\n');
          if (replanHook && r.changed) await replanHook(db, r);
        });
      } catch (err) {
        if (err instanceof TcError && err.kind === 'permanent') {
          process.stderr.write(`${err.code}: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
}
