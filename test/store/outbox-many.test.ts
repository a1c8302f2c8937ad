import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { enqueue, enqueueMany, holdSite, listDeliveries } from '../../src/store/outbox.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { deliveryRequest } from '../delivery/requests.ts';

const kinds = await dbKinds();
const routing = {
  get: (id: string) =>
    id === 'pchh-kc-east' || id === 'pchh-springfield-north' ? { enabled: true, acceptsTest: false } : undefined,
};

// Group commit writes the outbox rows of all messages of a transaction at once: they must be the rows, in the id
// order, that enqueue gives message after message (the workers deliver per site and visit in id order).
describe.each(kinds)('enqueueMany on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
  });
  afterAll(async () => close());

  it('stores the same rows in the same order as enqueue one message at a time (held, unroutable, replays)', async () => {
    const batch = [
      { messageId: 'm-1', requests: [deliveryRequest({ persona: 'P002' }), deliveryRequest({ persona: 'P001' })] },
      { messageId: 'm-2', requests: [deliveryRequest({ persona: 'P001', siteId: 'pchh-gone' })] },
      { messageId: 'm-3', requests: [] },
      { messageId: 'm-4', requests: [deliveryRequest({ persona: 'P002', visit: 'V2' })] },
    ];
    const view = async () =>
      (await listDeliveries(db)).map((i) => [i.messageId, i.siteId, i.taskIdentifier, i.action, i.status]);
    const reset = async () => {
      await db.query('DELETE FROM delivery_outbox');
      await db.query('DELETE FROM delivery_site_state');
      await holdSite(db, 'pchh-springfield-north', { status: 401, reason: 'unauthorized' });
    };
    await reset();
    const one = { pending: 0, unroutable: 0, held: 0, duplicate: 0 };
    for (const b of batch) {
      const r = await db.tx((q) => enqueue(q, b.requests, b.messageId, { route: routing }));
      for (const k of Object.keys(one) as (keyof typeof one)[]) one[k] += r[k];
    }
    const expected = await view();
    await reset();
    const many = await db.tx((q) => enqueueMany(q, batch, { route: routing }));
    expect(await view()).toEqual(expected);
    expect(many).toEqual(one);
    expect(new Set(expected.map((e) => e[4]))).toEqual(new Set(['pending', 'held', 'unroutable']));
    // A replay of the whole batch adds nothing.
    expect(await db.tx((q) => enqueueMany(q, batch, { route: routing }))).toEqual({
      pending: 0,
      unroutable: 0,
      held: 0,
      duplicate: 4,
    });
    expect(await view()).toEqual(expected);
  });
});
