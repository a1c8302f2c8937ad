import type { Command } from 'commander';
import { cliActor, dataDirOption, guarded, printAction, printSummaries, withService } from './messages.ts';
import { TcError } from '../util/errors.ts';

export function register(program: Command): void {
  const d = program
    .command('deadletters')
    .description('messages the engine could not use (journalled, also on the dead-letter topic)');
  d.command('list')
    .description('dead-lettered messages, newest first, with their code')
    .option('--json', 'one JSON object per message')
    .option(...dataDirOption)
    .action(async (o: { json?: boolean; dataDir: string }) =>
      guarded(async () => {
        await withService(o.dataDir, async (s) => {
          let cursor: string | undefined;
          do {
            const page = await s.deadLetters(cliActor(), cursor);
            printSummaries(page.items, Boolean(o.json));
            cursor = page.next;
          } while (cursor);
        });
      }),
    );
  d.command('retry [id]')
    .description('process a dead letter again from the journal (after fixing a profile or mapping)')
    .option('--all', 'every dead letter not retried successfully yet')
    .option('--dry-run', 'show what would change; write nothing')
    .option(...dataDirOption)
    .action(async (id: string | undefined, o: { all?: boolean; dryRun?: boolean; dataDir: string }) =>
      guarded(async () => {
        if (!id && !o.all) throw new TcError('invalid-input', 'give a message id or --all', 'permanent');
        await withService(o.dataDir, async (s, db) => {
          const a = cliActor();
          let ids = id ? [id] : [];
          if (o.all) {
            // Dead letters of feeds (not the retries themselves) with no successful retry yet.
            const r = await db.query<{ message_id: string }>(
              `SELECT m.message_id FROM journal_message m WHERE m.status = 'dead-lettered' AND m.origin = 'consumed'
                 AND m.raw_enc IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM journal_message c WHERE c.parent_id = m.message_id AND c.origin = 'retry'
                      AND c.status <> 'dead-lettered')
               ORDER BY m.id`,
            );
            ids = r.rows.map((x) => x.message_id);
          }
          for (const x of ids) printAction(await s.retry(a, x, Boolean(o.dryRun)));
          if (!ids.length) process.stdout.write('no dead letter to retry\n');
        });
      }),
    );
}
