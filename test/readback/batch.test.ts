import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { siteDirectoryOf } from '../../src/delivery/sites.ts';
import { notificationToken } from '../../src/readback/subscription.ts';
import type { Db } from '../../src/store/db.ts';
import { freshPgliteDb } from '../helpers/db.ts';
import { eventually, lifecycle, startReadback } from './readback-kit.ts';

const SITE = 'batch-site';
const SECRET = 'batch-test-secret';

/**
 * Rest-hook notifications are gathered per site and stored one transaction per batch (a batch full at maxBatch is
 * stored at once; here the time window is an hour, so only the size can flush); each notification is answered only
 * once its batch committed, 503 when it did not.
 */
describe('read-back notifications stored in batches', () => {
  let db: Db;
  let txs = 0;
  let failNext = false;
  let slow: Promise<void> | undefined;
  beforeAll(async () => {
    const real = await freshPgliteDb();
    db = Object.assign(Object.create(real) as Db, {
      tx: <T>(fn: Parameters<Db['tx']>[0]): Promise<T> => {
        txs++;
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('connection lost'));
        }
        const wait = slow;
        return (wait ? wait.then(() => real.tx(fn)) : real.tx(fn)) as Promise<T>;
      },
    });
    await real.query(
      `INSERT INTO task_record (task_identifier, participant_id, site_id, program, rule_id, code, measure, visit_hash,
         anchor_at, due_at, priority, status, status_at, created_at)
       SELECT 'b-' || i, 'P1', $1, 'PCHH', 'R7', 'tc-interactive-contact', 'TCM-CONTACT', 'vh', '2026-11-02T19:30:00Z',
         '2026-11-05T05:59:59Z', 'urgent', 'requested', '2026-11-02T20:00:00Z', '2026-11-02T20:00:00Z'
       FROM generate_series(0, 59) AS i`,
      [SITE],
    );
  });
  afterAll(async () => db?.close());

  const sites = siteDirectoryOf([
    { siteId: SITE, name: 'Batch site', program: 'PCHH', baseUrl: 'http://127.0.0.1:9/fhir' },
  ]);
  const notify = (url: string, i: number, status: fhir4.Task['status']) =>
    fetch(`${url}/readback/${SITE}/Task/t${i}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${notificationToken(SECRET, SITE)}`,
        'content-type': 'application/fhir+json',
      },
      body: JSON.stringify({
        resourceType: 'Task',
        id: `t${i}`,
        identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: `b-${i}` }],
        status,
        intent: 'order',
        meta: { versionId: '2', lastUpdated: '2026-11-03T15:00:00Z' },
      }),
    });

  it('30 concurrent notifications: 3 transactions, every one answered after its commit', async () => {
    const rb = await startReadback({ db, sites, secret: SECRET, batchMs: 3_600_000, maxBatch: 10 });
    try {
      txs = 0;
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => notify(rb.url, i, 'accepted')));
      expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
      expect(txs).toBe(3);
      for (const i of [0, 17, 29]) expect((await lifecycle(db, `b-${i}`)).map((r) => r.status)).toEqual(['accepted']);
    } finally {
      await rb.close();
    }
  });

  it('a batch that is not stored is answered 503 (the server retries); one left at stop is stored', async () => {
    const rb = await startReadback({ db, sites, secret: SECRET, batchMs: 3_600_000, maxBatch: 5 });
    try {
      failNext = true;
      const answers = await Promise.all([30, 31, 32, 33, 34].map((i) => notify(rb.url, i, 'accepted')));
      expect(answers.map((r) => r.status)).toEqual(Array(5).fill(503));
      expect(await lifecycle(db, 'b-30')).toEqual([]);
      // Fewer than maxBatch and an hour's window: only stop() stores it, and answers it.
      const pending = notify(rb.url, 35, 'accepted');
      await eventually(async () => rb.service.states()[0]!.notifications === 6);
      await rb.service.stop();
      expect((await pending).status).toBe(200);
      expect((await lifecycle(db, 'b-35')).map((r) => r.status)).toEqual(['accepted']);
    } finally {
      await rb.close();
    }
  });

  it('group commit: one at a time is stored at once; those arriving during a store share the next transaction', async () => {
    const rb = await startReadback({ db, sites, secret: SECRET });
    try {
      txs = 0;
      // One after another, as HAPI delivers: each answered after its own commit, no window waited for.
      for (const i of [40, 41, 42, 43, 44]) expect((await notify(rb.url, i, 'accepted')).status).toBe(200);
      expect(txs).toBe(5);
      // A store held up: the 10 notifications that arrive meanwhile are one batch, stored when it commits.
      txs = 0;
      let release!: () => void;
      slow = new Promise((r) => (release = r));
      const first = notify(rb.url, 45, 'accepted');
      await eventually(async () => txs === 1);
      slow = undefined;
      // Two waves 200 ms apart: a batch that closed on a time window would be two transactions here.
      const rest = Array.from({ length: 5 }, (_, k) => notify(rb.url, 46 + k, 'accepted'));
      await eventually(async () => rb.service.states()[0]!.notifications === 11);
      await new Promise((r) => setTimeout(r, 200));
      rest.push(...Array.from({ length: 5 }, (_, k) => notify(rb.url, 51 + k, 'accepted')));
      await eventually(async () => rb.service.states()[0]!.notifications === 16);
      release();
      const answers = await Promise.all([first, ...rest]);
      expect(answers.map((r) => r.status)).toEqual(Array(11).fill(200));
      expect(txs).toBe(2);
      for (const i of [45, 50, 55]) expect((await lifecycle(db, `b-${i}`)).map((r) => r.status)).toEqual(['accepted']);
    } finally {
      await rb.close();
    }
  });
});
