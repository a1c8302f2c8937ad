import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiteFhirClient } from '../../src/delivery/fhir-client.ts';
import { siteDirectoryOf } from '../../src/delivery/sites.ts';
import { pollSite } from '../../src/readback/poll.ts';
import type { Db } from '../../src/store/db.ts';
import { freshPgliteDb } from '../helpers/db.ts';
import { scaled } from '../helpers/time.ts';
import { HAPI_HOOK_TIMEOUT_MS, hapiBaseUrl, hapiSkipReason } from '../helpers/hapi.ts';
import { eventually, lifecycle, plantTask, record, siteSets, startReadback } from '../readback/readback-kit.ts';

/**
 * Task status read back from the real HAPI FHIR 8.8.0 server of the run (default settings, rest-hook Subscriptions
 * enabled): by polling with its 60 s search cache on, and by Subscription.
 */
const run = randomBytes(4).toString('hex');
describe.skipIf(hapiSkipReason)('read-back against HAPI FHIR 8.8.0', () => {
  let base = '';
  let db: Db;
  let client: SiteFhirClient;
  beforeAll(async () => {
    base = await hapiBaseUrl();
    db = await freshPgliteDb();
    client = new SiteFhirClient({ siteId: 'hapi', baseUrl: base, auth: { type: 'none' }, timeoutMs: 120_000 });
  }, HAPI_HOOK_TIMEOUT_MS);
  afterAll(async () => db?.close());

  it('by polling: each status once, with the documented completion time, the cursor moving on', async () => {
    const site = `hapi-poll-${run}`;
    const t = await plantTask(db, client, site, `hp-${run}`);
    await pollSite(db, client, site, 'poll');
    await siteSets(client, t, { status: 'accepted', businessStatus: { coding: [{ code: 'attempted-1' }] } });
    const accepted = await pollSite(db, client, site, 'poll');
    expect(accepted.changes).toBe(1);
    const end = new Date(Date.now() - 1).toISOString();
    await siteSets(client, t, { status: 'completed', executionPeriod: { end } });
    const done = await pollSite(db, client, site, 'poll');
    expect(done.changes).toBe(1);
    expect(Date.parse(done.cursorAt!)).toBeGreaterThan(Date.parse(accepted.cursorAt!));
    expect(await pollSite(db, client, site, 'poll')).toMatchObject({ changes: 0 });
    const rows = await lifecycle(db, `hp-${run}`);
    expect(rows.map((r) => [r.status, r.business_status])).toEqual([
      ['accepted', 'attempted-1'],
      ['completed', 'attempted-1'],
    ]);
    expect(rows[1]!.at).toBe(end);
    expect((await record(db, `hp-${run}`)).status).toBe('completed');
  });

  // HAPI delivers a full-resource notification with its FHIR client's update and parses the answer: a body that is
  // not FHIR failed every delivery, and HAPI retried the first versions over and over, never sending the later ones
  // (found on a fresh HAPI in CI; the answers are now OperationOutcomes).
  it(
    'by Subscription: HAPI activates it and PUTs each change to the endpoint',
    async () => {
      const siteId = `hapi-sub-${run}`;
      const sites = siteDirectoryOf([
        { siteId, name: 'HAPI site', program: 'PCHH', baseUrl: base, timeoutMs: 120_000 },
      ]);
      const rb = await startReadback({
        db,
        sites,
        activationMs: scaled(120_000),
        pollMs: 3_600_000,
        reconcileMs: 3_600_000,
      });
      try {
        const [state] = await rb.service.start();
        expect(state).toMatchObject({ siteId, mode: 'subscription' });
        const t = await plantTask(db, client, siteId, `hs-${run}`);
        await siteSets(client, t, { status: 'accepted' });
        await eventually(async () => (await record(db, `hs-${run}`)).status === 'accepted');
        await siteSets(client, t, { status: 'in-progress' });
        await siteSets(client, t, { status: 'completed' });
        await eventually(async () => (await record(db, `hs-${run}`)).status === 'completed');
        // Every version was notified: each status is in the lifecycle, however the deliveries were ordered. HAPI
        // delivers from more than one thread, so 'in-progress' may come after 'completed' (seen once in CI).
        const statuses = async () => (await lifecycle(db, `hs-${run}`)).map((r) => r.status).sort();
        await eventually(async () => (await statuses()).length >= 3).catch(() => undefined);
        expect(await statuses()).toEqual(['accepted', 'completed', 'in-progress']);
        expect(rb.service.states()[0]!.notifications).toBeGreaterThanOrEqual(3);
      } finally {
        await rb.close();
        await client.send('DELETE', `Subscription/tc-alerts-readback-${siteId}`);
      }
      // HAPI activates a Subscription and delivers each change from its own scheduled jobs: seconds apart when quiet,
      // longer on a loaded machine, so this test gets the activation limit plus the three changes' waits.
    },
    scaled(240_000),
  );
});
