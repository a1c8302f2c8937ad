import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/cli/convert.ts';
import { reprocessMessage, resendEdited, retryDeadLetter, type JournalContext } from '../../src/journal/actions.ts';
import { journalKeysFrom } from '../../src/journal/keys.ts';
import { MessageJournal } from '../../src/journal/writer.ts';
import { TcError } from '../../src/util/errors.ts';
import { enforceRetention } from '../../src/journal/retention.ts';
import { journalDetail, readRaw, searchJournal } from '../../src/journal/search.ts';
import type { Db } from '../../src/store/db.ts';
import { claimDue, markDead, markDelivered, markRetry } from '../../src/store/outbox.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { consume, feed, journalContext, keys } from './support.ts';

const kinds = await dbKinds();
const P001 = 'fixtures/adt/p001-ed-admit-discharge';

describe.each(kinds)('message journal on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  let ctx: JournalContext;
  let ids: string[];
  let planned: string[] = [];
  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
    ctx = journalContext(db);
    ids = await feed(ctx, [P001, 'fixtures/adt/p007-other-events']);
    await consume(ctx, 'adt.inbound/1/0', Buffer.from('MSH|^~|X'));
  }, 120_000);
  afterAll(async () => close());

  it('journals every consumed message, the ignored and dead-lettered ones too', async () => {
    const r = await db.query<{ message_id: string; status: string }>('SELECT message_id, status FROM journal_message');
    expect(r.rowCount).toBe(ids.length + 1);
    const statuses = new Set(r.rows.map((x) => x.status));
    expect(statuses).toContain('planned');
    expect(statuses).toContain('ignored');
    expect(statuses).toContain('dead-lettered');
    const dead = await journalDetail(db, 'adt.inbound/1/0');
    expect(dead?.error?.code).toMatch(/^TC_HL7/);
    expect(dead?.error?.reason).toContain('MSH-2');
  });

  it('keeps the raw bytes encrypted (AES-GCM, bound to the message id) and the search keys as keyed hashes', async () => {
    const first = readFileSync(expandPaths([P001])[0]!);
    const row = await db.query<{ raw_enc: Uint8Array }>('SELECT raw_enc FROM journal_message WHERE message_id = $1', [
      ids[0],
    ]);
    const sealed = Buffer.from(row.rows[0]!.raw_enc);
    expect(sealed.includes(Buffer.from('ALVAREZ'))).toBe(false);
    expect(keys.decrypt(sealed, ids[0]!).equals(first)).toBe(true);
    expect(() => keys.decrypt(sealed, ids[1]!)).toThrow(/does not decrypt/);
    expect(() => journalKeysFrom(Buffer.alloc(32, 8)).decrypt(sealed, ids[0]!)).toThrow(/does not decrypt/);
    expect((await readRaw(db, keys, ids[0]!))?.equals(first)).toBe(true);
    const dump = await db.query<{ t: string }>(`SELECT string_agg(encode(hash, 'escape'), ' ') AS t FROM journal_key`);
    expect(dump.rows[0]!.t).not.toContain('M1001');
    expect(dump.rows[0]!.t).not.toContain('10234567');
  });

  it('finds messages by MRN, DCN, visit number, participant, site, sender, event, status and time range', async () => {
    const count = async (f: Parameters<typeof searchJournal>[2]) => (await searchJournal(db, keys, f)).items.length;
    const p001 = expandPaths([P001]).length;
    expect(await count({ mrn: 'M1001' })).toBe(p001);
    expect(await count({ mrn: ' m1001 ' })).toBe(p001);
    expect(await count({ dcn: '10234567' })).toBe(p001);
    expect(await count({ visit: 'V1001-01' })).toBe(p001);
    expect(await count({ participant: 'P001' })).toBeGreaterThanOrEqual(p001 - 1);
    expect(await count({ site: 'pchh-springfield-north' })).toBeGreaterThan(0);
    expect(await count({ sender: 'EPIC^MERCYSGF', mrn: 'M1001' })).toBe(p001);
    expect(await count({ event: 'a03', mrn: 'M1001' })).toBe(1);
    expect(await count({ controlId: 'MRC-P001-01' })).toBe(1);
    expect(await count({ status: 'dead-lettered' })).toBe(1);
    expect(await count({ status: 'planned', mrn: 'M1001' })).toBeGreaterThan(0);
    expect(await count({ mrn: 'NOSUCH' })).toBe(0);
    expect(await count({ from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' })).toBe(ids.length + 1);
    expect(await count({ to: '2000-01-01T00:00:00Z' })).toBe(0);
    expect(await count({ from: '2100-01-01T00:00:00Z', mrn: 'M1001' })).toBe(0);
  });

  it('combines a site with other filters whichever index the page starts from', async () => {
    const site = 'pchh-springfield-north';
    const ids = async (f: Parameters<typeof searchJournal>[2]) =>
      (await searchJournal(db, keys, { ...f, limit: 500 })).items.map((i) => i.messageId);
    const ofSite = (await searchJournal(db, keys, { site, limit: 500 })).items;
    expect(ofSite.length).toBeGreaterThan(0);
    // Site + plain filter starts from the plain filter's index and probes the site's key per row.
    const planned = ofSite.filter((i) => i.status === 'planned').map((i) => i.messageId);
    expect(planned.length).toBeGreaterThan(0);
    expect(await ids({ site, status: 'planned' })).toEqual(planned);
    // Site + patient key starts from the patient's key.
    const byMrn = (await searchJournal(db, keys, { mrn: 'M1001', limit: 500 })).items;
    const expected = byMrn.filter((i) => i.sites.includes(site)).map((i) => i.messageId);
    expect(expected.length).toBeGreaterThan(0);
    expect(await ids({ site, mrn: 'M1001' })).toEqual(expected);
    expect(await ids({ site: 'pchh-kc-east', mrn: 'M1001' })).toEqual(
      byMrn.filter((i) => i.sites.includes('pchh-kc-east')).map((i) => i.messageId),
    );
  });

  it('pages with a cursor: every message once, newest first, with any filter', async () => {
    for (const filter of [
      {},
      { mrn: 'M1001' },
      { status: 'planned' as const },
      { site: 'pchh-springfield-north', status: 'planned' as const },
      { site: 'pchh-springfield-north', from: '2000-01-01T00:00:00Z' },
    ]) {
      const all = (await searchJournal(db, keys, { ...filter, limit: 500 })).items.map((i) => i.messageId);
      const paged: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await searchJournal(db, keys, { ...filter, limit: 2, ...(cursor ? { cursor } : {}) });
        paged.push(...page.items.map((i) => i.messageId));
        cursor = page.next;
      } while (cursor);
      expect(paged).toEqual(all);
      expect(new Set(paged).size).toBe(paged.length);
    }
    await expect(searchJournal(db, keys, { cursor: 'bogus' })).rejects.toThrow(/cursor/);
  });

  it('records every delivery attempt with the site answer and keeps the message delivery status', async () => {
    planned = (await searchJournal(db, keys, { status: 'planned', mrn: 'M1001' })).items.map((i) => i.messageId);
    const detail = await journalDetail(db, planned[0]!);
    expect(detail?.plannedIntents.length).toBeGreaterThan(0);
    expect(detail?.delivery).toBe('pending');
    const site = detail!.tasks[0]!.siteId;
    const items = (await claimDue(db, site, { limit: 500 })).filter((i) => i.messageId === planned[0]);
    expect(items.length).toBe(detail!.tasks.length);
    const outcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] };
    await markRetry(db, items[0]!.id, 0, { status: 503, reason: 'HTTP 503', outcome }, { now: Date.now() - 1000 });
    // The message's row is rewritten only when its delivery state changes: at the last of its Tasks.
    const version = async () =>
      (await db.query<{ v: string }>('SELECT xmin::text AS v FROM journal_message WHERE message_id = $1', [planned[0]]))
        .rows[0]!.v;
    const before = await version();
    expect(items.length).toBeGreaterThan(1);
    for (const [k, i] of items.entries()) {
      await markDelivered(db, i.id, 'created');
      if (k < items.length - 1) expect(await version()).toBe(before);
    }
    expect(await version()).not.toBe(before);
    const after = await journalDetail(db, planned[0]!);
    expect(after?.delivery).toBe('delivered');
    const first = after!.deliveries.filter((d) => d.outboxId === items[0]!.id);
    expect(first.map((d) => d.status)).toEqual(['pending', 'delivered']);
    expect(first[0]!.error?.status).toBe(503);
    expect(first[0]!.error?.outcome).toEqual(outcome);
    expect((await searchJournal(db, keys, { status: 'delivered' })).items.map((i) => i.messageId)).toEqual([
      planned[0],
    ]);

    const other = (await searchJournal(db, keys, { status: 'planned' })).items.find((i) => i.messageId !== planned[0])!;
    const item = (await journalDetail(db, other.messageId))!.tasks[0]!;
    await markDead(db, item.outboxId, { status: 422, reason: 'HTTP 422', outcome });
    expect((await journalDetail(db, other.messageId))?.delivery).toBe('failed');
    expect((await searchJournal(db, keys, { status: 'failed' })).items.map((i) => i.messageId)).toEqual([
      other.messageId,
    ]);
  });

  it('reprocesses with a dry run that writes nothing, then for real as a linked message', async () => {
    const before = await db.query('SELECT count(*)::int AS n FROM journal_message');
    const dry = await reprocessMessage(ctx, planned[0]!, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.before.intents.length).toBeGreaterThan(0);
    expect(dry.changes.length).toBeGreaterThan(0); // the Tasks exist already: nothing new is planned
    expect((await db.query('SELECT count(*)::int AS n FROM journal_message')).rows).toEqual(before.rows);
    const real = await reprocessMessage(ctx, planned[0]!);
    expect(real.messageId).toBe(`${planned[0]}#reprocess-1`);
    expect({ real: real.changes, after: real.after }).toEqual({ real: dry.changes, after: dry.after });
    const parent = await journalDetail(db, planned[0]!);
    expect(parent?.children.map((c) => c.messageId)).toEqual([real.messageId]);
    expect((await journalDetail(db, real.messageId))?.parentId).toBe(planned[0]);
  });

  it('resends an edited message as a new message linked to the original, both kept', async () => {
    const raw = (await readRaw(db, keys, ids[0]!))!.toString('latin1').replace('MRC-P001-01', 'MRC-P001-01E');
    const r = await resendEdited(ctx, ids[0]!, Buffer.from(raw, 'latin1'));
    expect(r.messageId).toBe(`${ids[0]}#resend-1`);
    expect((await searchJournal(db, keys, { controlId: 'MRC-P001-01E' })).items.map((i) => i.messageId)).toEqual([
      r.messageId,
    ]);
    expect((await searchJournal(db, keys, { controlId: 'MRC-P001-01' })).items.map((i) => i.messageId)).toEqual([
      ids[0],
    ]);
  });

  it('retries a dead letter from the journal: a message still unusable is a dead letter of its own', async () => {
    const r = await retryDeadLetter(ctx, 'adt.inbound/1/0');
    expect(r.after.outcome).toMatch(/^dead-lettered/);
    const child = await journalDetail(db, r.messageId);
    expect(child?.status).toBe('dead-lettered');
    expect(child?.parentId).toBe('adt.inbound/1/0');
    await expect(retryDeadLetter(ctx, ids[0]!)).rejects.toThrow(/not dead-lettered/);
  });

  it("writes a message's search keys with its row, once: a dead letter journalled again adds none", async () => {
    const journal = new MessageJournal(keys);
    const raw = Buffer.from('MSH|^~\\&|EPIC|MERCYSGF|||20261120||ADT^A01|DL1|P|2.5\rPID|1||M7777^^^MERCY^MR||DOE^JO\r');
    const error = new TcError('TC_TEST', 'a test dead letter', 'permanent');
    const keyRows = async () =>
      (
        await db.query<{ n: string | number; bad: string | number }>(
          `SELECT count(*) AS n, count(*) FILTER (WHERE k.received_at <> m.received_at) AS bad
             FROM journal_key k JOIN journal_message m ON m.id = k.message_row WHERE m.message_id = 'adt.inbound/9/0'`,
        )
      ).rows[0]!;
    await db.tx((q) => journal.deadLettered(q, { messageId: 'adt.inbound/9/0', raw, error }));
    const first = await keyRows();
    expect(Number(first.n)).toBe(1);
    expect(Number(first.bad)).toBe(0);
    await db.tx((q) => journal.deadLettered(q, { messageId: 'adt.inbound/9/0', raw, error, attempts: 2 }));
    expect(Number((await keyRows()).n)).toBe(1);
    const found = await searchJournal(db, keys, { mrn: 'M7777' });
    expect(found.items.map((i) => i.messageId)).toEqual(['adt.inbound/9/0']);
    expect((await journalDetail(db, 'adt.inbound/9/0'))?.error?.attempts).toBe(2);
  });

  it('enforces retention per class: raw bytes first, then the rows with their keys and attempts', async () => {
    const day = 86_400_000;
    const soon = await enforceRetention(db, { rawDays: 30, metadataDays: 400 });
    expect(soon).toEqual({ rawPurged: 0, rowsDeleted: 0 });
    const later = await enforceRetention(db, { rawDays: 30, metadataDays: 400 }, Date.now() + 31 * day);
    expect(later.rawPurged).toBeGreaterThan(ids.length);
    expect(await readRaw(db, keys, ids[0]!)).toBeUndefined();
    expect((await journalDetail(db, ids[0]!))?.rawKept).toBe(false);
    await expect(reprocessMessage(ctx, ids[0]!)).rejects.toThrow(/retention/);
    expect((await searchJournal(db, keys, { mrn: 'M1001' })).items.length).toBeGreaterThan(0);
    const end = await enforceRetention(db, { rawDays: 30, metadataDays: 400 }, Date.now() + 401 * day);
    expect(end.rowsDeleted).toBe(later.rawPurged);
    for (const t of ['journal_message', 'journal_key', 'journal_delivery_attempt'])
      expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n).toBe(0);
  });
});

describe('journal encryption', () => {
  it('never reuses an IV, across refills of its random pool (3,000 seals of one message)', () => {
    const k = journalKeysFrom(Buffer.alloc(32, 3));
    const plain = Buffer.from('MSH|^~\\&|A|B\r');
    const ivs = new Set<string>();
    for (let i = 0; i < 3_000; i++) {
      const sealed = k.encrypt(plain, 'm');
      ivs.add(sealed.subarray(1, 13).toString('hex'));
      expect(k.decrypt(sealed, 'm').equals(plain)).toBe(true);
    }
    expect(ivs.size).toBe(3_000);
  });
});
