import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/cli/convert.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { handleMessage, handleMessages, type HandleDeps } from '../../src/engine/handle.ts';
import type { Db } from '../../src/store/db.ts';
import { listReviews } from '../../src/store/review.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { TcError } from '../../src/util/errors.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { testKeys } from '../helpers/seal.ts';

const kinds = await dbKinds();
const mappings = loadEngineMappings('mappings');
const participants = rosterOrThrow('fixtures/roster/roster.csv');
const clock = fixedClock('2026-11-20T12:00:00-06:00');
const { pipeline, index } = buildPipeline(mappings, participants, clock);

describe.each(kinds)('handleMessage on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  let deps: HandleDeps;
  const delivered: { messageId: string; sites: string[] }[] = [];
  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
    deps = {
      db,
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'reject',
      seal: testKeys,
      enqueueDeliveries: async (_q, requests, messageId) => {
        delivered.push({ messageId, sites: requests.map((r) => r.intent.siteId) });
      },
    };
  });
  afterAll(async () => close());

  it('plans the ED → admission → discharge story durably and journals every message', async () => {
    const files = expandPaths(['fixtures/adt/p001-ed-admit-discharge']);
    const outcomes: string[] = [];
    for (const [i, f] of files.entries()) {
      const [r] = await handleMessage(deps, `adt.inbound/0/${i}`, readFileSync(f));
      outcomes.push(r!.outcome);
    }
    expect(outcomes).toContain('planned');
    const journal = await db.query<{ outcome: string; participant_id: string }>(
      'SELECT outcome, participant_id FROM message_outcome ORDER BY message_id',
    );
    expect(journal.rowCount).toBe(files.length);
    expect(new Set(journal.rows.map((r) => r.participant_id))).toEqual(new Set(['P001']));
    expect(delivered.flatMap((d) => d.sites)).toContain('pchh-springfield-north');
  });

  it('does not apply a redelivered message twice', async () => {
    const before = delivered.length;
    const [r] = await handleMessage(
      deps,
      'adt.inbound/0/0',
      readFileSync(expandPaths(['fixtures/adt/p001-ed-admit-discharge'])[0]!),
    );
    expect(r!.outcome).toBe('duplicate');
    expect(delivered.length).toBe(before);
  });

  it('throws a permanent error naming the field for a message that cannot be used', async () => {
    const err = await handleMessage(deps, 'adt.inbound/1/0', Buffer.from('MSH|^~|X')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TcError);
    expect((err as TcError).kind).toBe('permanent');
    expect((err as TcError).message).toContain('MSH-2');
  });

  it('rejects a sender without a profile when configured to', async () => {
    const raw = readFileSync(expandPaths(['fixtures/adt/p001-ed-admit-discharge'])[0]!, 'latin1').replace(
      /^MSH\|\^~\\&\|[^|]*\|[^|]*/,
      'MSH|^~\\&|OTHER|NOWHERE',
    );
    const err = await handleMessage(deps, 'adt.inbound/1/1', Buffer.from(raw, 'latin1')).catch((e: unknown) => e);
    expect((err as TcError).code).toBe('TC_UNKNOWN_SENDER');
  });

  it('applies a fetched batch in one transaction with the same results as one by one; a bad message gets its error and the others go on', async () => {
    const files = expandPaths(['fixtures/adt/p002-cancelled-discharge', 'fixtures/adt/p006-ama-discharge']);
    const items = files.map((f, i) => ({ messageId: `batch/0/${i}`, raw: readFileSync(f) }));
    items.splice(2, 0, { messageId: 'batch/0/poison', raw: Buffer.from('MSH|^~|X') });
    const before = delivered.length;
    const outcomes = await handleMessages(deps, items);
    expect(outcomes.map((o) => o.ok)).toEqual(items.map((i) => i.messageId !== 'batch/0/poison'));
    const poison = outcomes[2]!;
    expect(!poison.ok && poison.error.kind === 'permanent' && poison.error.message).toContain('MSH-2');

    // The same messages one by one on a fresh database give the same outcomes and intents.
    const { db: db2, close: close2 } = await openTestDb(kind);
    try {
      const one: string[] = [];
      for (const i of items.filter((x) => x.messageId !== 'batch/0/poison'))
        for (const r of await handleMessage({ ...deps, db: db2 }, i.messageId, i.raw))
          one.push(`${r.outcome}:${r.intents.map((x) => `${x.action}@${x.siteId}`).join(',')}`);
      const batched = outcomes
        .flatMap((o) => (o.ok ? o.results : []))
        .map((r) => `${r.outcome}:${r.intents.map((x) => `${x.action}@${x.siteId}`).join(',')}`);
      expect(batched).toEqual(one);
      expect(one.some((x) => x.startsWith('planned'))).toBe(true);
    } finally {
      await close2();
    }
    expect(delivered.length).toBeGreaterThan(before);

    // Redelivered: answered from the journal with the outcome recorded the first time, nothing applied again.
    const again = await handleMessages(deps, items.slice(0, 2));
    const firstResults = outcomes.slice(0, 2).flatMap((o) => (o.ok ? o.results : []));
    expect(again.flatMap((o) => (o.ok ? o.results : [])).map((r) => [r.outcome, r.previous, r.messageId])).toEqual(
      firstResults.map((r) => ['duplicate', r.outcome, r.messageId]),
    );
  });

  it('journals every HL7 message of a consumed batch together, and a redelivery answers for all of them', async () => {
    const [a, b] = expandPaths(['fixtures/adt/p006-ama-discharge']).map((f) => readFileSync(f));
    const raw = Buffer.concat([a!, Buffer.from('\r'), b!]);
    const first = await handleMessage(deps, 'adt.inbound/2/7', raw);
    expect(first.map((r) => r.messageId)).toEqual(['adt.inbound/2/7#0', 'adt.inbound/2/7#1']);
    const again = await handleMessage(deps, 'adt.inbound/2/7', raw);
    expect(again.map((r) => [r.messageId, r.outcome, r.previous])).toEqual(
      first.map((r) => [r.messageId, 'duplicate', r.outcome]),
    );
  });

  it('keeps no review item for a clear match', async () => {
    expect((await listReviews(db, { status: 'open' })).length).toBe(0);
  });
});

describe('planning on the database path', () => {
  it('gives the same intents as the in-memory state: no update when nothing changed (JSONB reorders keys)', async () => {
    const { db, close } = await openTestDb('pglite');
    try {
      const deps: HandleDeps = {
        db,
        convert: mappings.convert,
        pipeline: () => pipeline,
        participant: (id) => index.participant(id),
        clock,
        unknownSender: 'reject',
        seal: testKeys,
      };
      const files = expandPaths(['fixtures/adt/p002-cancelled-discharge']);
      const actions: string[][] = [];
      for (const [i, f] of files.entries()) {
        const [r] = await handleMessage(deps, `p002/${i}`, readFileSync(f));
        actions.push(r!.envelope!.actions.map((a) => a.action));
      }
      expect(actions[0]).toEqual(['create']);
      // The discharge also cancels the admission outreach Task (admission-phase Tasks end at discharge).
      expect(actions[1]).toEqual(['create', 'create', 'create', 'create', 'cancel']);
      expect(actions[2]).toEqual(['cancel', 'cancel', 'cancel', 'cancel']);
    } finally {
      await close();
    }
  });
});
