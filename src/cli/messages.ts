import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { filterOf } from '../api/journal-api.ts';
import { ConsoleService, type Actor } from '../console/service.ts';
import { replanResolved } from '../engine/replan.ts';
import type { ActionResult } from '../journal/actions.ts';
import { contextFromDb } from '../journal/context.ts';
import type { JournalFilter, JournalSummary } from '../journal/search.ts';
import type { Db } from '../store/db.ts';
import { withDb } from '../store/open.ts';
import { TcError } from '../util/errors.ts';

export const dataDirOption = [
  '--data-dir <dir>',
  'PGlite data directory when DATABASE_URL is not set',
  join('.data', 'pglite'),
] as const;

/** The person at the terminal, as the audit log records CLI use (CLI users hold the database's credentials). */
export function cliActor(): Actor {
  let name = 'unknown';
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry (a container): keep 'unknown'
  }
  return { username: `cli:${name}`, role: 'admin' };
}

/** The console's service over this database: the same role checks and audit log as the web console. */
export async function withService<T>(dataDir: string, fn: (s: ConsoleService, db: Db) => Promise<T>): Promise<T> {
  return withDb(dataDir, async (db) => {
    const ctx = await contextFromDb(db);
    const service = new ConsoleService({
      ctx,
      sites: ctx.sites,
      replanReview: (resolved) =>
        replanResolved(db, resolved, {
          keys: ctx.journal.keys,
          journal: ctx.journal.withOrigin('review', resolved.messageId),
          ...(ctx.handle.enqueueDeliveries ? { enqueueDeliveries: ctx.handle.enqueueDeliveries } : {}),
        }),
    });
    return fn(service, db);
  });
}

/** Runs a command body; a TcError is printed (codes and ids, no values) and exits 1. */
export async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof TcError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exit(1);
  }
}

export function printSummaries(items: JournalSummary[], json: boolean): void {
  const out = process.stdout;
  if (json) {
    for (const i of items) out.write(`${JSON.stringify(i)}\n`);
    return;
  }
  for (const i of items)
    out.write(
      `${i.receivedAt.slice(0, 19)}  ${i.messageId.padEnd(28)} ${(i.sender ?? '-').padEnd(18)} ${(i.controlId ?? '-').padEnd(16)} ${(i.event ?? '-').padEnd(4)} ${i.status.padEnd(13)} ${(i.delivery ?? '-').padEnd(9)} ${i.participantId ?? '-'}\n`,
    );
}

export function printAction(r: ActionResult): void {
  process.stdout.write(
    `${r.dryRun ? 'dry run' : r.messageId}: ${r.before.outcome} → ${r.after.outcome}${r.changes.length ? '' : ' (no change)'}\n`,
  );
  for (const c of r.changes) process.stdout.write(`  ${c}\n`);
}

interface SearchOpts {
  mrn?: string;
  dcn?: string;
  visit?: string;
  participant?: string;
  site?: string;
  sender?: string;
  event?: string;
  status?: string;
  from?: string;
  to?: string;
  controlId?: string;
  cursor?: string;
  limit?: string;
}

function withFilterOptions(c: Command): Command {
  return c
    .option('--mrn <v>', 'MRN (any PID-3 identifier)')
    .option('--dcn <v>', 'DCN (Medicaid id)')
    .option('--visit <v>', 'visit number (PV1-19)')
    .option('--participant <id>', 'roster participant id')
    .option('--site <id>', 'site id')
    .option('--sender <app^facility>', 'MSH-3^MSH-4')
    .option('--event <code>', 'trigger event, e.g. A03')
    .option('--status <s>', 'converted | ignored | rejected | dead-lettered | review | planned | delivered | failed')
    .option('--from <iso>', 'received at or after')
    .option('--to <iso>', 'received before')
    .option('--control-id <v>', 'MSH-10');
}

function filterFrom(o: SearchOpts): JournalFilter {
  return filterOf(o as Record<string, unknown>);
}

