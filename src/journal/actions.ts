import { handleMessage, type HandleDeps, type HandleResult } from '../engine/handle.ts';
import type { Db } from '../store/db.ts';
import { TcError } from '../util/errors.ts';
import { journalDetail, readRaw, type JournalDetail } from './search.ts';
import type { JournalOrigin, MessageJournal } from './writer.ts';

/** What the operator's actions need: the database, the journal and the engine's handle dependencies. */
export interface JournalContext {
  db: Db;
  journal: MessageJournal;
  handle: Omit<HandleDeps, 'db' | 'journal'>;
  /** Wakes the delivery workers for these sites after new Task intents were written. */
  wake?(siteIds: string[]): void;
}

/** What a message did, in the terms an operator compares: outcome, participant, intents, match. */
export interface Effect {
  outcome: string;
  participantId?: string;
  intents: string[];
  match?: string;
  error?: string;
}

export interface ActionResult {
  messageId: string;
  origin: JournalOrigin;
  dryRun: boolean;
  before: Effect;
  after: Effect;
  /** Human lines, one per difference (ids and codes only). Empty when nothing would change. */
  changes: string[];
}

class RolledBack<T> extends Error {
  constructor(readonly value: T) {
    super('dry run');
  }
}

/** The same database, but every transaction is rolled back at its end (what it returned is kept): a dry run. */
export function dryRunDb(db: Db): Db {
  return {
    kind: db.kind,
    query: (sql, params, options) => db.query(sql, params, options),
    close: () => db.close(),
    tx: async <T>(fn: (q: Parameters<Parameters<Db['tx']>[0]>[0]) => Promise<T>): Promise<T> => {
      try {
        await db.tx(async (q) => {
          throw new RolledBack(await fn(q));
        });
      } catch (err) {
        // The pg adapter wraps what a transaction throws (keeping it as the cause).
        const e = err instanceof RolledBack ? err : (err as { cause?: unknown }).cause;
        if (e instanceof RolledBack) return e.value as T;
        throw err;
      }
      throw new Error('unreachable');
    },
  };
}

function effectOfDetail(d: JournalDetail): Effect {
  return {
    outcome: d.status === 'dead-lettered' ? `dead-lettered (${d.outcome ?? ''})` : (d.outcome ?? d.status),
    ...(d.participantId ? { participantId: d.participantId } : {}),
    intents: d.plannedIntents.map((i) => `${i.action} ${i.taskIdentifier} → ${i.siteId}`),
    ...(d.match ? { match: `${d.match.status} ${d.match.score.toFixed(2)}` } : {}),
    ...(d.error ? { error: d.error.code } : {}),
  };
}

function effectOfResults(rs: HandleResult[]): Effect {
  const r = rs[0];
  const m = r?.envelope?.match;
  return {
    outcome: rs.map((x) => x.outcome).join(', '),
    ...(r?.participantId ? { participantId: r.participantId } : {}),
    intents: rs.flatMap((x) => x.intents.map((i) => `${i.action} ${i.taskIdentifier} → ${i.siteId}`)),
    ...(m ? { match: `${m.status} ${m.score.toFixed(2)}` } : {}),
  };
}

export function diffEffects(before: Effect, after: Effect): string[] {
  const out: string[] = [];
  if (before.outcome !== after.outcome) out.push(`outcome: ${before.outcome} → ${after.outcome}`);
  if ((before.participantId ?? '-') !== (after.participantId ?? '-'))
    out.push(`participant: ${before.participantId ?? '-'} → ${after.participantId ?? '-'}`);
  if ((before.match ?? '-') !== (after.match ?? '-')) out.push(`match: ${before.match ?? '-'} → ${after.match ?? '-'}`);
  for (const i of after.intents) if (!before.intents.includes(i)) out.push(`+ ${i}`);
  for (const i of before.intents) if (!after.intents.includes(i)) out.push(`- ${i}`);
  if ((before.error ?? '-') !== (after.error ?? '-')) out.push(`error: ${before.error ?? '-'} → ${after.error ?? '-'}`);
  return out;
}

