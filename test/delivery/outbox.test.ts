import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import {
  claimDue,
  enqueue,
  holdSite,
  listDeliveries,
  markDead,
  markDelivered,
  markDeliveredMany,
  markRetry,
  outboxDepth,
  pauseSite,
  purgeDelivered,
  retryDeliveries,
  siteStates,
  sweepUnroutable,
} from '../../src/store/outbox.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { deliveryRequest, messageId } from './requests.ts';

const kinds = await dbKinds();
const T0 = Date.parse('2026-11-23T18:00:00Z');
const routing = {
  get: (id: string) =>
    id === 'pchh-kc-east' || id === 'pchh-springfield-north'
      ? { enabled: true, acceptsTest: false }
      : id === 'pchh-stl-south'
        ? { enabled: false, acceptsTest: false }
        : undefined,
};

describe.each(kinds)('delivery outbox on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openTestDb(kind));
  });
  afterAll(async () => close());
  beforeEach(async () => {
    await db.query('DELETE FROM delivery_outbox');
    await db.query('DELETE FROM delivery_site_state');
  });

  it("is written in the caller's transaction: a rollback leaves nothing, a commit keeps every intent", async () => {
    const reqs = [deliveryRequest({ persona: 'P002' }), deliveryRequest({ persona: 'P002', visit: 'V2' })];
    await expect(
      db.tx(async (q) => {
        await enqueue(q, reqs, 'm-rollback', { route: routing });
        throw new Error('visit state write failed');
      }),
    ).rejects.toThrow('visit state write failed');
    expect(await listDeliveries(db)).toEqual([]);
    await db.tx((q) => enqueue(q, reqs, 'm-commit', { route: routing }));
    const items = await listDeliveries(db);
    expect(items.map((i) => [i.siteId, i.action, i.status, i.messageId])).toEqual([
      ['pchh-kc-east', 'create', 'pending', 'm-commit'],
      ['pchh-kc-east', 'create', 'pending', 'm-commit'],
    ]);
    expect(items[0]!.request).toEqual(reqs[0]);
  });

  it('counts unroutable intents (unknown site, disabled site, test message) and never drops them', async () => {
    const r = await db.tx((q) =>
      enqueue(
        q,
        [
          deliveryRequest({ persona: 'P001', siteId: 'pchh-gone' }),
          deliveryRequest({ persona: 'P006' }),
          deliveryRequest({ persona: 'P002', isTest: true }),
        ],
        messageId(),
        { route: routing },
      ),
    );
    expect(r).toEqual({ pending: 0, unroutable: 3, held: 0, duplicate: 0 });
    expect((await outboxDepth(db)).map((d) => [d.siteId, d.status, d.count])).toEqual([
      ['pchh-gone', 'unroutable', 1],
      ['pchh-kc-east', 'unroutable', 1],
      ['pchh-stl-south', 'unroutable', 1],
    ]);
    // Without a routing check at enqueue, the workers' sweep finds them.
    await db.tx((q) =>
      enqueue(q, [deliveryRequest({ persona: 'P001', siteId: 'pchh-gone', visit: 'V9' })], messageId()),
    );
    const moved = await sweepUnroutable(db, (req) => (routing.get(req.intent.siteId) ? undefined : 'unknown site'));
    expect(moved.map((m) => [m.siteId, m.reason])).toEqual([['pchh-gone', 'unknown site']]);
  });

  it('marks the deliveries of a Bundle in one statement, each with its result and the items it carried', async () => {
    const v1a = deliveryRequest({ persona: 'P002', visit: 'V1', rule: 'R1' });
    const v2 = deliveryRequest({ persona: 'P002', visit: 'V2', rule: 'R1' });
    const v3 = deliveryRequest({ persona: 'P002', visit: 'V3', rule: 'R1' });
    for (const r of [v1a, v1a, v2, v3]) await db.tx((q) => enqueue(q, [r], messageId(), { route: routing }));
    const [older, carrier, second, untouched] = await claimDue(db, 'pchh-kc-east', { now: T0 });
    await markDeliveredMany(
      db,
      [
        { id: carrier!.id, result: 'created', coalesced: [older!.id] },
        { id: second!.id, result: 'unchanged' },
      ],
      { now: T0 + 5_000 },
    );
    const rows = await db.query<{
      id: string;
      status: string;
      result: string | null;
      attempts: number;
      into: string | null;
      at: Date | string | null;
      claimed: string | null;
    }>(
      'SELECT id::text, status, result, attempts, coalesced_into::text AS into, delivered_at AS at, claimed_by AS claimed FROM delivery_outbox o ORDER BY o.id',
    );
    const at = new Date(T0 + 5_000).toISOString();
    expect(
      rows.rows.map((r) => [r.status, r.result, r.attempts, r.into, r.at && new Date(r.at).toISOString(), r.claimed]),
    ).toEqual([
      ['delivered', 'coalesced', 0, String(carrier!.id), at, null],
      ['delivered', 'created', 1, null, at, null],
      ['delivered', 'unchanged', 1, null, at, null],
      ['pending', null, 0, null, null, 'worker'],
    ]);
    expect(untouched!.taskIdentifier).toBe(v3.intent.taskIdentifier);
  });

  it('claims in order per (site, visit): a later write of a visit waits while an earlier one waits for its retry', async () => {
    const a = deliveryRequest({ persona: 'P002', visit: 'V1', rule: 'R1' });
    const b = deliveryRequest({ persona: 'P002', visit: 'V2', rule: 'R7' });
    const c = deliveryRequest({ persona: 'P002', visit: 'V1', rule: 'R7' });
    for (const r of [a, b, c]) await db.tx((q) => enqueue(q, [r], messageId(), { route: routing }));
    const first = await claimDue(db, 'pchh-kc-east', { now: T0 });
    expect(first.map((i) => i.taskIdentifier)).toEqual([a, b, c].map((r) => r.intent.taskIdentifier));
    // Claimed items are not claimed again while the lease runs.
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 + 1_000 })).toEqual([]);
    await markRetry(db, first[0]!.id, 60_000, { reason: 'HTTP 500', status: 500 }, { now: T0 });
    await markRetry(db, first[1]!.id, 0, { reason: 'HTTP 500', status: 500 }, { now: T0 });
    await markRetry(db, first[2]!.id, 0, { reason: 'HTTP 500', status: 500 }, { now: T0 });
    const second = await claimDue(db, 'pchh-kc-east', { now: T0 + 1_000 });
    expect(second.map((i) => i.taskIdentifier)).toEqual([b.intent.taskIdentifier]); // c waits behind a
    await markDelivered(db, second[0]!.id, 'created', { now: T0 + 1_000 });
    const third = await claimDue(db, 'pchh-kc-east', { now: T0 + 61_000 });
    expect(third.map((i) => i.taskIdentifier)).toEqual([a, c].map((r) => r.intent.taskIdentifier));
    // A dead item does not block its visit for ever.
    await markDead(db, third[0]!.id, { status: 422, reason: 'HTTP 422' }, { now: T0 });
    await markRetry(db, third[1]!.id, 0, { reason: 'x' }, { now: T0 + 61_000 });
    expect((await claimDue(db, 'pchh-kc-east', { now: T0 + 62_000 })).map((i) => i.taskIdentifier)).toEqual([
      c.intent.taskIdentifier,
    ]);
  });

  it('gives back the items of a worker that stopped answering once its lease has run out', async () => {
    await db.tx((q) => enqueue(q, [deliveryRequest({ persona: 'P002' })], messageId(), { route: routing }));
    expect(await claimDue(db, 'pchh-kc-east', { now: T0, leaseMs: 30_000, workerId: 'a' })).toHaveLength(1);
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 + 29_000, workerId: 'b' })).toHaveLength(0);
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 + 31_000, workerId: 'b' })).toHaveLength(1);
  });

  it('a paused site (Retry-After) and a held site are not claimed; a hold holds new items too', async () => {
    await db.tx((q) => enqueue(q, [deliveryRequest({ persona: 'P002' })], messageId(), { route: routing }));
    await pauseSite(db, 'pchh-kc-east', T0 + 10_000);
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 })).toEqual([]);
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 + 10_001 })).toHaveLength(1);
    await db.query('UPDATE delivery_outbox SET claimed_until = NULL');
    expect(await holdSite(db, 'pchh-kc-east', { status: 403, reason: 'HTTP 403' }, { now: T0 })).toBe(1);
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 + 99_000_000 })).toEqual([]);
    const r = await db.tx((q) =>
      enqueue(q, [deliveryRequest({ persona: 'P002', visit: 'V5' })], messageId(), { route: routing }),
    );
    expect(r.held).toBe(1);
    expect((await siteStates(db))[0]).toMatchObject({ siteId: 'pchh-kc-east', held: true, holdStatus: 403 });
    expect(await retryDeliveries(db, { siteId: 'pchh-kc-east' })).toBe(2);
    expect((await siteStates(db))[0]!.held).toBe(false);
    expect(await claimDue(db, 'pchh-kc-east', { now: T0 })).toHaveLength(2);
  });

  it('retries one item, every dead item, or a site; attempts start again', async () => {
    const reqs = [1, 2, 3].map((i) => deliveryRequest({ persona: 'P001', visit: `V${i}` }));
    await db.tx((q) => enqueue(q, reqs, messageId(), { route: routing }));
    const items = await claimDue(db, 'pchh-springfield-north', { now: T0 });
    for (const it of items) await markDead(db, it.id, { status: 400, reason: 'HTTP 400' }, { now: T0 });
    expect(await retryDeliveries(db, { id: items[0]!.id })).toBe(1);
    expect(await retryDeliveries(db, { id: items[0]!.id })).toBe(0); // pending already
    expect((await listDeliveries(db, { status: 'pending' }))[0]).toMatchObject({ attempts: 0, id: items[0]!.id });
    expect(await retryDeliveries(db, { allDead: true })).toBe(2);
    expect(await listDeliveries(db, { status: 'dead' })).toEqual([]);
  });

  it('purges delivered items older than the retention (their payload is PHI the outbox no longer needs)', async () => {
    await db.tx((q) => enqueue(q, [deliveryRequest({ persona: 'P002' })], messageId(), { route: routing }));
    const [it0] = await claimDue(db, 'pchh-kc-east', { now: T0 });
    await markDelivered(db, it0!.id, 'created', { now: T0 });
    expect(await purgeDelivered(db, 86_400_000, T0 + 3_600_000)).toBe(0);
    expect(await purgeDelivered(db, 86_400_000, T0 + 2 * 86_400_000)).toBe(1);
  });

  if (kind === 'pg')
    it('two workers claiming the same site at once never get the same item (advisory lock, SKIP LOCKED)', async () => {
      const reqs = Array.from({ length: 40 }, (_, i) =>
        deliveryRequest({ persona: 'P001', visit: `V${i % 10}`, rule: `R${i}` }),
      );
      await db.tx((q) => enqueue(q, reqs, messageId(), { route: routing }));
      const claims = await Promise.all(
        ['w1', 'w2', 'w3', 'w4'].map((w) =>
          claimDue(db, 'pchh-springfield-north', { now: T0, workerId: w, limit: 15 }),
        ),
      );
      const ids = claims.flat().map((i) => i.id);
      expect(new Set(ids).size).toBe(ids.length);
      // Per visit, what one worker claims is never ahead of what another still holds.
      for (const c of claims)
        for (const item of c) {
          const earlierElsewhere = claims
            .filter((o) => o !== c)
            .flat()
            .filter((o) => o.visitKey === item.visitKey && o.id < item.id);
          expect(earlierElsewhere).toEqual([]);
        }
    });
});
