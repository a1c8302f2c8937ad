import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DCN_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { deliverOne } from '../../src/delivery/deliver.ts';
import { SiteFhirClient, closeSiteClients } from '../../src/delivery/fhir-client.ts';
import { siteOrganization, startSiteSimulators, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import { deliverSiteOnce, type DeliveryEvent } from '../../src/delivery/worker.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueue, listDeliveries, retryDeliveries, siteStates, type OutboxItem } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { deliveryRequest, manualClock, messageId, withAction } from './requests.ts';

/** Every site of the shipped directory on a simulator of its own, over HTTP; one PGlite outbox. */
describe('delivery writes at the site (medplum simulators over HTTP)', () => {
  let db: Db;
  let closeDb: () => Promise<void>;
  let sims: Map<string, SiteSimulator>;
  let sites: SiteDirectory;
  const clock = manualClock(Date.parse('2026-11-23T18:00:00Z'));
  let events: DeliveryEvent[] = [];
  const opts = () => ({
    db,
    sites,
    clock,
    baseBackoffMs: 1_000,
    maxBackoffMs: 60_000,
    onEvent: (e: DeliveryEvent) => events.push(e),
  });
  const sim = (siteId: string) => sims.get(siteId)!;
  const site = (siteId: string) => sites.get(siteId)!;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    sims = await startSiteSimulators(shipped, { anyPort: true });
    sites = withBaseUrls(shipped, (s) => sims.get(s.siteId)?.url);
  });
  afterAll(async () => {
    closeSiteClients();
    await Promise.all([...sims.values()].map((s) => s.close()));
    await closeDb();
  });
  beforeEach(async () => {
    events = [];
    for (const [id, s] of sims) {
      s.setMode({ mode: 'ok' });
      s.repo.clear();
      const org = siteOrganization(site(id));
      if (org) await s.repo.updateResource(org as never);
      s.log.length = 0;
      s.requests = 0;
    }
    await db.query('DELETE FROM delivery_outbox');
    await db.query('DELETE FROM delivery_site_state');
  });

  async function put(reqs: DeliveryRequest[], msg = messageId()) {
    return db.tx((q) => enqueue(q, reqs, msg, { route: sites }));
  }
  async function deliver(siteId: string): Promise<number> {
    return deliverSiteOnce(opts(), siteId);
  }
  async function search<T extends fhir4.Resource>(siteId: string, query: string): Promise<T[]> {
    const b = (await (await fetch(`${sim(siteId).url}/${query}`)).json()) as fhir4.Bundle;
    return (b.entry ?? []).map((e) => e.resource as T);
  }
  const tasksOf = (siteId: string) => search<fhir4.Task>(siteId, `Task?owner=Organization/org-${siteId}&_count=500`);
  async function siteEdit(siteId: string, task: fhir4.Task, change: Partial<fhir4.Task>): Promise<fhir4.Task> {
    const r = await fetch(`${sim(siteId).url}/Task/${task.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...task, ...change }),
    });
    expect(r.status).toBe(200);
    return (await r.json()) as fhir4.Task;
  }
  const outbox = (filter: Parameters<typeof listDeliveries>[1] = {}): Promise<OutboxItem[]> =>
    listDeliveries(db, filter);
  const bodies = (siteId: string) => JSON.stringify(sim(siteId).log.map((l) => l.body ?? null));

  it("creates the Patient by DCN, the Encounter by visit number and the Task owned by the site's Organization; every reference resolves or is identifier-only", async () => {
    const req = deliveryRequest({ persona: 'P001', rule: 'R7' });
    expect(await put([req])).toEqual({ pending: 1, unroutable: 0, held: 0, duplicate: 0 });
    expect(await deliver('pchh-springfield-north')).toBe(1);

    const [task, ...more] = await tasksOf('pchh-springfield-north');
    expect(more).toEqual([]);
    expect(task!.identifier?.[0]).toEqual({ system: TASK_IDENTIFIER_SYSTEM, value: req.intent.taskIdentifier });
    expect(task!.owner?.reference).toBe('Organization/org-pchh-springfield-north');
    expect(task!.status).toBe('requested');
    const url = sim('pchh-springfield-north').url;
    for (const ref of [
      task!.owner!.reference!,
      task!.for!.reference!,
      task!.encounter!.reference!,
      task!.focus!.reference!,
    ])
      expect((await fetch(`${url}/${ref}`)).status).toBe(200);
    const patient = (await (await fetch(`${url}/${task!.for!.reference}`)).json()) as fhir4.Patient;
    expect(patient.identifier).toEqual([{ system: DCN_SYSTEM, value: '10234567' }]);
    expect(patient.name).toEqual([{ family: 'ALVAREZ', given: ['MARIA'] }]);
    expect([patient.birthDate, patient.gender]).toEqual(['1978-03-14', 'female']);
    const enc = (await (await fetch(`${url}/${task!.encounter!.reference}`)).json()) as fhir4.Encounter;
    expect(enc.serviceProvider).toEqual({
      type: 'Organization',
      identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1922000011' },
      display: 'Mercy Hospital Springfield',
    });
    expect(enc.hospitalization).toEqual({ dischargeDisposition: req.encounter!.hospitalization!.dischargeDisposition });
    expect(enc.diagnosis?.[0]?.condition.reference).toBe('#dx1');
    expect(enc.contained?.[0]).toMatchObject({
      resourceType: 'Condition',
      id: 'dx1',
      subject: { reference: task!.for!.reference },
    });
    // Nothing else points at a resource the site lacks.
    const refs = JSON.stringify([task, enc]).match(/"reference":"[^"]*"/g) ?? [];
    for (const r of refs)
      expect(r).toMatch(/"reference":"(Patient|Encounter|Organization)\/[\w-]+"|"reference":"#dx\d+"/);
    expect(task!.requester).toEqual({
      type: 'Organization',
      identifier: { system: 'https://tc-alerts.mo-hh.org/fhir/sid/organization', value: 'tc-alerts' },
      display: 'tc-alerts transitional-care engine',
    });
    expect(task!.reasonReference).toBeUndefined();
    expect((await outbox())[0]).toMatchObject({ status: 'delivered', result: 'created', attempts: 1 });
    expect(events.map((e) => [e.type, e.detail])).toEqual([['delivered', 'created']]);
  });

  it('a message replayed three times leaves one Task, one Patient and one Encounter at the site', async () => {
    const req = deliveryRequest({ persona: 'P002', rule: 'R8' });
    const msg = messageId();
    await put([req], msg);
    expect(await put([req], msg)).toMatchObject({ duplicate: 1, pending: 0 }); // the same message id: outbox keeps one
    await deliver('pchh-kc-east');
    for (let i = 0; i < 3; i++) {
      await put([req]); // the same intent from a replayed message with a new id
      await deliver('pchh-kc-east');
    }
    expect(await tasksOf('pchh-kc-east')).toHaveLength(1);
    expect(await search('pchh-kc-east', 'Patient')).toHaveLength(1);
    expect(await search('pchh-kc-east', 'Encounter')).toHaveLength(1);
    expect((await outbox()).map((o) => o.result)).toEqual(['created', 'unchanged', 'unchanged', 'unchanged']);
  });

  it("an update after an A08 changes what the requester owns and keeps the site's status, notes, owner and business status", async () => {
    const req = deliveryRequest({ persona: 'P002', rule: 'R7', priority: 'urgent', dx: ['J44.1'] });
    await put([req]);
    await deliver('pchh-kc-east');
    const [created] = await tasksOf('pchh-kc-east');
    const siteOwner = { ...created!.owner!, display: 'Care manager team B' };
    const siteBusiness = { coding: [{ system: 'https://swope.example.org/task-status', code: 'appointment-booked' }] };
    await siteEdit('pchh-kc-east', created!, {
      status: 'accepted',
      note: [{ text: 'appointment booked for Tuesday' }],
      owner: siteOwner,
      businessStatus: siteBusiness,
    });
    const a08 = withAction(req, 'update', {
      priority: 'stat',
      restriction: { period: { start: '2026-11-06T09:30:00-06:00', end: '2026-11-10T23:59:59-06:00' } },
      reasonCode: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'J44.0' }] },
    });
    await put([a08]);
    await deliver('pchh-kc-east');
    const after = (await tasksOf('pchh-kc-east'))[0]!;
    expect(after.priority).toBe('stat');
    expect(after.restriction?.period?.end).toBe('2026-11-10T23:59:59-06:00');
    expect(after.reasonCode?.coding?.[0]?.code).toBe('J44.0');
    expect(after.status).toBe('accepted');
    expect(after.note).toEqual([{ text: 'appointment booked for Tuesday' }]);
    expect(after.owner).toEqual(siteOwner);
    expect(after.businessStatus).toEqual(siteBusiness);
    const put1 = sim('pchh-kc-east').log.filter((l) => l.method === 'PUT' && l.url.includes('/Task/'));
    expect(put1).toHaveLength(2); // the site's edit and ours, which carried If-Match
    expect(put1[1]!.ifMatch).toMatch(/^W\/"/);
    // The same update again changes nothing and writes nothing.
    await put([a08]);
    await deliver('pchh-kc-east');
    expect(sim('pchh-kc-east').log.filter((l) => l.method === 'PUT' && l.url.includes('/Task/'))).toHaveLength(2);
    expect((await outbox()).map((o) => o.result)).toEqual(['created', 'updated', 'unchanged']);
  });

  it('an update that meets 412 (the site changed the Task meanwhile) reads the Task again and retries', async () => {
    const req = deliveryRequest({ persona: 'P006', rule: 'R7' });
    await put([req]);
    await deliver('pchh-stl-south');
    sim('pchh-stl-south').setMode({
      mode: 'fail',
      status: 412,
      times: 1,
      match: { methods: ['PUT'], path: '/fhir/Task/' },
    });
    await put([withAction(req, 'update', { priority: 'asap' })]);
    await deliver('pchh-stl-south');
    expect((await tasksOf('pchh-stl-south'))[0]!.priority).toBe('asap');
    const puts = sim('pchh-stl-south').log.filter((l) => l.method === 'PUT' && l.url.startsWith('/fhir/Task/'));
    expect(puts.map((p) => p.status)).toEqual([412, 200]);
    expect((await outbox()).at(-1)).toMatchObject({ status: 'delivered', result: 'updated' });
  });

  it('cancels by the status the site has: requested/received → entered-in-error, accepted/in-progress/on-hold → cancelled, completed/failed/cancelled left as they are', async () => {
    const statuses: fhir4.Task['status'][] = [
      'requested',
      'received',
      'accepted',
      'in-progress',
      'on-hold',
      'completed',
      'failed',
      'cancelled',
    ];
    const reqs = statuses.map((_, i) => deliveryRequest({ persona: 'P001', visit: `V2${i}`, rule: 'R9' }));
    await put(reqs);
    await deliver('pchh-springfield-north');
    const byIdentifier = new Map((await tasksOf('pchh-springfield-north')).map((t) => [t.identifier![0]!.value!, t]));
    for (const [i, s] of statuses.entries()) {
      const t = byIdentifier.get(reqs[i]!.intent.taskIdentifier)!;
      if (s !== 'requested')
        await siteEdit('pchh-springfield-north', t, {
          status: s,
          note: [{ text: `site note ${s}` }],
          ...(s === 'cancelled' ? { statusReason: { text: 'patient declined' } } : {}),
        });
    }
    await put(reqs.map((r) => withAction(r, 'cancel', {}, { cancelReason: 'admission cancelled by hospital (A11)' })));
    await deliver('pchh-springfield-north');
    const after = new Map((await tasksOf('pchh-springfield-north')).map((t) => [t.identifier![0]!.value!, t]));
    const got = reqs.map((r) => after.get(r.intent.taskIdentifier)!);
    expect(got.map((t) => t.status)).toEqual([
      'entered-in-error',
      'entered-in-error',
      'cancelled',
      'cancelled',
      'cancelled',
      'completed',
      'failed',
      'cancelled',
    ]);
    for (const i of [0, 1, 2, 3, 4]) expect(got[i]!.statusReason?.text).toBe('admission cancelled by hospital (A11)');
    expect(got[7]!.statusReason?.text).toBe('patient declined');
    for (const i of [1, 2, 3, 4, 5, 6, 7]) expect(got[i]!.note?.[0]?.text).toBe(`site note ${statuses[i]}`);
    const results = (await outbox()).filter((o) => o.action === 'cancel').map((o) => o.result);
    expect(results).toEqual([
      'entered-in-error',
      'entered-in-error',
      'cancelled',
      'cancelled',
      'cancelled',
      'already-closed',
      'already-closed',
      'already-closed',
    ]);
  });

  it('a cancel for a Task the site never got is recorded as not-at-site and writes nothing', async () => {
    await put([withAction(deliveryRequest({ persona: 'P005', rule: 'R7' }), 'cancel')]);
    await deliver('pchh-columbia-central');
    expect((await outbox())[0]).toMatchObject({ status: 'delivered', result: 'not-at-site' });
    expect(sim('pchh-columbia-central').log.every((l) => l.method === 'GET')).toBe(true);
  });

  it("a 422 with an OperationOutcome makes the item dead with the reason and the site's outcome, and it is not sent again", async () => {
    const oo: fhir4.OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'business-rule', diagnostics: 'Owner organization does not accept this task type' },
      ],
    };
    sim('pchh-kc-east').setMode({ mode: 'fail', status: 422, outcome: oo, match: { methods: ['POST'] } });
    await put([deliveryRequest({ persona: 'P002', rule: 'R7' })]);
    await deliver('pchh-kc-east');
    const [item] = await outbox();
    expect(item).toMatchObject({ status: 'dead', attempts: 1, lastError: { status: 422, outcome: oo } });
    expect(item!.lastError!.reason).toMatch(/HTTP 422/);
    expect(events.map((e) => e.type)).toEqual(['dead']);
    const sent = sim('pchh-kc-east').requests;
    clock.advance(3_600_000);
    await deliver('pchh-kc-east');
    expect(sim('pchh-kc-east').requests).toBe(sent);
    // After a person fixes the cause, `deliveries retry <id>` sends it again.
    sim('pchh-kc-east').setMode({ mode: 'ok' });
    expect(await retryDeliveries(db, { id: item!.id })).toBe(1);
    await deliver('pchh-kc-east');
    expect((await outbox())[0]).toMatchObject({ status: 'delivered', result: 'created', attempts: 1 });
  });

  it('a transaction answered 200 with a failed entry is not counted as delivered', async () => {
    // The site already holds two Patients with this DCN: the conditional create of the Patient fails (412).
    for (let i = 0; i < 2; i++)
      await fetch(`${sim('pchh-stl-south').url}/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system: DCN_SYSTEM, value: '10789012' }] }),
      });
    await put([deliveryRequest({ persona: 'P006', rule: 'R7' })]);
    await deliver('pchh-stl-south');
    const tx = sim('pchh-stl-south').log.find((l) => l.method === 'POST' && /\/fhir\/?$/.test(l.url))!;
    expect(tx.status).toBe(200);
    const [item] = await outbox();
    expect(item!.status).toBe('dead');
    expect(item!.lastError).toMatchObject({ status: 412, reason: 'transaction entry Patient 412' });
    expect(JSON.stringify(item!.lastError!.outcome)).toContain('multiple-matches');
    expect(events.map((e) => e.type)).toEqual(['dead']);
  });

  it('two concurrent creates of the same Task leave one Task', async () => {
    const req = deliveryRequest({ persona: 'P003', rule: 'R12', sensitivity: ['mh'], dx: ['F32.9'] });
    const s = site('cmhc-burrell-springfield');
    const results = await Promise.all(
      [0, 1, 2, 3].map(() => deliverOne({ client: new SiteFhirClient(s), site: s }, req)),
    );
    expect(results.every((r) => r.kind === 'delivered')).toBe(true);
    expect(results.filter((r) => r.kind === 'delivered' && r.detail === 'created')).toHaveLength(1);
    expect(await tasksOf('cmhc-burrell-springfield')).toHaveLength(1);
    expect(await search('cmhc-burrell-springfield', 'Patient')).toHaveLength(1);
  });

  it('a 42 CFR Part 2 case goes to a site not allowed SUD as a generic Task, with security labels and no SUD codes', async () => {
    const req = deliveryRequest({
      persona: 'P004',
      rule: 'R11',
      part2: true,
      sensitivity: ['sud'],
      dx: ['F10.20', 'T40.1X1A', 'F32.9'],
    });
    await put([req]);
    await deliver('cmhc-compass-columbia');
    const [task] = await tasksOf('cmhc-compass-columbia');
    expect(task!.code?.coding?.[0]?.code).toBe('tc-followup');
    expect(task!.reasonCode).toBeUndefined();
    expect(task!.meta?.security?.map((c) => c.code).sort()).toEqual(['42CFRPart2', 'ETH', 'NORDSCLCD', 'R']);
    const enc = (await search<fhir4.Encounter>('cmhc-compass-columbia', 'Encounter'))[0]!;
    expect(enc.diagnosis).toBeUndefined();
    expect(enc.contained).toBeUndefined();
    expect(enc.hospitalization).toBeUndefined();
    const sent = bodies('cmhc-compass-columbia');
    for (const s of ['F10', 'T40', 'F32', 'sud-followup', 'DETOX', 'R11 follow-up']) expect(sent).not.toContain(s);
    expect((await outbox())[0]).toMatchObject({ status: 'delivered', result: 'created' });
    expect(events[0]).toMatchObject({ type: 'delivered', generic: true });

    // The same intent for a site allowed SUD (Burrell) goes in full, still labelled.
    await put([
      {
        ...req,
        intent: { ...req.intent, siteId: 'cmhc-burrell-springfield', taskIdentifier: `${req.intent.taskIdentifier}-b` },
      },
    ]);
    await deliver('cmhc-burrell-springfield');
    const [full] = await tasksOf('cmhc-burrell-springfield');
    expect(full!.code?.coding?.[0]?.code).toBe('sud-followup');
    expect(full!.reasonCode?.coding?.[0]?.code).toBe('F10.20');
    expect(full!.meta?.security?.map((c) => c.code)).toContain('42CFRPart2');
  });

  it('a site gets only the diagnoses its categories allow, and a mental-health Task becomes generic where mh is not allowed', async () => {
    await put([deliveryRequest({ persona: 'P001', visit: 'V30', rule: 'R7', dx: ['E11.65', 'F32.9', 'F10.20'] })]);
    await deliver('pchh-springfield-north');
    const enc = (await search<fhir4.Encounter>('pchh-springfield-north', 'Encounter'))[0]!;
    expect(enc.contained?.map((c) => (c as fhir4.Condition).code?.coding?.[0]?.code)).toEqual(['E11.65', 'F32.9']);

    await put([deliveryRequest({ persona: 'P005', rule: 'R12', sensitivity: ['mh'], dx: ['F32.9'] })]);
    await deliver('pchh-columbia-central');
    const [t] = await tasksOf('pchh-columbia-central');
    expect(t!.code?.coding?.[0]?.code).toBe('tc-followup');
    expect(t!.meta?.security?.map((c) => c.code).sort()).toEqual(['PSY', 'R']);
    expect(bodies('pchh-columbia-central')).not.toContain('F32');
  });

  it('keeps intents for an unknown or disabled site, and test messages for sites that take none, as unroutable (counted, never dropped)', async () => {
    const disabled = { ...site('pchh-kc-east'), enabled: false };
    const routing = { get: (id: string) => (id === 'pchh-kc-east' ? disabled : sites.get(id)) };
    const r = await db.tx((q) =>
      enqueue(
        q,
        [
          deliveryRequest({ persona: 'P001', siteId: 'pchh-nowhere' }),
          deliveryRequest({ persona: 'P002' }),
          deliveryRequest({ persona: 'P006', isTest: true }),
          deliveryRequest({ persona: 'P001', visit: 'V40', isTest: true }),
        ],
        messageId(),
        { route: routing },
      ),
    );
    expect(r).toEqual({ pending: 1, unroutable: 3, held: 0, duplicate: 0 });
    const un = await outbox({ status: 'unroutable' });
    expect(un.map((u) => [u.siteId, u.lastError?.reason])).toEqual([
      ['pchh-nowhere', 'unknown site'],
      ['pchh-kc-east', 'site disabled'],
      ['pchh-stl-south', 'test message; site takes no test messages'],
    ]);
    for (const id of ['pchh-kc-east', 'pchh-stl-south']) await deliver(id);
    expect(sim('pchh-kc-east').requests + sim('pchh-stl-south').requests).toBe(0);
    await deliver('pchh-springfield-north'); // accepts test messages
    expect(await tasksOf('pchh-springfield-north')).toHaveLength(1);
    expect(await outbox({ status: 'unroutable' })).toHaveLength(3);
  });

  it('after a 429 the site is paused until its Retry-After, then the item is delivered', async () => {
    sim('pchh-kc-east').setMode({ mode: 'fail', status: 429, retryAfter: 7, times: 1 });
    await put([deliveryRequest({ persona: 'P002', visit: 'V2' }), deliveryRequest({ persona: 'P002', visit: 'V3' })]);
    await deliver('pchh-kc-east');
    const waiting = await outbox({ status: 'pending' });
    expect(waiting.map((w) => w.lastError?.status ?? null)).toEqual([429, 429]);
    expect(Date.parse(waiting[0]!.nextAttemptAt!) - clock.now()).toBeGreaterThanOrEqual(7_000);
    expect(sim('pchh-kc-east').requests).toBe(1); // one Bundle for both, no second try in the same round
    expect((await siteStates(db)).find((s) => s.siteId === 'pchh-kc-east')?.notBefore).toBeDefined();
    clock.advance(6_000);
    await deliver('pchh-kc-east');
    expect(sim('pchh-kc-east').requests).toBe(1); // not before the Retry-After
    clock.advance(60_000);
    await deliver('pchh-kc-east');
    expect((await outbox()).map((o) => o.status)).toEqual(['delivered', 'delivered']);
    expect(await tasksOf('pchh-kc-east')).toHaveLength(2);
  });

  it('a 401 holds the site and raises an alert instead of retrying; `retry --site` releases it', async () => {
    sim('pchh-stl-south').setMode({ mode: '401' });
    await put([deliveryRequest({ persona: 'P006', visit: 'V1' }), deliveryRequest({ persona: 'P006', visit: 'V2' })]);
    await deliver('pchh-stl-south');
    expect(sim('pchh-stl-south').requests).toBe(1);
    expect((await outbox()).map((o) => o.status)).toEqual(['held', 'held']);
    expect(events).toEqual([
      expect.objectContaining({ type: 'held', alert: true, status: 401, siteId: 'pchh-stl-south' }),
    ]);
    for (let i = 0; i < 5; i++) {
      clock.advance(3_600_000);
      await deliver('pchh-stl-south');
    }
    expect(sim('pchh-stl-south').requests).toBe(1); // no retry storm
    expect(await put([deliveryRequest({ persona: 'P006', visit: 'V3' })])).toMatchObject({ held: 1 });
    sim('pchh-stl-south').setMode({ mode: 'ok' });
    expect(await retryDeliveries(db, { siteId: 'pchh-stl-south' })).toBe(3);
    await deliver('pchh-stl-south');
    expect((await outbox()).map((o) => o.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect((await siteStates(db)).find((s) => s.siteId === 'pchh-stl-south')?.held).toBe(false);
  });

  it('creates go out together in one transaction Bundle, and a 413 falls back to individual conditional writes', async () => {
    await put([1, 2, 3, 4, 5].map((i) => deliveryRequest({ persona: 'P001', visit: `V5${i}` })));
    await deliver('pchh-springfield-north');
    const posts = sim('pchh-springfield-north').log.filter((l) => l.method === 'POST');
    expect(posts.map((p) => p.url)).toEqual(['/fhir/']);
    expect(await tasksOf('pchh-springfield-north')).toHaveLength(5);
    expect(await search('pchh-springfield-north', 'Patient')).toHaveLength(1);

    sim('pchh-springfield-north').log.length = 0;
    sim('pchh-springfield-north').setMode({ mode: 'fail', status: 413, match: { bundle: true } });
    await put([6, 7].map((i) => deliveryRequest({ persona: 'P001', visit: `V5${i}` })));
    await deliver('pchh-springfield-north');
    expect(await tasksOf('pchh-springfield-north')).toHaveLength(7);
    const log = sim('pchh-springfield-north').log.map((l) => `${l.method} ${l.url.replace(/\?.*/, '')} ${l.status}`);
    expect(log[0]).toBe('POST /fhir/ 413');
    expect(log).toContain('POST /fhir/Patient 200');
    expect(log).toContain('POST /fhir/Encounter 201');
    expect(log).toContain('POST /fhir/Task 201');
    expect((await outbox({ status: 'delivered' })).length).toBe(7);
  });

  it('a site with individual writes gets conditional writes, and a replay still leaves one Task', async () => {
    expect(site('pchh-columbia-central').writeMode).toBe('individual');
    const req = deliveryRequest({ persona: 'P005', rule: 'R7' });
    await put([req]);
    await put([req]);
    await deliver('pchh-columbia-central');
    await put([req]);
    await deliver('pchh-columbia-central');
    expect(await tasksOf('pchh-columbia-central')).toHaveLength(1);
    const writes = sim('pchh-columbia-central').log.filter((l) => l.method !== 'GET');
    expect(writes.every((w) => w.url !== '/fhir' && (w.ifNoneExist || w.method === 'PUT'))).toBe(true);
  });

  it('pending writes of one Task are coalesced into one delivery of its latest state', async () => {
    const req = deliveryRequest({ persona: 'P002', visit: 'V60', priority: 'routine' });
    await put([req]);
    await put([withAction(req, 'update', { priority: 'urgent' })]);
    await put([withAction(req, 'update', { priority: 'stat' })]);
    await deliver('pchh-kc-east');
    const [t] = await tasksOf('pchh-kc-east');
    expect(t!.priority).toBe('stat');
    expect(sim('pchh-kc-east').log.filter((l) => l.method !== 'GET')).toHaveLength(1);
    const items = await outbox();
    expect(items.map((i) => [i.status, i.result, i.coalescedInto ?? null])).toEqual([
      ['delivered', 'coalesced', items[2]!.id],
      ['delivered', 'coalesced', items[2]!.id],
      ['delivered', 'created', null],
    ]);
    expect(events).toEqual([expect.objectContaining({ type: 'delivered', coalesced: 2, outboxId: items[2]!.id })]);
  });

  it('a site that refuses connections keeps its items pending, in order per visit, and gets them all when it is back', async () => {
    const s = sim('pchh-kc-east');
    // A01 plans R1 while the visit is in progress; the A03 that follows plans R7 with the finished Encounter.
    const admit = deliveryRequest({ persona: 'P002', visit: 'V70', rule: 'R1', discharged: false });
    const discharge = deliveryRequest({ persona: 'P002', visit: 'V70', rule: 'R7' });
    await put([admit]);
    await s.stop();
    await deliver('pchh-kc-east');
    await put([discharge]);
    for (let i = 0; i < 10; i++) {
      clock.advance(600_000);
      await deliver('pchh-kc-east');
    }
    const pending = await outbox({ status: 'pending' });
    expect(pending.map((p) => p.taskIdentifier)).toEqual([
      admit.intent.taskIdentifier,
      discharge.intent.taskIdentifier,
    ]);
    expect(pending[0]!.lastError?.reason).toMatch(/network/);
    // Tried at each round, but a site that is down does not spend the items' retry budget.
    expect(pending[0]!.attempts).toBe(0);
    expect(pending[0]!.lastAttemptAt).toBe(new Date(clock.now()).toISOString());
    // An hour and ten tries later the items wait for the site, not 10 minutes each of their own backoff.
    expect(Date.parse(pending[0]!.nextAttemptAt!) - clock.now()).toBeLessThanOrEqual(60_000);
    expect(events.filter((e) => e.type === 'delivered')).toEqual([]);
    await s.start();
    clock.advance(3_600_000);
    await deliver('pchh-kc-east');
    expect(await outbox({ status: 'pending' })).toEqual([]);
    const tasks = await tasksOf('pchh-kc-east');
    expect(tasks.map((t) => t.identifier?.[0]?.value).sort()).toEqual(
      [admit.intent.taskIdentifier, discharge.intent.taskIdentifier].sort(),
    );
    // The visit's writes went in message order: the Encounter the site keeps is the discharged one.
    const [enc, ...more] = await search<fhir4.Encounter>('pchh-kc-east', 'Encounter');
    expect(more).toEqual([]);
    expect(enc!.status).toBe('finished');
    expect(enc!.period?.end).toBe('2026-11-06T09:30:00-06:00');
  });
});
