import { readdirSync, readFileSync } from 'node:fs';
import { expandPaths } from '../../src/cli/convert.ts';
import { loadSiteDirectory } from '../../src/delivery/sites.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { handleMessage } from '../../src/engine/handle.ts';
import type { JournalContext } from '../../src/journal/actions.ts';
import { MessageJournal } from '../../src/journal/writer.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueueDeliveries, routeFor } from '../../src/store/outbox.ts';
import { replaceRoster } from '../../src/store/roster-repo.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { TcError } from '../../src/util/errors.ts';
import { testKeys } from '../helpers/seal.ts';

export const mappings = loadEngineMappings('mappings');
export const participants = rosterOrThrow('fixtures/roster/roster.csv');
export const clock = fixedClock('2026-11-20T12:00:00-06:00');
const { pipeline, index } = buildPipeline(mappings, participants, clock);
/** A fixed test key (32 bytes): the same in every test process. */
export const keys = testKeys;

/** The shipped site directory (nothing is delivered here: the outbox is the record). */
export const sites = loadSiteDirectory('mappings/sites');

export function journalContext(db: Db): JournalContext {
  const route = routeFor(sites);
  return {
    db,
    journal: new MessageJournal(keys),
    handle: {
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'reject',
      seal: testKeys,
      enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
    },
  };
}

/** Feeds fixture folders through handleMessage with the journal, as the engine does; dead letters journalled too. */
export async function feed(ctx: JournalContext, folders: string[], prefix = 'adt.inbound/0'): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, f] of expandPaths(folders).entries()) {
    const id = `${prefix}/${i}`;
    await consume(ctx, id, readFileSync(f));
    ids.push(id);
  }
  return ids;
}

export async function consume(ctx: JournalContext, id: string, raw: Buffer): Promise<void> {
  try {
    await handleMessage({ ...ctx.handle, db: ctx.db, journal: ctx.journal }, id, raw);
  } catch (err) {
    if (!(err instanceof TcError) || err.kind !== 'permanent') throw err;
    await ctx.journal.deadLettered(ctx.db, { messageId: id, raw, error: err });
  }
}

export async function loadRosterIntoDb(db: Db): Promise<void> {
  await replaceRoster(db, participants, { source: 'fixtures/roster/roster.csv' });
}

/** Every persona's fixture folder (fixtures/adt/pNNN-*), in order: the whole fixture feed. */
export function personaFolders(): string[] {
  return readdirSync('fixtures/adt', { withFileTypes: true })
    .filter((d) => d.isDirectory() && /^p\d/.test(d.name))
    .map((d) => `fixtures/adt/${d.name}`)
    .sort();
}
