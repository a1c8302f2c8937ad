import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { SiteFhirClient, closeSiteClients } from '../../src/delivery/fhir-client.ts';
import { siteOrganization, startSiteSimulators, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import { handleMessage, type HandleDeps } from '../../src/engine/handle.ts';
import { pollSite } from '../../src/readback/poll.ts';
import { sweepOverdue } from '../../src/report/overdue.ts';
import type { Db } from '../../src/store/db.ts';
import { listDeliveries } from '../../src/store/outbox.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { defaultRules, participant } from '../care/helpers.ts';
import { fixtureEngine } from '../delivery/fixture-engine.ts';
import { openTestDb } from '../helpers/db.ts';

const SITE = 'pchh-springfield-north';
const STORY = 'fixtures/adt/p001-ed-admit-discharge';

/**
 * The whole loop on one overdue Task: the engine plans and the delivery worker writes the Tasks to the site's
 * simulator; the care manager starts one and completes another there; read-back (polling) stores that; the overdue
 * sweep raises what is still open and creates the supervisor's Task; the delivery worker writes both to the site,
 * where the site's own fields (status, note, executionPeriod) stay as the care manager left them.
 */
describe('escalation of an overdue Task through the delivery worker', () => {
  let db: Db;
  let close: () => Promise<void>;
  let sims: Map<string, SiteSimulator>;
  let sites: SiteDirectory;
  let deps: HandleDeps;

  const sim = () => sims.get(SITE)!;
  const tasks = async (): Promise<fhir4.Task[]> => {
    const r = await fetch(`${sim().url}/Task?_count=500`, { headers: { 'cache-control': 'no-cache' } });
    return (((await r.json()) as fhir4.Bundle).entry ?? []).map((e) => e.resource as fhir4.Task);
  };
  const ours = (t: fhir4.Task) => t.identifier?.find((i) => i.system === TASK_IDENTIFIER_SYSTEM)?.value;
  const byCode = (all: fhir4.Task[], code: string) => all.filter((t) => t.code?.coding?.some((c) => c.code === code));
  async function siteEdit(task: fhir4.Task, change: Partial<fhir4.Task>): Promise<void> {
    const r = await fetch(`${sim().url}/Task/${task.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...task, ...change }),
    });
    expect(r.status).toBe(200);
  }

  beforeAll(async () => {
    ({ db, close } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    sims = await startSiteSimulators(shipped, { anyPort: true });
    sites = withBaseUrls(shipped, (s) => sims.get(s.siteId)?.url);
    for (const [id, s] of sims) {
      const org = siteOrganization(sites.get(id)!);
      if (org) await s.repo.updateResource(org as never);
    }
    deps = fixtureEngine(db, () => sites, '2026-11-05T11:10:00-06:00');
  }, 120_000);
  afterAll(async () => {
    closeSiteClients();
    await Promise.all([...sims.values()].map((s) => s.close()));
    await close();
  });

  it('raises the open Task at the site, leaves what the site owns, and delivers the supervisor Task', async () => {
    let offset = 0;
    for (const f of ['01-a04.hl7', '02-a06.hl7', '03-a03.hl7'])
      await handleMessage(deps, `adt.inbound/0/${offset++}`, readFileSync(`${STORY}/${f}`));
    await deliverSiteOnce({ db, sites }, SITE);
    const before = await tasks();
    const [contact] = byCode(before, 'tc-interactive-contact');
    const [review] = byCode(before, 'tc-discharge-info-review');
    expect(contact?.priority).toBe('asap');
    expect(review?.status).toBe('requested');
    expect(byCode(before, 'overdue-escalation')).toEqual([]);

    // At the site: the contact is started (not finished), the discharge review completed.
    const note = [{ text: 'left a voicemail', time: '2026-11-06T09:00:00-06:00' }];
    await siteEdit(contact!, { status: 'in-progress', note, executionPeriod: { start: '2026-11-06T09:00:00-06:00' } });
    await siteEdit(review!, { status: 'completed', executionPeriod: { end: '2026-11-06T10:00:00-06:00' } });
    const rb = await pollSite(db, new SiteFhirClient(sites.get(SITE)!), SITE, 'poll');
    expect(rb.changes).toBeGreaterThanOrEqual(2);
    const reviewed = (await tasks()).find((t) => t.id === review!.id)!;

    // A week later the contact is past due and still open.
    const swept = await sweepOverdue(db, defaultRules(), fixedClock('2026-11-12T08:00:00-06:00'), {
      participant: () => participant(),
      enqueue: deps.enqueueDeliveries!,
    });
    expect(swept.intents.map((i) => i.taskIdentifier)).toContain(ours(contact!));
    expect(swept.intents.map((i) => i.taskIdentifier)).not.toContain(ours(review!));
    expect(await deliverSiteOnce({ db, sites }, SITE)).toBeGreaterThanOrEqual(2);
    expect((await listDeliveries(db)).filter((d) => d.status !== 'delivered')).toEqual([]);

    const after = await tasks();
    const raised = after.find((t) => t.id === contact!.id)!;
    expect(raised.priority).toBe('stat');
    expect(raised.businessStatus?.coding?.map((c) => c.code)).toContain('overdue');
    // What the site owns is as the care manager left it.
    expect(raised.status).toBe('in-progress');
    expect(raised.note).toEqual(note);
    expect(raised.executionPeriod).toEqual({ start: '2026-11-06T09:00:00-06:00' });
    expect(raised.owner).toEqual(contact!.owner);
    // The completed Task is not touched.
    const done = after.find((t) => t.id === review!.id)!;
    expect([done.status, done.priority, done.meta?.versionId]).toEqual([
      'completed',
      review!.priority,
      reviewed.meta?.versionId,
    ]);

    const [sup, ...more] = byCode(after, 'overdue-escalation');
    expect(more).toEqual([]);
    expect(sup!.status).toBe('requested');
    expect(sup!.owner?.reference).toBe(`Organization/org-${SITE}`);
    expect(sup!.for?.reference).toBe(contact!.for?.reference);
    expect(sup!.performerType?.[0]?.text).toBe('Care team supervisor');
    expect(JSON.stringify(sup!.partOf)).toContain(ours(contact!)!);

    // A second sweep at the same time and a second delivery change nothing at the site.
    const versions = after.map((t) => `${t.id}@${t.meta?.versionId}`).sort();
    expect((await sweepOverdue(db, defaultRules(), fixedClock('2026-11-12T08:00:00-06:00'))).escalated).toBe(0);
    await deliverSiteOnce({ db, sites }, SITE);
    expect((await tasks()).map((t) => `${t.id}@${t.meta?.versionId}`).sort()).toEqual(versions);
  }, 120_000);
});
