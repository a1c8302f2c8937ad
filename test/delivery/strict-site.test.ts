import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/cli/convert.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { deliverOne, type DeliverContext } from '../../src/delivery/deliver.ts';
import { SiteFhirClient, closeSiteClients } from '../../src/delivery/fhir-client.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import { handleMessage, type HandleDeps } from '../../src/engine/handle.ts';
import type { Db } from '../../src/store/db.ts';
import { listDeliveries } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { fixtureEngine } from './fixture-engine.ts';
import { deliveryRequest, withAction } from './requests.ts';

/**
 * Delivery to bare simulators as strict as HAPI's defaults: no Organization seeded (referential integrity on), the
 * 60 s search cache on (filled by conditional-create lookups too), labels merged on PUT, 409 on a stale If-Match.
 */
describe('delivery to bare, strict sites (no seeding, search cache, label merging)', () => {
  let db: Db;
  let close: () => Promise<void>;
  const sims = new Map<string, SiteSimulator>();
  let sites: SiteDirectory;
  let deps: HandleDeps;
  let seq = 0;

  const get = async <T>(sim: SiteSimulator, path: string): Promise<T> =>
    (await (await fetch(`${sim.url}/${path}`, { headers: { 'cache-control': 'no-cache' } })).json()) as T;
  const all = async <T extends fhir4.Resource>(sim: SiteSimulator, type: string): Promise<T[]> =>
    ((await get<fhir4.Bundle>(sim, `${type}?_count=1000`)).entry ?? []).map((e) => e.resource as T);
  const deliverAll = async () => {
    for (let round = 0; round < 3; round++) for (const s of sites.sites) await deliverSiteOnce({ db, sites }, s.siteId);
  };
  const feed = async (file: string) => handleMessage(deps, `adt.inbound/0/${seq++}`, readFileSync(file));

  beforeAll(async () => {
    ({ db, close } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    for (const s of shipped.sites) sims.set(s.siteId, await startSiteSimulator({ searchCacheMs: 60_000, metaDelete: true }));
    sites = withBaseUrls(shipped, (s) => sims.get(s.siteId)?.url);
    deps = fixtureEngine(db, () => sites);
  });
  afterAll(async () => {
    closeSiteClients();
    await Promise.all([...sims.values()].map((s) => s.close()));
    await close();
  });

  it('a bare site refuses a Task whose owner does not resolve (as HAPI: HAPI-1094)', async () => {
    const sim = [...sims.values()][0]!;
    const r = await fetch(`${sim.url}/Task`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        owner: { reference: 'Organization/org-nowhere' },
      }),
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain('HAPI-1094');
  });

  it('every fixture story is delivered to bare sites: the engine creates each owner Organization, once', async () => {
    // Delivered after each message, as the engine does: a cancel follows its create within the search cache's 60 s.
    for (const f of expandPaths(['fixtures/adt'])) {
      await feed(f);
      await deliverAll();
    }
    const items = await listDeliveries(db);
    expect(items.length).toBeGreaterThan(20);
    expect(items.filter((d) => d.status === 'dead' || d.status === 'pending')).toEqual([]);
    for (const s of sites.sites) {
      const sim = sims.get(s.siteId)!;
      const tasks = await all<fhir4.Task>(sim, 'Task');
      const orgs = await all<fhir4.Organization>(sim, 'Organization');
      if (!tasks.length) continue;
      expect(orgs, s.siteId).toHaveLength(1);
      expect(orgs[0]!.identifier?.[0]?.value).toBe(s.siteId);
      expect(new Set(tasks.map((t) => t.owner?.reference))).toEqual(new Set([`Organization/${orgs[0]!.id}`]));
    }
  });

  it('A11 and A13 cancel at the site right after the create, though a cached search said the Task was not there', async () => {
    const tasks: fhir4.Task[] = [];
    for (const s of sites.sites) tasks.push(...(await all<fhir4.Task>(sims.get(s.siteId)!, 'Task')));
    const cancels = (await listDeliveries(db)).filter((d) => d.action === 'cancel');
    expect(cancels.length).toBeGreaterThan(0);
    expect(cancels.map((c) => c.result)).not.toContain('not-at-site');
    for (const c of cancels) {
      const t = tasks.find((x) => x.identifier?.some((i) => i.value === c.taskIdentifier));
      expect(t?.status, c.taskIdentifier).toMatch(/^(entered-in-error|cancelled)$/);
    }
  });

  it('an unchanged replay, three times: no duplicate, no write, at most one request per Task', async () => {
    const before = new Map<string, string[]>();
    for (const s of sites.sites)
      before.set(
        s.siteId,
        (await all<fhir4.Resource>(sims.get(s.siteId)!, 'Task')).map((t) => `${t.id}@${t.meta?.versionId}`).sort(),
      );
    const tasks = [...before.values()].reduce((n, l) => n + l.length, 0);
    for (let i = 0; i < 3; i++) {
      for (const sim of sims.values()) sim.log.length = 0;
      await db.query(`UPDATE delivery_outbox SET status = 'pending', attempts = 0, next_attempt_at = now()`);
      await deliverAll();
      const log = [...sims.values()].flatMap((s) => s.log);
      const writes = log.filter((l) => l.method === 'PUT' || (l.method === 'POST' && !/\/fhir\/?$/.test(l.url)));
      expect(writes.map((l) => `${l.method} ${l.url}`)).toEqual([]);
      expect(log.length).toBeLessThanOrEqual(tasks);
      console.info(`unchanged replay ${i + 1}: ${log.length} requests for ${tasks} Tasks`);
      for (const s of sites.sites) {
        const now = (await all<fhir4.Resource>(sims.get(s.siteId)!, 'Task'))
          .map((t) => `${t.id}@${t.meta?.versionId}`)
          .sort();
        expect(now, s.siteId).toEqual(before.get(s.siteId));
      }
    }
    expect((await listDeliveries(db)).filter((d) => d.status === 'dead')).toEqual([]);
  });
});

