import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { journalKeysFrom } from '../../src/journal/keys.ts';
import { countOpenReviews, enqueueReview, listReviews, resolveReview } from '../../src/store/review.ts';
import { sealLegacyRows } from '../../src/store/seal.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { testKeys } from '../helpers/seal.ts';

const kinds = await dbKinds();
const RAW = Buffer.from(
  'MSH|^~\\&|EPIC|MERCY|TC|TC|20260301120000||ADT^A03|MSG0001|P|2.5.1\rPID|1||123^^^MERCY^MR\r',
  'latin1',
);

describe.each(kinds)('review queue on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
  });
  afterAll(async () => close());

  it('enqueues inside the caller transaction, once per message id, and keeps the raw bytes', async () => {
    const item = {
      messageId: 'm-1',
      candidates: [
        { participantId: 'P001', score: 9.5 },
        { participantId: 'P002', score: 8.1 },
      ],
      rawMessage: RAW,
      senderProfileId: 'mercy-springfield',
      event: 'A03',
      facilityKey: 'MERCY',
    };
    expect(await db.tx((q) => enqueueReview(q, item, testKeys))).toBe(true);
    expect(await db.tx((q) => enqueueReview(q, { ...item, candidates: [] }, testKeys))).toBe(false);
    const open = await listReviews(db);
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ messageId: 'm-1', status: 'open', event: 'A03', facilityKey: 'MERCY' });
    expect(open[0]?.candidates).toEqual(item.candidates);
    expect(await countOpenReviews(db)).toBe(1);
  });

  it('rolls the item back with the caller transaction', async () => {
    await expect(
      db.tx(async (q) => {
        await enqueueReview(q, { messageId: 'm-rollback', candidates: [], rawMessage: RAW }, testKeys);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await listReviews(db, { status: 'all' })).map((i) => i.messageId)).not.toContain('m-rollback');
  });

  it('resolves with a candidate, returns the raw message, and refuses a conflicting decision', async () => {
    const r = await resolveReview(db, testKeys, 'm-1', 'P002', 'analyst-7');
    expect(r).toMatchObject({ status: 'resolved', decision: 'P002', decidedBy: 'analyst-7', changed: true });
    expect(r.rawMessage.equals(RAW)).toBe(true);
    expect(r.decidedAt).toBeTruthy();
    expect(await countOpenReviews(db)).toBe(0);
    expect(await listReviews(db, { status: 'resolved' })).toHaveLength(1);
    const again = await resolveReview(db, testKeys, 'm-1', 'P002');
    expect(again.changed).toBe(false);
    await expect(resolveReview(db, testKeys, 'm-1', 'none')).rejects.toMatchObject({ code: 'conflict' });
  });

  it("accepts 'none', refuses a participant that is not a candidate and an unknown message", async () => {
    await enqueueReview(
      db,
      { messageId: 'm-2', candidates: [{ participantId: 'P009', score: 7 }], rawMessage: RAW },
      testKeys,
    );
    await expect(resolveReview(db, testKeys, 'm-2', 'P001')).rejects.toMatchObject({ code: 'invalid-input' });
    expect((await resolveReview(db, testKeys, 'm-2', 'none')).decision).toBe('none');
    await expect(resolveReview(db, testKeys, 'nope', 'none')).rejects.toMatchObject({ code: 'not-found' });
    expect((await listReviews(db, { status: 'all' })).map((i) => i.messageId)).toEqual(['m-1', 'm-2']);
  });

  it('keeps the raw message sealed at rest: no HL7 in the table, and another key file does not open it', async () => {
    const stored = await db.query<{ raw_message: Uint8Array; key_id: string | null }>(
      `SELECT raw_message, key_id FROM review_item WHERE message_id = 'm-1'`,
    );
    const bytes = Buffer.from(stored.rows[0]!.raw_message);
    expect(stored.rows[0]!.key_id).toBe(testKeys.keyId);
    expect(bytes.includes('MSH|')).toBe(false);
    expect(bytes.includes('123^^^MERCY')).toBe(false);
    const other = journalKeysFrom(Buffer.alloc(32, 9));
    await expect(resolveReview(db, other, 'm-1', 'P002')).rejects.toMatchObject({ code: 'TC_JOURNAL_KEY' });
  });

  it('reads a row written before the seal (plaintext), and sealLegacyRows seals it in place', async () => {
    await db.query(
      `INSERT INTO review_item (message_id, candidates, raw_message) VALUES ('m-legacy', '[{"participantId":"P001","score":9}]', $1)`,
      [RAW],
    );
    expect(await sealLegacyRows(db, testKeys)).toBeGreaterThanOrEqual(1);
    const stored = await db.query<{ raw_message: Uint8Array; key_id: string | null }>(
      `SELECT raw_message, key_id FROM review_item WHERE message_id = 'm-legacy'`,
    );
    expect(stored.rows[0]!.key_id).toBe(testKeys.keyId);
    expect(Buffer.from(stored.rows[0]!.raw_message).includes('MSH|')).toBe(false);
    expect(await sealLegacyRows(db, testKeys)).toBe(0);
    expect((await resolveReview(db, testKeys, 'm-legacy', 'P001')).rawMessage.equals(RAW)).toBe(true);
  });
});
