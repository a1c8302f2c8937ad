import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSiteSimulators, siteOrganization, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import {
  siteProbeDelayMs,
  startDeliveryWorkers,
  type DeliveryEvent,
  type DeliveryWorkers,
} from '../../src/delivery/worker.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueue, listDeliveries } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { deliveryRequest, messageId } from './requests.ts';

/** Waits for a condition (no timed assertion: the deadline only keeps a broken build from hanging). */
async function eventually(check: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the probe of a site that failed as a whole', () => {
  it('doubles from 2 s to 15 s at most, with jitter down to half, and honours a longer Retry-After', () => {
    const delays = (n: number) => Array.from({ length: 200 }, () => siteProbeDelayMs(n, {}));
    expect(Math.max(...delays(0))).toBeLessThanOrEqual(2_000);
    expect(Math.min(...delays(0))).toBeGreaterThanOrEqual(1_000);
    // A site down for an hour is tried again within 15 s of its return, never a minute later.
    for (const n of [3, 10, 40]) {
      expect(Math.max(...delays(n))).toBeLessThanOrEqual(15_000);
      expect(Math.min(...delays(n))).toBeGreaterThanOrEqual(7_500);
    }
    expect(siteProbeDelayMs(10, {}, 120_000)).toBe(120_000);
    expect(
      Math.max(...Array.from({ length: 50 }, () => siteProbeDelayMs(10, { siteProbeMaxMs: 60_000 }))),
    ).toBeGreaterThan(15_000);
  });
});