async function nextChildId(db: Db, messageId: string, origin: JournalOrigin): Promise<string> {
  const r = await db.query<{ n: string | number }>(
    'SELECT count(*) AS n FROM journal_message WHERE parent_id = $1 AND origin = $2',
    [messageId, origin],
  );
  return `${messageId}#${origin}-${Number(r.rows[0]?.n ?? 0) + 1}`;
}

async function original(ctx: JournalContext, messageId: string): Promise<{ detail: JournalDetail; raw: Buffer }> {
  const detail = await journalDetail(ctx.db, messageId);
  if (!detail) throw new TcError('not-found', `no journalled message ${messageId}`, 'permanent');
  const raw = await readRaw(ctx.db, ctx.journal.keys, messageId);
  if (!raw) throw new TcError('gone', `the raw message of ${messageId} was removed by retention`, 'permanent');
  return { detail, raw };
}

/**
 * Runs bytes through the engine's durable path as a new message linked to `parentId` (or, with dryRun, the same
 * path in a transaction that is rolled back). A permanent error is journalled as a dead letter of the new message.
 */
async function run(
  ctx: JournalContext,
  parent: JournalDetail,
  raw: Buffer,
  origin: JournalOrigin,
  dryRun: boolean,
): Promise<ActionResult> {
  const db = dryRun ? dryRunDb(ctx.db) : ctx.db;
  const journal = ctx.journal.withOrigin(origin, parent.messageId);
  const messageId = dryRun
    ? `${parent.messageId}#${origin}-dry-run`
    : await nextChildId(ctx.db, parent.messageId, origin);
  const before = effectOfDetail(parent);
  let after: Effect;
  try {
    const results = await handleMessage({ ...ctx.handle, db, journal }, messageId, raw);
    after = effectOfResults(results);
    if (!dryRun) ctx.wake?.([...new Set(results.flatMap((r) => r.intents.map((i) => i.siteId)))]);
  } catch (err) {
    if (!(err instanceof TcError) || err.kind !== 'permanent') throw err;
    if (!dryRun) await journal.deadLettered(ctx.db, { messageId, raw, error: err });
    after = { outcome: `dead-lettered (${err.code})`, intents: [], error: err.code };
  }
  return { messageId, origin, dryRun, before, after, changes: diffEffects(before, after) };
}

/** Processes a journalled message again (with the current roster, rules and mappings); dryRun shows the diff only. */
export async function reprocessMessage(
  ctx: JournalContext,
  messageId: string,
  options: { dryRun?: boolean } = {},
): Promise<ActionResult> {
  const { detail, raw } = await original(ctx, messageId);
  return run(ctx, detail, raw, 'reprocess', options.dryRun ?? false);
}

/** Edit-and-resend: the edited bytes become a new message linked to the original; both stay in the journal. */
export async function resendEdited(
  ctx: JournalContext,
  messageId: string,
  edited: Buffer,
  options: { dryRun?: boolean } = {},
): Promise<ActionResult> {
  const detail = await journalDetail(ctx.db, messageId);
  if (!detail) throw new TcError('not-found', `no journalled message ${messageId}`, 'permanent');
  if (!edited.length) throw new TcError('invalid-input', 'the edited message is empty', 'permanent');
  return run(ctx, detail, edited, 'resend', options.dryRun ?? false);
}

/** Retries a dead-lettered message from the journal (after a profile or mapping fix). */
export async function retryDeadLetter(
  ctx: JournalContext,
  messageId: string,
  options: { dryRun?: boolean } = {},
): Promise<ActionResult> {
  const { detail, raw } = await original(ctx, messageId);
  if (detail.status !== 'dead-lettered')
    throw new TcError('invalid-input', `message ${messageId} is ${detail.status}, not dead-lettered`, 'permanent');
  return run(ctx, detail, raw, 'retry', options.dryRun ?? false);
}
