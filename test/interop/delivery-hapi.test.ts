import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/cli/convert.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { deliverOne, type DeliverContext } from '../../src/delivery/deliver.ts';
import { SiteFhirClient, closeSiteClients, siteClient } from '../../src/delivery/fhir-client.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import { rosterOrThrow } from '../../src/engine/deps.ts';
import { handleMessage, type HandleDeps } from '../../src/engine/handle.ts';
import { replanResolved } from '../../src/engine/replan.ts';
import type { Db } from '../../src/store/db.ts';
import { listDeliveries } from '../../src/store/outbox.ts';
import { resolveReview } from '../../src/store/review.ts';
import { replaceRoster } from '../../src/store/roster-repo.ts';
import { openTestDb } from '../helpers/db.ts';
import { HAPI_HOOK_TIMEOUT_MS, hapiBaseUrl, hapiSkipReason } from '../helpers/hapi.ts';
import { fixtureEngine } from '../delivery/fixture-engine.ts';
import { deliveryRequest, withAction } from '../delivery/requests.ts';
import { testKeys } from '../helpers/seal.ts';

/**
 * Delivery to the real HAPI FHIR 8.8.0 JPA server (default settings: 60 s search cache, referential integrity), bare:
 * nothing seeded, every Organization, Patient, Encounter and Task is the engine's own write. All sites of the shipped
 * directory point at the one server (each its own owner Organization).
 */
const NOW = '2026-11-23T12:00:00-06:00';
const roster = rosterOrThrow('fixtures/roster/roster.csv');
const run = randomBytes(3).toString('hex');
const TIMEOUT = 600_000;

let base = '';
const get = async <T>(path: string): Promise<T> =>
  (await (
    await fetch(`${base}/${path}`, {
      headers: { accept: 'application/fhir+json', 'cache-control': 'no-cache' },
      signal: AbortSignal.timeout(120_000),
    })
  ).json()) as T;
const search = async <T extends fhir4.Resource>(path: string): Promise<T[]> =>
  ((await get<fhir4.Bundle>(path)).entry ?? []).map((e) => e.resource as T);
const taskOf = async (identifier: string) =>
  (await search<fhir4.Task>(`Task?identifier=${encodeURIComponent(`${TASK_IDENTIFIER_SYSTEM}|${identifier}`)}`))[0];