describe('what the requester owns on a Task at a strict site', () => {
  let sim: SiteSimulator;
  let ctx: DeliverContext;
  const base = loadSiteDirectory('mappings/sites').get('pchh-springfield-north')!; // categories: mh

  beforeAll(async () => {
    sim = await startSiteSimulator({ searchCacheMs: 60_000, metaDelete: true });
    const s = { ...base, baseUrl: sim.url };
    ctx = { client: new SiteFhirClient(s), site: s };
  });
  afterAll(async () => {
    ctx.client.close();
    await sim.close();
  });
  const taskOf = async (req: DeliveryRequest) => {
    const b = (await (
      await fetch(`${sim.url}/Task?identifier=${TASK_IDENTIFIER_SYSTEM}|${req.intent.taskIdentifier}`, {
        headers: { 'cache-control': 'no-cache' },
      })
    ).json()) as fhir4.Bundle;
    return b.entry?.[0]?.resource as fhir4.Task;
  };
  const logged = <T>(fn: () => Promise<T>) => {
    sim.log.length = 0;
    return fn().then((r) => ({ r, log: sim.log.map((l) => `${l.method} ${l.url.replace(/\?.*/, '')} ${l.status}`) }));
  };

  it('a label added, then removed when the diagnosis is withdrawn; the next replay sends nothing', async () => {
    const mh = deliveryRequest({ persona: 'P001', visit: 'L1', dx: ['F32.9'], sensitivity: ['mh'] });
    expect((await deliverOne(ctx, mh)).kind).toBe('delivered');
    expect((await taskOf(mh)).meta?.security?.map((c) => c.code)).toEqual(['PSY', 'R']);
    const plain = deliveryRequest({ persona: 'P001', visit: 'L1', dx: ['J44.1'], action: 'update' });
    expect(await deliverOne(ctx, plain)).toMatchObject({ kind: 'delivered', detail: 'updated' });
    expect((await taskOf(plain)).meta?.security ?? []).toEqual([]);
    const again = await logged(() => deliverOne(ctx, plain));
    expect(again.r).toMatchObject({ kind: 'delivered', detail: 'unchanged' });
    expect(again.log).toEqual([expect.stringMatching(/^POST \/fhir\/? 200$/)]);
  });

  it('a site without $meta-delete keeps the label: recorded labels-kept, over- and never under-labelled', async () => {
    const bare = await startSiteSimulator(); // no $meta-delete; labels a PUT leaves out stay
    const s = { ...base, baseUrl: bare.url };
    const c = { client: new SiteFhirClient(s), site: s };
    try {
      const mh = deliveryRequest({ persona: 'P010', visit: 'K1', dx: ['F32.9'], sensitivity: ['mh'] });
      await deliverOne(c, mh);
      const plain = deliveryRequest({ persona: 'P010', visit: 'K1', dx: ['J44.1'], action: 'update' });
      expect(await deliverOne(c, plain)).toMatchObject({ kind: 'delivered', detail: 'labels-kept' });
      const b = (await (await fetch(`${bare.url}/Task`)).json()) as fhir4.Bundle;
      const t = b.entry![0]!.resource as fhir4.Task;
      expect(t.meta?.security?.map((x) => x.code)).toEqual(['PSY', 'R']);
      expect(t.reasonCode?.coding?.[0]?.code).toBe('J44.1');
    } finally {
      c.client.close();
      await bare.close();
    }
  });

  it("a site worker's status and note survive an update, through a stale If-Match (409) and a fresh read", async () => {
    const req = deliveryRequest({ persona: 'P002', visit: 'W1' });
    await deliverOne(ctx, req);
    const t = await taskOf(req);
    const worked = await fetch(`${sim.url}/Task/${t.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...t, status: 'in-progress', note: [{ text: 'called, left message' }] }),
    });
    expect(worked.status).toBe(200);
    // The version we read first is stale now: the site answers 409, as HAPI does.
    const stale = await fetch(`${sim.url}/Task/${t.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json', 'if-match': `W/"${t.meta!.versionId}"` },
      body: JSON.stringify({ ...t, priority: 'stat' }),
    });
    expect(stale.status).toBe(409);
    const a08 = withAction(req, 'update', { priority: 'asap', description: 'R7 follow-up (A08)' });
    expect(await deliverOne(ctx, a08)).toMatchObject({ kind: 'delivered', detail: 'updated' });
    const after = await taskOf(req);
    expect(after).toMatchObject({ status: 'in-progress', priority: 'asap', note: [{ text: 'called, left message' }] });
  });

  it('the Encounter never moves backwards: a replayed admission leaves the discharged visit finished', async () => {
    const admit: DeliveryRequest = {
      ...deliveryRequest({ persona: 'P005', visit: 'E1', discharged: false }),
      eventTime: '2026-11-01T15:45:00-06:00',
    };
    const discharge: DeliveryRequest = {
      ...deliveryRequest({ persona: 'P005', visit: 'E1', rule: 'R8' }),
      eventTime: '2026-11-06T09:30:00-06:00',
    };
    await deliverOne(ctx, admit);
    await deliverOne(ctx, discharge);
    const enc = async () =>
      (
        (await (
          await fetch(
            `${sim.url}/Encounter?identifier=${encodeURIComponent(
              `${admit.encounter!.identifier![0]!.system}|${admit.encounter!.identifier![0]!.value}`,
            )}`,
            { headers: { 'cache-control': 'no-cache' } },
          )
        ).json()) as fhir4.Bundle
      ).entry![0]!.resource as fhir4.Encounter;
    const finished = await enc();
    expect(finished.status).toBe('finished');
    const replay = await logged(() => deliverOne(ctx, admit));
    expect(replay.r.kind).toBe('delivered');
    expect(replay.log.filter((l) => l.startsWith('PUT /fhir/Encounter'))).toEqual([]);
    expect(await enc()).toMatchObject({ status: 'finished', meta: { versionId: finished.meta!.versionId } });
    // A later event (A13 cancels the discharge) does move it: it is newer, not older.
    const a13: DeliveryRequest = {
      ...withAction(deliveryRequest({ persona: 'P005', visit: 'E1', discharged: false }), 'update'),
      eventTime: '2026-11-06T11:00:00-06:00',
    };
    await deliverOne(ctx, a13);
    expect((await enc()).status).toBe('in-progress');
  });

  it('a cancel counts only when the Task read back has the new status', async () => {
    const req = deliveryRequest({ persona: 'P006', visit: 'C1' });
    await deliverOne(ctx, req);
    const cancel = withAction(req, 'cancel', {}, { cancelReason: 'admission cancelled (A11)' });
    // A site that answers 200 but keeps the Task as it was (a rule that drops status changes).
    sim.setMode({
      mode: 'fail',
      status: 200,
      outcome: (await taskOf(req)) as never,
      times: 1,
      match: { methods: ['PUT'], path: '/fhir/Task/' },
    });
    const r = await deliverOne(ctx, cancel);
    expect(r).toMatchObject({ kind: 'retry' });
    expect((await taskOf(req)).status).toBe('requested');
    expect(await deliverOne(ctx, cancel)).toMatchObject({ kind: 'delivered', detail: 'entered-in-error' });
    expect((await taskOf(req)).status).toBe('entered-in-error');
  });
});
