import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whyNoTask } from '../../src/console/pages.ts';
import { journalDetail, searchJournal } from '../../src/journal/search.ts';
import type { Db } from '../../src/store/db.ts';
import { openTestDb } from '../helpers/db.ts';
import { consume, feed, journalContext, keys, personaFolders } from './support.ts';

/** "Why did participant Y get no Task?" answered from the journal alone, for each way a message plans none. */
describe('why a message planned no Task', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDb('pglite'));
    const ctx = journalContext(db);
    const folders = personaFolders();
    await feed(ctx, folders);
    await consume(ctx, 'adt.inbound/1/0', Buffer.from('MSH|^~|X'));
  }, 120_000);
  afterAll(async () => close());

  const why = async (messageId: string) => whyNoTask((await journalDetail(db, messageId))!).text.replace(/\s+/g, ' ');

  it('finds the messages where a participant was only a candidate, and says they wait for review', async () => {
    const found = (await searchJournal(db, keys, { participant: 'P006', limit: 500 })).items;
    const review = found.filter((m) => m.status === 'review');
    expect(review.length).toBeGreaterThan(0);
    expect(review.every((m) => m.participantId === undefined)).toBe(true);
    expect(await why(review[0]!.messageId)).toMatch(
      /No Task yet: the match is uncertain and waits in the .*review queue/,
    );
  });

  it('says a matched participant was not enrolled on the event date', async () => {
    const p9 = (await searchJournal(db, keys, { participant: 'P009', limit: 500 })).items;
    const none = p9.filter((m) => m.detail === 'not-enrolled-on-date');
    expect(none.length).toBeGreaterThan(0);
    expect(await why(none[0]!.messageId)).toContain('P009 matched but was not enrolled on the event date');
  });

  it('says when the event is ignored, the message dead-lettered, or no rule applies', async () => {
    const ignored = (await searchJournal(db, keys, { status: 'ignored' })).items[0]!;
    expect(await why(ignored.messageId)).toMatch(/^No Task: the event is ignored/);
    expect(await why('adt.inbound/1/0')).toContain('dead-lettered before matching');
    const p3 = (await searchJournal(db, keys, { participant: 'P003', limit: 500 })).items;
    const quiet = p3.find((m) => m.intents === 0 && m.status === 'converted')!;
    expect(await why(quiet.messageId)).toMatch(/P003 matched and is enrolled, but no transitional-care rule/);
  });
});