describe.skipIf(hapiSkipReason)('delivery to a bare HAPI FHIR 8.8.0 server', () => {
  let db: Db;
  let close: () => Promise<void>;
  let sites: SiteDirectory;
  let deps: HandleDeps;
  let seq = 0;
  const requests = () => sites.sites.reduce((n, s) => n + siteClient(s).requests, 0);
  const deliverAll = async () => {
    for (let round = 0; round < 3; round++) for (const s of sites.sites) await deliverSiteOnce({ db, sites }, s.siteId);
  };

  beforeAll(async () => {
    base = await hapiBaseUrl();
    ({ db, close } = await openTestDb('pglite'));
    sites = withBaseUrls(loadSiteDirectory('mappings/sites'), () => base);
    sites = { ...sites, sites: sites.sites.map((s) => ({ ...s, timeoutMs: 120_000 })) };
    const byId = new Map(sites.sites.map((s) => [s.siteId, s]));
    sites.get = (id) => byId.get(id);
    deps = fixtureEngine(db, () => sites, NOW);
  }, HAPI_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    closeSiteClients();
    await close?.();
  });

  it(
    'delivers every fixture story: the owner Organization created once per site, A11/A13 cancels land at once',
    async () => {
      // Each message delivered as soon as it is planned: a cancel follows its create well within HAPI's 60 s cache.
      for (const f of expandPaths(['fixtures/adt'])) {
        await handleMessage(deps, `adt.inbound/0/${seq++}`, readFileSync(f));
        await deliverAll();
      }
      const items = await listDeliveries(db);
      expect(items.length).toBeGreaterThan(20);
      expect(items.filter((d) => d.status !== 'delivered' && d.status !== 'unroutable')).toEqual([]);
      for (const s of sites.sites) {
        const orgs = await search<fhir4.Organization>(
          `Organization?identifier=${encodeURIComponent(`https://tc-alerts.mo-hh.org/fhir/sid/site|${s.siteId}`)}`,
        );
        const mine = items.filter((d) => d.siteId === s.siteId && d.status === 'delivered');
        if (!mine.length) continue;
        expect(orgs, s.siteId).toHaveLength(1);
        for (const d of mine) {
          const t = await taskOf(d.taskIdentifier);
          expect(t?.owner?.reference, d.taskIdentifier).toBe(`Organization/${orgs[0]!.id}`);
        }
      }
      const cancels = items.filter((d) => d.action === 'cancel' && d.status === 'delivered');
      expect(cancels.length).toBeGreaterThan(0);
      expect(cancels.map((c) => c.result)).not.toContain('not-at-site');
      for (const c of cancels)
        expect((await taskOf(c.taskIdentifier))?.status, c.taskIdentifier).toMatch(/^(entered-in-error|cancelled)$/);
    },
    TIMEOUT,
  );

  it(
    'an unchanged replay, three times: no duplicate Task, no new version, at most one request per Task',
    async () => {
      const ids = [...new Set((await listDeliveries(db, { status: 'delivered' })).map((d) => d.taskIdentifier))];
      const versions = async () =>
        Promise.all(
          ids.map(async (id) => {
            const found = await search<fhir4.Task>(
              `Task?identifier=${encodeURIComponent(`${TASK_IDENTIFIER_SYSTEM}|${id}`)}`,
            );
            expect(found, id).toHaveLength(1);
            return `${found[0]!.id}@${found[0]!.meta?.versionId}`;
          }),
        );
      const before = await versions();
      for (let i = 0; i < 3; i++) {
        await db.query(`UPDATE delivery_outbox SET status = 'pending', attempts = 0, next_attempt_at = now()`);
        const sent = requests();
        await deliverAll();
        const n = requests() - sent;
        console.info(`HAPI unchanged replay ${i + 1}: ${n} requests for ${ids.length} Tasks`);
        expect(n).toBeLessThanOrEqual(ids.length);
        expect(await versions()).toEqual(before);
      }
      expect((await listDeliveries(db)).filter((d) => d.status === 'dead')).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'a review decision reaches the site: its Tasks are at HAPI',
    async () => {
      process.env.TC_NOW = NOW;
      try {
        await replaceRoster(db, roster, { source: 'test' });
        const [first] = await handleMessage(
          { ...deps, enqueueDeliveries: undefined },
          `adt.inbound/0/review-${run}`,
          readFileSync('fixtures/adt/p007-other-events/02-a01.hl7'),
        );
        expect(first!.outcome).toBe('review');
        const resolved = await resolveReview(db, testKeys, `adt.inbound/0/review-${run}`, 'P006', 'test');
        const [again] = await replanResolved(db, resolved, { keys: testKeys });
        const mine = (await listDeliveries(db)).filter((d) => d.messageId === `adt.inbound/0/review-${run}#review`);
        expect(mine.length).toBe(again!.intents.length);
        await deliverAll();
        for (const d of mine) expect(await taskOf(d.taskIdentifier), d.taskIdentifier).toBeDefined();
      } finally {
        delete process.env.TC_NOW;
      }
    },
    TIMEOUT,
  );
});

