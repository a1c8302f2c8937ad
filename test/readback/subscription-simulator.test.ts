import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiteFhirClient } from '../../src/delivery/fhir-client.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { siteDirectoryOf } from '../../src/delivery/sites.ts';
import type { Db } from '../../src/store/db.ts';
import { freshPgliteDb } from '../helpers/db.ts';
import { eventually, lifecycle, plantTask, record, siteSets, startReadback } from './readback-kit.ts';

describe('read-back by rest-hook Subscription, against the site simulator', () => {
  let withSubs: SiteSimulator;
  let without: SiteSimulator;
  let db: Db;
  beforeAll(async () => {
    withSubs = await startSiteSimulator({ subscriptions: true, searchCacheMs: 60_000 });
    without = await startSiteSimulator({ searchCacheMs: 60_000 });
    db = await freshPgliteDb();
  });
  afterAll(async () => {
    await withSubs?.close();
    await without?.close();
    await db?.close();
  });
  const directory = () =>
    siteDirectoryOf([
      { siteId: 'sub-full', name: 'Full payload site', program: 'PCHH', baseUrl: withSubs.url },
      {
        siteId: 'sub-idonly',
        name: 'Id-only site',
        program: 'PCHH',
        baseUrl: withSubs.url,
        readback: { payload: 'id-only', pollSeconds: 3600, reconcileSeconds: 3600 },
      },
      { siteId: 'no-subs', name: 'Polled site', program: 'CMHC', baseUrl: without.url },
    ]);

  /** A client of the simulator with Subscriptions, as a site's care-manager application uses it. */
  const simulatorClient = () =>
    new SiteFhirClient({ siteId: 'x', baseUrl: withSubs.url, auth: { type: 'none' }, timeoutMs: 5_000 });

  it('subscribes where the server activates it, polls where it does not, and stores what is notified', async () => {
    const rb = await startReadback({ db, sites: directory(), activationMs: 2_000, pollMs: 3_600_000 });
    try {
      const states = await rb.service.start();
      expect(Object.fromEntries(states.map((s) => [s.siteId, s.mode]))).toEqual({
        'sub-full': 'subscription',
        'sub-idonly': 'subscription',
        'no-subs': 'poll',
      });
      expect(states.find((s) => s.siteId === 'no-subs')!.reason).toBe('subscription not active (requested)');
      const client = simulatorClient();
      const full = await plantTask(db, client, 'sub-full', 'sub-1');
      const idOnly = await plantTask(db, client, 'sub-idonly', 'sub-2');
      await siteSets(client, full, { status: 'accepted' });
      await siteSets(client, idOnly, { status: 'accepted' });
      // No poll runs (an hour apart): only the notifications can bring these.
      await eventually(async () => (await record(db, 'sub-1')).status === 'accepted');
      await eventually(async () => (await record(db, 'sub-2')).status === 'accepted');
      await siteSets(client, full, { status: 'completed' });
      await eventually(async () => (await record(db, 'sub-1')).status === 'completed');
      expect((await lifecycle(db, 'sub-1')).map((r) => r.status)).toEqual(['accepted', 'completed']);
      const sent = withSubs.subscriptions.sent;
      expect(sent.some((s) => s.method === 'PUT' && /\/readback\/sub-full\/Task\//.test(s.url))).toBe(true);
      expect(sent.some((s) => s.method === 'POST' && /\/readback\/sub-idonly$/.test(s.url))).toBe(true);
      // Each answered as HAPI's rest-hook wants it (2xx, a FHIR body): a delivery HAPI counts failed is retried
      // before any later version is sent.
      expect(sent.filter((s) => !s.delivered)).toEqual([]);
    } finally {
      await rb.close();
    }
  });

  it('refuses a notification without the site’s token, and one for another site’s Task changes nothing', async () => {
    const rb = await startReadback({ db, sites: directory(), activationMs: 2_000, pollMs: 3_600_000 });
    try {
      await rb.service.start();
      const client = simulatorClient();
      const t = await plantTask(db, client, 'no-subs', 'sub-3');
      const body = JSON.stringify({
        ...t,
        status: 'completed',
        meta: { ...t.meta, versionId: '9', lastUpdated: new Date().toISOString() },
      });
      const put = (site: string, auth?: string) =>
        fetch(`${rb.url}/readback/${site}/Task/${t.id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/fhir+json', ...(auth ? { authorization: auth } : {}) },
          body,
        });
      expect((await put('sub-full')).status).toBe(401);
      expect((await put('sub-full', 'Bearer forged')).status).toBe(401);
      // The Subscription the simulator holds carries sub-full's token: a Task of no-subs sent with it is ignored.
      const sub = (await client.read<fhir4.Subscription>('Subscription', 'tc-alerts-readback-sub-full')).data;
      const token = sub.channel.header![0]!.replace(/^Authorization: /, '');
      expect((await put('sub-full', token)).status).toBe(200);
      expect((await record(db, 'sub-3')).status).toBe('requested');
    } finally {
      await rb.close();
    }
  });
});
