import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expandPaths } from '../../src/cli/convert.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { handleMessage, type HandleDeps } from '../../src/engine/handle.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, type SiteDirectory } from '../../src/delivery/sites.ts';
import { deliverSiteOnce, routingProblem } from '../../src/delivery/worker.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueueDeliveries, listDeliveries, retryDeliveries } from '../../src/store/outbox.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { openTestDb } from '../helpers/db.ts';
import { testKeys } from '../helpers/seal.ts';

const clock = fixedClock('2026-11-23T12:00:00-06:00');
const mappings = loadEngineMappings('mappings');
const roster = rosterOrThrow('fixtures/roster/roster.csv');
const { pipeline, index } = buildPipeline(mappings, roster, clock);

async function tasksAt(sim: SiteSimulator): Promise<fhir4.Task[]> {
  const b = (await (await fetch(`${sim.url}/Task?_count=200`)).json()) as fhir4.Bundle;
  return (b.entry ?? []).map((e) => e.resource as fhir4.Task);
}

describe('delivery to site FHIR servers (simulators over HTTP)', () => {
  let db: Db;
  let close: () => Promise<void>;
  const sims = new Map<string, SiteSimulator>();
  let sites: SiteDirectory;
  let deps: HandleDeps;
  let seq = 0;
  const opts = () => ({ db, sites, baseBackoffMs: 1, maxBackoffMs: 5 });

  async function feed(dir: string): Promise<void> {
    for (const f of expandPaths([dir])) await handleMessage(deps, `adt.inbound/0/${seq++}`, readFileSync(f));
  }

  beforeAll(async () => {
    ({ db, close } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    for (const s of shipped.sites) sims.set(s.siteId, await startSiteSimulator());
    const list = shipped.sites.map((s) => ({ ...s, baseUrl: sims.get(s.siteId)!.url }));
    sites = { sites: list, get: (id) => list.find((s) => s.siteId === id) };
    deps = {
      db,
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'reject',
      seal: testKeys,
      enqueueDeliveries: (q, reqs, messageId) => enqueueDeliveries(q, reqs, messageId, routingProblem(sites)),
    };
  });
  afterAll(async () => {
    await Promise.all([...sims.values()].map((s) => s.close()));
    await close();
  });

  it("delivers the ED → admission → discharge story's Tasks to the participant's site, with Patient and Encounter", async () => {
    await feed('fixtures/adt/p001-ed-admit-discharge');
    await deliverSiteOnce(opts(), 'pchh-springfield-north');
    const tasks = await tasksAt(sims.get('pchh-springfield-north')!);
    expect(tasks.length).toBeGreaterThanOrEqual(3);
    expect(tasks.every((t) => t.owner?.identifier?.value === 'pchh-springfield-north')).toBe(true);
    expect(tasks.every((t) => /^Patient\//.test(t.for?.reference ?? ''))).toBe(true);
    const pending = await listDeliveries(db, { siteId: 'pchh-springfield-north', status: 'pending' });
    expect(pending).toEqual([]);
    for (const other of ['pchh-kc-east', 'cmhc-compass-columbia']) expect(await tasksAt(sims.get(other)!)).toEqual([]);
  });

  it('a replayed delivery three times still leaves one Task per identifier', async () => {
    const site = sims.get('pchh-springfield-north')!;
    const before = await tasksAt(site);
    for (let i = 0; i < 3; i++) {
      await retryDeliveries(db, { siteId: 'pchh-springfield-north' });
      await db.query(`UPDATE delivery_outbox SET status = 'pending' WHERE site_id = 'pchh-springfield-north'`);
      await deliverSiteOnce(opts(), 'pchh-springfield-north');
    }
    const after = await tasksAt(site);
    expect(after.length).toBe(before.length);
    const ids = after.map((t) => t.identifier?.[0]?.value);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never sends an SSN, next-of-kin or address to a site', async () => {
    const site = sims.get('pchh-springfield-north')!;
    const patients = (await (await fetch(`${site.url}/Patient`)).json()) as fhir4.Bundle;
    const text = JSON.stringify(patients) + JSON.stringify(await tasksAt(site));
    expect(text).not.toMatch(/us-ssn|"contact"|"address"|Benton/);
    expect((patients.entry ?? []).length).toBe(1);
  });

  it('keeps delivering to one site while another is down, and the down site gets its Tasks when it comes back', async () => {
    const down = sims.get('cmhc-burrell-springfield')!;
    down.setMode({ mode: 'down' });
    await feed('fixtures/adt/p003-psych-stay');
    await feed('fixtures/adt/p010-observation-latin1');
    await deliverSiteOnce(opts(), 'cmhc-burrell-springfield');
    await deliverSiteOnce(opts(), 'pchh-springfield-north');
    const waiting = await listDeliveries(db, { siteId: 'cmhc-burrell-springfield', status: 'pending' });
    expect(waiting.length).toBeGreaterThan(0);
    // The first delivery tried failed on the network and paused the site; the rest wait untried (outbox order is
    // per Task's latest write, so the tried one need not be the oldest row).
    // A site-wide failure is not the item's: it does not spend the item's retry budget.
    const tried = waiting.filter((w) => w.lastAttemptAt);
    expect(tried.length).toBeGreaterThan(0);
    expect(tried.map((w) => w.attempts)).toEqual(tried.map(() => 0));
    expect(tried[0]?.lastError?.reason).toMatch(/network/);
    expect(
      (await tasksAt(sims.get('pchh-springfield-north')!)).some(
        (t) => t.owner?.identifier?.value === 'pchh-springfield-north',
      ),
    ).toBe(true);
    down.setMode({ mode: 'ok' });
    await new Promise((r) => setTimeout(r, 20));
    for (
      let i = 0;
      i < 5 && (await listDeliveries(db, { siteId: 'cmhc-burrell-springfield', status: 'pending' })).length;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
      await deliverSiteOnce(opts(), 'cmhc-burrell-springfield');
    }
    expect((await tasksAt(down)).length).toBeGreaterThan(0);
    expect(await listDeliveries(db, { siteId: 'cmhc-burrell-springfield', status: 'pending' })).toEqual([]);
  });

  it('holds a site that answers 401 instead of retrying, and sends a 422 to dead with the OperationOutcome', async () => {
    const s = sims.get('pchh-stl-south')!;
    s.setMode({ mode: '401' });
    await feed('fixtures/adt/p006-ama-discharge');
    await deliverSiteOnce(opts(), 'pchh-stl-south');
    const requestsAfterHold = s.requests;
    await deliverSiteOnce(opts(), 'pchh-stl-south');
    expect(s.requests).toBe(requestsAfterHold); // no retry storm
    const held = await listDeliveries(db, { siteId: 'pchh-stl-south', status: 'held' });
    expect(held.length).toBeGreaterThan(0);
    expect(held[0]!.lastError?.status).toBe(401);

    s.setMode({ mode: '422' });
    await retryDeliveries(db, { siteId: 'pchh-stl-south' });
    await deliverSiteOnce(opts(), 'pchh-stl-south');
    const dead = await listDeliveries(db, { siteId: 'pchh-stl-south', status: 'dead' });
    expect(dead.length).toBeGreaterThan(0);
    expect(JSON.stringify(dead[0]!.lastError?.outcome)).toContain('OperationOutcome');
  });

  it('sends a generic follow-up Task with security labels for 42 CFR Part 2 content to a site not allowed SUD', async () => {
    await feed('fixtures/adt/p004-detox-then-ed-overdose');
    await deliverSiteOnce(opts(), 'cmhc-compass-columbia');
    const tasks = await tasksAt(sims.get('cmhc-compass-columbia')!);
    expect(tasks.length).toBeGreaterThan(0);
    const generic = tasks.filter((t) => t.meta?.security?.some((c) => c.code === '42CFRPart2'));
    expect(generic.length).toBeGreaterThan(0);
    for (const t of generic) {
      expect(t.reasonCode).toBeUndefined();
      expect(JSON.stringify(t)).not.toMatch(/F1\d|sud-followup|T40/);
    }
  });

  it('cancels by the site status: requested → entered-in-error, in-progress → cancelled, completed left alone', async () => {
    const site = sims.get('pchh-springfield-north')!;
    const [a, b, c] = await tasksAt(site);
    const set = async (t: fhir4.Task, status: fhir4.Task['status']) =>
      fetch(`${site.url}/Task/${t.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ ...t, status, note: [{ text: 'called, left message' }] }),
      });
    await set(b!, 'in-progress');
    await set(c!, 'completed');
    const outbox = await listDeliveries(db, { siteId: 'pchh-springfield-north', status: 'delivered' });
    const byTask = (t: fhir4.Task) =>
      outbox.find((o) => o.taskIdentifier === t.identifier?.[0]?.value && o.action === 'create')!.request;
    let n = 0;
    for (const t of [a!, b!, c!]) {
      const req = byTask(t);
      await db.tx((q) =>
        enqueueDeliveries(
          q,
          [{ ...req, intent: { ...req.intent, action: 'cancel', cancelReason: 'admission cancelled by hospital' } }],
          `cancel-${n++}`,
          routingProblem(sites),
        ),
      );
    }
    await deliverSiteOnce(opts(), 'pchh-springfield-north');
    const after = new Map((await tasksAt(site)).map((t) => [t.id, t]));
    expect(after.get(a!.id)!.status).toBe('entered-in-error');
    expect(after.get(b!.id)!.status).toBe('cancelled');
    expect(after.get(b!.id)!.statusReason?.text).toBe('admission cancelled by hospital');
    expect(after.get(b!.id)!.note?.[0]?.text).toBe('called, left message');
    expect(after.get(c!.id)!.status).toBe('completed');
    const results = (await listDeliveries(db, { status: 'delivered' }))
      .filter((d) => d.action === 'cancel')
      .map((d) => d.result);
    expect(results).toEqual(expect.arrayContaining(['entered-in-error', 'cancelled', 'already-closed']));
  });

  it("retries after a 429 no sooner than the site's Retry-After, then delivers", async () => {
    const s = sims.get('pchh-kc-east')!;
    s.setMode({ mode: '429', retryAfter: 2 });
    await feed('fixtures/adt/p002-cancelled-discharge');
    await deliverSiteOnce(opts(), 'pchh-kc-east');
    const waiting = await listDeliveries(db, { siteId: 'pchh-kc-east', status: 'pending' });
    expect(waiting[0]!.lastError?.status).toBe(429);
    const due = await db.query<{ ms: number }>(
      `SELECT EXTRACT(EPOCH FROM (MIN(next_attempt_at) - now())) * 1000 AS ms FROM delivery_outbox WHERE site_id = 'pchh-kc-east' AND status = 'pending' AND last_attempt_at IS NOT NULL`,
    );
    expect(Number(due.rows[0]!.ms)).toBeGreaterThan(1_000);
    s.setMode({ mode: 'ok' });
    // Time passes beyond the Retry-After: the items and the site's pause are due again.
    await db.query(`UPDATE delivery_outbox SET next_attempt_at = now() WHERE site_id = 'pchh-kc-east'`);
    await db.query(`UPDATE delivery_site_state SET not_before = NULL WHERE site_id = 'pchh-kc-east'`);
    for (let i = 0; i < 6 && (await listDeliveries(db, { siteId: 'pchh-kc-east', status: 'pending' })).length; i++)
      await deliverSiteOnce(opts(), 'pchh-kc-east');
    expect(await listDeliveries(db, { siteId: 'pchh-kc-east', status: 'pending' })).toEqual([]);
    expect((await tasksAt(s)).length).toBeGreaterThan(0);
  });

  it("an update changes only what the requester owns: the site's status and notes stay", async () => {
    const site = sims.get('pchh-kc-east')!;
    const task = (await tasksAt(site)).find((t) => t.status === 'requested')!;
    await fetch(`${site.url}/Task/${task.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...task, status: 'accepted', note: [{ text: 'appointment booked' }] }),
    });
    const created = (await listDeliveries(db, { siteId: 'pchh-kc-east', status: 'delivered' })).find(
      (o) => o.taskIdentifier === task.identifier?.[0]?.value && o.action === 'create',
    )!;
    const moved = { ...created.request.intent.task, priority: 'stat' as const };
    await db.tx((q) =>
      enqueueDeliveries(
        q,
        [{ ...created.request, intent: { ...created.request.intent, action: 'update', task: moved } }],
        'update-1',
        routingProblem(sites),
      ),
    );
    await deliverSiteOnce(opts(), 'pchh-kc-east');
    const after = (await tasksAt(site)).find((t) => t.id === task.id)!;
    expect(after.priority).toBe('stat');
    expect(after.status).toBe('accepted');
    expect(after.note?.[0]?.text).toBe('appointment booked');
  });
});
