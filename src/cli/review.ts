import type { Command } from 'commander';
import { loadEngineConfig } from '../engine/config.ts';
import { dataDirKeys } from '../journal/keys.ts';
import type { Db } from '../store/db.ts';
import { defaultDataDir, withDb } from '../store/open.ts';
import {
  listReviews,
  listReviewsByPerson,
  resolvePersonReview,
  type ResolvedReview,
  type ReviewStatus,
} from '../store/review.ts';
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
    .description(
      'list the review queue, one item per person (the ADT identity): messages, candidates, scores; ids and scores only',
    )
    .option('--status <status>', 'open | resolved | all', 'open')
    .option('--by <unit>', 'person (one item per ADT identity) | message', 'person')
    .option('--json', 'one JSON line per item (by person: its messages with field-by-field reasons)')
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(async (opts: { status: string; by: string; json?: boolean; dataDir: string }) => {
      if (!['open', 'resolved', 'all'].includes(opts.status) || !['person', 'message'].includes(opts.by)) {
        process.stderr.write(`--status must be open, resolved or all; --by person or message\n`);
        process.exitCode = 1;
        return;
      }
      if (opts.by === 'person') {
        const people = await withDb(opts.dataDir, (db) =>
          listReviewsByPerson(db, { status: opts.status as ReviewStatus | 'all' }),
        );
        for (const p of people) {
          if (opts.json) {
            process.stdout.write(JSON.stringify(p) + '\n');
            continue;
          }
          const cands = p.candidates.map((c) => `${c.participantId}(${c.score})`).join(' ');
          const events = p.messages.map((m) => `${m.messageId}:${m.event ?? '-'}`).join(' ');
          process.stdout.write(`${p.personKey}\t${p.status}\t${p.messages.length} message(s)\t${cands}\t${events}\n`);
          for (const m of p.messages.slice(0, 1))
            for (const r of m.reasons ?? [])
              process.stdout.write(`  ${r.field} ${r.result} ${r.weight}${r.note ? ` (${r.note})` : ''}\n`);
        }
        if (!opts.json) process.stderr.write(`${people.length} person(s)\n`);
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
    .command('resolve <key> <participantId>')
    .description(
      "record the decision for a person (a person key, or any of its message ids): a candidate participant id or 'none'; every open message of the person is planned again",
    )
    .option('--by <who>', 'who decided', process.env.USER)
    .option('--data-dir <dir>', 'PGlite data directory when DATABASE_URL is not set', defaultDataDir())
    .action(async (key: string, participantId: string, opts: { by?: string; dataDir: string }) => {
      try {
        await withDb(opts.dataDir, async (db) => {
          for (const r of await resolvePersonReview(
            db,
            dataDirKeys(loadEngineConfig().dataDir),
            key,
            participantId,
            opts.by,
          )) {
            const { rawMessage: _raw, reasons: _reasons, ...shown } = r;
            process.stdout.write(JSON.stringify(shown) + '\n');
            if (replanHook && r.changed) await replanHook(db, r);
          }
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