export function register(program: Command): void {
  const m = program.command('messages').description('the message journal: find a message, see what happened, fix it');
  withFilterOptions(m.command('search').description('search the journal, newest first (audited)'))
    .option('--cursor <c>', 'the next page (printed after a full page)')
    .option('--limit <n>', 'messages per page', '50')
    .option('--json', 'one JSON object per message')
    .option(...dataDirOption)
    .action(async (o: SearchOpts & { json?: boolean; dataDir: string }) =>
      guarded(async () => {
        const page = await withService(o.dataDir, (s) => s.search(cliActor(), filterFrom(o)));
        printSummaries(page.items, Boolean(o.json));
        if (page.next) process.stderr.write(`more: --cursor ${page.next}\n`);
      }),
    );
  m.command('show <id>')
    .description('one message: match reasons, intents, Tasks, delivery attempts (audited; --raw prints the message)')
    .option('--raw', 'print the raw HL7 message (PHI)')
    .option('--json', 'JSON')
    .option(...dataDirOption)
    .action(async (id: string, o: { raw?: boolean; json?: boolean; dataDir: string }) =>
      guarded(async () => {
        await withService(o.dataDir, async (s) => {
          const a = cliActor();
          if (o.raw) {
            const raw = await s.exportRaw(a, id);
            if (!raw) throw new TcError('not-found', `no raw message for ${id}`, 'permanent');
            process.stdout.write(`${raw.toString('latin1').replace(/\r/g, '\n')}\n`);
            return;
          }
          const v = await s.message({ ...a, role: 'viewer' }, id);
          if (!v) throw new TcError('not-found', `no journalled message ${id}`, 'permanent');
          const d = v.detail;
          if (o.json) return void process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
          const w = (l: string) => process.stdout.write(`${l}\n`);
          w(`${d.messageId}  ${d.status}${d.delivery ? ` / ${d.delivery}` : ''}  ${d.outcome ?? ''} ${d.detail ?? ''}`);
          w(
            `  sender ${d.sender ?? '-'}  control ${d.controlId ?? '-'}  event ${d.event ?? '-'}  received ${d.receivedAt}`,
          );
          if (d.parentId) w(`  ${d.origin} of ${d.parentId}`);
          if (d.error) w(`  error ${d.error.code} at ${d.error.stage}: ${d.error.reason}`);
          if (d.match) {
            w(`  match ${d.match.status} ${d.match.score.toFixed(2)} ${d.match.participantId ?? ''}`);
            for (const r of d.match.reasons)
              w(`    ${r.field.padEnd(12)} ${r.result.padEnd(9)} ${r.weight.toFixed(2)} ${r.note ?? ''}`);
          }
          for (const i of d.plannedIntents) w(`  intent ${i.action} ${i.taskIdentifier} → ${i.siteId} (${i.reason})`);
          for (const t of d.tasks)
            w(`  task #${t.outboxId} ${t.siteId} ${t.action} ${t.status} ${t.result ?? ''} attempts ${t.attempts}`);
          for (const x of d.deliveries)
            w(
              `  attempt ${x.at} #${x.outboxId} ${x.status} ${x.result ?? ''} ${x.error?.status ?? ''} ${x.error?.reason ?? ''}`,
            );
          for (const c of d.children) w(`  → ${c.messageId} (${c.origin}) ${c.status}`);
        });
      }),
    );
  withFilterOptions(
    m
      .command('reprocess [id]')
      .description('process a message again, or every message the filter finds (--dry-run: the diff only)'),
  )
    .option('--dry-run', 'show what would change; write nothing')
    .option('--max <n>', 'at most n messages with a filter', '1000')
    .option(...dataDirOption)
    .action(async (id: string | undefined, o: SearchOpts & { dryRun?: boolean; max: string; dataDir: string }) =>
      guarded(async () => {
        const f = filterFrom(o);
        const filtered = Object.keys(f).length > 0;
        if (!id && !filtered)
          throw new TcError('invalid-input', 'give a message id or a filter (--status, --mrn, …)', 'permanent');
        if (id && filtered) throw new TcError('invalid-input', 'give a message id or a filter, not both', 'permanent');
        await withService(o.dataDir, async (s) => {
          const a = cliActor();
          const ids: string[] = [];
          if (id) ids.push(id);
          else {
            let cursor: string | undefined;
            do {
              const page = await s.search(a, { ...f, limit: 500, ...(cursor ? { cursor } : {}) });
              ids.push(...page.items.map((i) => i.messageId));
              cursor = page.next;
            } while (cursor && ids.length < Number(o.max));
          }
          for (const x of ids.slice(0, Number(o.max))) printAction(await s.reprocess(a, x, Boolean(o.dryRun)));
          if (!ids.length) process.stdout.write('no message matches\n');
        });
      }),
    );
  m.command('resend <id>')
    .description('edit and resend: a new message linked to the original (both kept)')
    .option('--edit [file]', 'the edited message from a file; without a file, opens $EDITOR on the original')
    .option('--dry-run', 'show what would change; write nothing')
    .option(...dataDirOption)
    .action(async (id: string, o: { edit?: string | boolean; dryRun?: boolean; dataDir: string }) =>
      guarded(async () => {
        if (!o.edit) throw new TcError('invalid-input', '--edit: the edited message (a file, or $EDITOR)', 'permanent');
        await withService(o.dataDir, async (s) => {
          const a = cliActor();
          let edited: Buffer;
          if (typeof o.edit === 'string') edited = readFileSync(o.edit);
          else {
            const raw = await s.exportRaw(a, id);
            if (!raw) throw new TcError('not-found', `no raw message for ${id}`, 'permanent');
            const dir = mkdtempSync(join(tmpdir(), 'tc-resend-'));
            const file = join(dir, 'message.hl7');
            try {
              writeFileSync(file, raw.toString('latin1').replace(/\r/g, '\n'), { mode: 0o600 });
              const r = spawnSync(process.env.EDITOR || 'vi', [file], { stdio: 'inherit' });
              if (r.status !== 0)
                throw new TcError('invalid-input', 'the editor did not exit cleanly; nothing sent', 'permanent');
              edited = readFileSync(file);
            } finally {
              rmSync(dir, { recursive: true, force: true });
            }
          }
          const text = edited.toString('latin1').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
          printAction(await s.resend(a, id, Buffer.from(text, 'latin1'), Boolean(o.dryRun)));
        });
      }),
    );
}