describe('per-site delivery workers (real loops, simulators over HTTP)', () => {
  let db: Db;
  let closeDb: () => Promise<void>;
  let sims: Map<string, SiteSimulator>;
  let sites: SiteDirectory;
  let workers: DeliveryWorkers | undefined;
  let events: DeliveryEvent[] = [];
  const sim = (id: string) => sims.get(id)!;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    sims = await startSiteSimulators(shipped, { anyPort: true });
    const pointed = withBaseUrls(shipped, (s) => sims.get(s.siteId)?.url);
    // The Swope site answers slowly in one test: give it a long timeout so the request really hangs.
    const list = pointed.sites.map((s) => (s.siteId === 'pchh-kc-east' ? { ...s, timeoutMs: 120_000 } : s));
    sites = { sites: list, get: (id) => list.find((s) => s.siteId === id) };
  });
  afterAll(async () => {
    await workers?.stop();
    await Promise.all([...sims.values()].map((s) => s.close()));
    await closeDb();
  });
  beforeEach(async () => {
    await workers?.stop();
    workers = undefined;
    events = [];
    for (const [id, s] of sims) {
      s.setMode({ mode: 'ok' });
      s.repo.clear();
      const org = siteOrganization(sites.get(id)!);
      if (org) await s.repo.updateResource(org as never);
      s.log.length = 0;
      s.requests = 0;
      await s.start();
    }
    await db.query('DELETE FROM delivery_outbox');
    await db.query('DELETE FROM delivery_site_state');
  });

  const put = (reqs: DeliveryRequest[]) => db.tx((q) => enqueue(q, reqs, messageId(), { route: sites }));
  const start = (extra: Partial<Parameters<typeof startDeliveryWorkers>[0]> = {}) => {
    workers = startDeliveryWorkers({
      db,
      sites,
      pollMs: 20,
      baseBackoffMs: 20,
      maxBackoffMs: 200,
      onEvent: (e) => events.push(e),
      ...extra,
    });
    return workers;
  };
  const delivered = async (siteId: string) => (await listDeliveries(db, { siteId, status: 'delivered' })).length;

  it("one site that hangs never delays another: the other site's Tasks arrive while the first request is still open", async () => {
    sim('pchh-kc-east').setMode({ mode: 'slow', delayMs: 60_000 });
    await put([deliveryRequest({ persona: 'P002' })]);
    await put([1, 2, 3, 4, 5, 6].map((i) => deliveryRequest({ persona: 'P001', visit: `V${i}` })));
    const w = start();
    await eventually(() => sim('pchh-kc-east').log.length > 0, 'the slow site got its request');
    await eventually(async () => (await delivered('pchh-springfield-north')) === 6, 'the other site got its Tasks');
    // The slow site's request is still open: no answer has been recorded for it.
    expect(sim('pchh-kc-east').log.map((l) => l.status)).toEqual([0]);
    expect(await delivered('pchh-kc-east')).toBe(0);
    await w.stop(); // aborts the open request
    const [item] = await listDeliveries(db, { siteId: 'pchh-kc-east' });
    expect(item!.status).toBe('pending'); // kept for later, never lost
  });

  it('a site down for a while, then up: nothing is lost and the visit keeps its order', async () => {
    await sim('pchh-kc-east').stop();
    const admit = deliveryRequest({ persona: 'P002', visit: 'V80', rule: 'R1', discharged: false });
    const discharge = deliveryRequest({ persona: 'P002', visit: 'V80', rule: 'R7' });
    const other = deliveryRequest({ persona: 'P002', visit: 'V81', rule: 'R7' });
    await put([admit]);
    await put([discharge, other]);
    const w = start();
    await eventually(() => events.filter((e) => e.type === 'delivery-failed').length >= 3, 'three failed attempts');
    expect(await delivered('pchh-kc-east')).toBe(0);
    await sim('pchh-kc-east').start();
    await w.drain({ settle: true, timeoutMs: 30_000 });
    expect((await listDeliveries(db, { siteId: 'pchh-kc-east' })).map((i) => i.status)).toEqual([
      'delivered',
      'delivered',
      'delivered',
    ]);
    const b = (await (
      await fetch(
        `${sim('pchh-kc-east').url}/Encounter?identifier=${encodeURIComponent(admit.encounter!.identifier![0]!.system! + '|' + admit.encounter!.identifier![0]!.value!)}`,
      )
    ).json()) as fhir4.Bundle;
    expect((b.entry ?? []).map((e) => (e.resource as fhir4.Encounter).status)).toEqual(['finished']);
    const t = (await (
      await fetch(`${sim('pchh-kc-east').url}/Task?owner=Organization/org-pchh-kc-east`)
    ).json()) as fhir4.Bundle;
    expect(t.entry).toHaveLength(3);
  });

  it('a site down for long backs off on its own, up to siteProbeMaxMs: its items keep their retry budget and wait no longer than the site', async () => {
    await sim('pchh-kc-east').stop();
    await put([1, 2, 3].map((i) => deliveryRequest({ persona: 'P002', visit: `V9${i}` })));
    const waits: number[] = [];
    // An item's own backoff (20 ms doubling per attempt, up to 60 s) would pass 100 ms after three tries.
    const w = start({
      maxBackoffMs: 60_000,
      siteProbeMaxMs: 100,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'delivery-failed') waits.push(Date.parse(e.nextAttemptAt!) - Date.now());
      },
    });
    await eventually(() => waits.length >= 12, 'twelve site-wide failures');
    expect(Math.max(...waits)).toBeLessThanOrEqual(100);
    const items = await listDeliveries(db, { siteId: 'pchh-kc-east' });
    expect(items.map((i) => [i.status, i.attempts])).toEqual(items.map(() => ['pending', 0]));
    await sim('pchh-kc-east').start();
    await w.drain({ settle: true, timeoutMs: 30_000 });
    expect(await delivered('pchh-kc-east')).toBe(3);
  });

  it('a 401 holds the site with one request and one alert while the loops keep running', async () => {
    sim('pchh-stl-south').setMode({ mode: '401' });
    await put([deliveryRequest({ persona: 'P006', visit: 'V1' }), deliveryRequest({ persona: 'P006', visit: 'V2' })]);
    const w = start();
    await eventually(() => events.some((e) => e.type === 'held'), 'the hold');
    await w.drain();
    await w.drain();
    expect(sim('pchh-stl-south').requests).toBe(1);
    expect(events.filter((e) => e.type === 'held')).toEqual([
      expect.objectContaining({ siteId: 'pchh-stl-south', status: 401, alert: true }),
    ]);
    expect((await listDeliveries(db, { siteId: 'pchh-stl-south' })).map((i) => i.status)).toEqual(['held', 'held']);
  });

  it('items of a site no longer in the directory are swept to unroutable with an event; events carry ids and codes only', async () => {
    await db.tx((q) =>
      enqueue(
        q,
        [
          deliveryRequest({ persona: 'P001', siteId: 'pchh-closed-2025' }),
          deliveryRequest({ persona: 'P003', dx: ['F41.1'], sensitivity: ['mh'] }),
        ],
        messageId(),
      ),
    );
    const w = start();
    await w.drain({ settle: true });
    const items = await listDeliveries(db);
    expect(items.map((i) => [i.siteId, i.status])).toEqual([
      ['pchh-closed-2025', 'unroutable'],
      ['cmhc-burrell-springfield', 'delivered'],
    ]);
    expect(events.map((e) => e.type).sort()).toEqual(['delivered', 'unroutable']);
    const text = JSON.stringify(events);
    for (const phi of ['10234567', '10456789', 'ALVAREZ', 'NGUYEN', 'LINH', '1990-07-21', 'M1003', 'F41'])
      expect(text).not.toContain(phi);
    expect(events.find((e) => e.type === 'delivered')!.attemptMs).toBeGreaterThanOrEqual(0);
  });
});