describe.skipIf(hapiSkipReason)('what the requester owns on a Task at HAPI', () => {
  let ctx: DeliverContext;
  const visit = (v: string) => `${v}${run}`;
  beforeAll(async () => {
    base = await hapiBaseUrl();
    const s = {
      ...loadSiteDirectory('mappings/sites').get('pchh-springfield-north')!,
      baseUrl: base,
      timeoutMs: 120_000,
    };
    ctx = { client: new SiteFhirClient(s), site: s };
  }, HAPI_HOOK_TIMEOUT_MS);
  afterAll(() => ctx?.client.close());
  const counted = async <T>(fn: () => Promise<T>) => {
    const before = ctx.client.requests;
    const r = await fn();
    return { r, requests: ctx.client.requests - before };
  };

  it(
    'a label added, then removed ($meta-delete) when the diagnosis is withdrawn; the replay after costs one request',
    async () => {
      const mh = deliveryRequest({ persona: 'P001', visit: visit('L'), dx: ['F32.9'], sensitivity: ['mh'] });
      expect(await deliverOne(ctx, mh)).toMatchObject({ kind: 'delivered', detail: 'created' });
      expect((await taskOf(mh.intent.taskIdentifier))!.meta?.security?.map((c) => c.code).sort()).toEqual(['PSY', 'R']);
      const plain = deliveryRequest({ persona: 'P001', visit: visit('L'), dx: ['J44.1'], action: 'update' });
      expect(await deliverOne(ctx, plain)).toMatchObject({ kind: 'delivered', detail: 'updated' });
      expect((await taskOf(plain.intent.taskIdentifier))!.meta?.security ?? []).toEqual([]);
      const again = await counted(() => deliverOne(ctx, plain));
      expect(again.r).toMatchObject({ kind: 'delivered', detail: 'unchanged' });
      expect(again.requests).toBe(1);
    },
    TIMEOUT,
  );

  it(
    "an A08 update changes what the requester owns; the site worker's status and note survive; a stale If-Match is 409",
    async () => {
      const req = deliveryRequest({ persona: 'P002', visit: visit('W') });
      await deliverOne(ctx, req);
      const t = (await taskOf(req.intent.taskIdentifier))!;
      const put = (body: unknown, ifMatch?: string) =>
        fetch(`${base}/Task/${t.id}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/fhir+json', ...(ifMatch ? { 'if-match': ifMatch } : {}) },
          body: JSON.stringify(body),
        });
      expect((await put({ ...t, status: 'in-progress', note: [{ text: 'called, left message' }] })).status).toBe(200);
      expect((await put({ ...t, priority: 'stat' }, `W/"${t.meta!.versionId}"`)).status).toBe(409);
      const a08 = withAction(req, 'update', { priority: 'asap', description: 'R7 follow-up (A08)' });
      expect(await deliverOne(ctx, a08)).toMatchObject({ kind: 'delivered', detail: 'updated' });
      expect(await taskOf(req.intent.taskIdentifier)).toMatchObject({
        status: 'in-progress',
        priority: 'asap',
        description: 'R7 follow-up (A08)',
        note: [{ text: 'called, left message' }],
      });
    },
    TIMEOUT,
  );

  it(
    'the Encounter never moves backwards at HAPI: a replayed admission leaves the discharged visit as it was',
    async () => {
      const admit: DeliveryRequest = {
        ...deliveryRequest({ persona: 'P005', visit: visit('E'), discharged: false }),
        eventTime: '2026-11-01T15:45:00-06:00',
      };
      const discharge: DeliveryRequest = {
        ...deliveryRequest({ persona: 'P005', visit: visit('E'), rule: 'R8' }),
        eventTime: '2026-11-06T09:30:00-06:00',
      };
      await deliverOne(ctx, admit);
      await deliverOne(ctx, discharge);
      const id = admit.encounter!.identifier![0]!;
      const enc = async () =>
        (await search<fhir4.Encounter>(`Encounter?identifier=${encodeURIComponent(`${id.system}|${id.value}`)}`))[0]!;
      const finished = await enc();
      expect(finished.status).toBe('finished');
      expect(await deliverOne(ctx, admit)).toMatchObject({ kind: 'delivered' });
      expect(await enc()).toMatchObject({ status: 'finished', meta: { versionId: finished.meta!.versionId } });
    },
    TIMEOUT,
  );
});
