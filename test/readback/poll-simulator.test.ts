import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiteFhirClient } from '../../src/delivery/fhir-client.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { pollSite } from '../../src/readback/poll.ts';
import type { Db } from '../../src/store/db.ts';
import { freshPgliteDb } from '../helpers/db.ts';
import { lifecycle, plantTask, record, siteSets } from './readback-kit.ts';

describe('read-back by polling, against the site simulator', () => {
  let sim: SiteSimulator;
  let db: Db;
  let client: SiteFhirClient;
  beforeAll(async () => {
    // HAPI's search cache on (60 s): a poll without Cache-Control: no-cache would read yesterday's answer.
    sim = await startSiteSimulator({ searchCacheMs: 60_000 });
    db = await freshPgliteDb();
    client = new SiteFhirClient({ siteId: 'site-a', baseUrl: sim.url, auth: { type: 'none' }, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await sim?.close();
    await db?.close();
  });

  it('stores each status the site set, with its time, business status code and owner, and no text', async () => {
    const t = await plantTask(db, client, 'site-a', 'rb-1');
    const cm = (await client.send<fhir4.Practitioner>('POST', 'Practitioner', { resourceType: 'Practitioner' })).data;
    const first = await pollSite(db, client, 'site-a', 'poll');
    expect(first.read).toBe(1);
    expect(await lifecycle(db, 'rb-1')).toEqual([]);
    await siteSets(client, t, {
      status: 'accepted',
      businessStatus: { coding: [{ system: 'https://site.example/bs', code: 'call-scheduled' }], text: 'free text' },
      owner: { reference: `Practitioner/${cm.id}`, display: 'A Care Manager' },
    });
    const second = await pollSite(db, client, 'site-a', 'poll');
    expect(second.changes).toBe(1);
    // The care manager documents the call as ended a moment ago (before the site stored the change).
    const end = new Date(Date.now() - 1).toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await siteSets(client, t, { status: 'completed', executionPeriod: { end } });
    await pollSite(db, client, 'site-a', 'poll');
    const rows = await lifecycle(db, 'rb-1');
    expect(rows.map((r) => [r.status, r.source])).toEqual([
      ['accepted', 'site'],
      ['completed', 'site'],
    ]);
    expect(rows[0]!.business_status).toBe('call-scheduled');
    // Completed when the care manager documented the contact (executionPeriod.end), not when the site stored it.
    expect(rows[1]!.at).toBe(end);
    const rec = await record(db, 'rb-1');
    expect(rec.status).toBe('completed');
    expect(new Date(rec.completed_at!).toISOString()).toBe(end);
    expect(rec.owner_ref).toBe(`Practitioner/${cm.id}`);
    const stored = JSON.stringify(await db.query('SELECT * FROM task_lifecycle')) + JSON.stringify(rec);
    expect(stored).not.toMatch(/free text|A Care Manager|synthetic/);
  });

  it('asks only for what changed since its cursor, with no-cache, and follows every page', async () => {
    const tasks = [];
    for (let i = 0; i < 45; i++) tasks.push(await plantTask(db, client, 'site-a', `rb-page-${i}`));
    await pollSite(db, client, 'site-a', 'poll', { pageSize: 10 });
    sim.log.length = 0;
    for (const t of tasks) await siteSets(client, t, { status: 'accepted' });
    const r = await pollSite(db, client, 'site-a', 'poll', { pageSize: 10 });
    expect(r.changes).toBe(45);
    expect(r.pages).toBeGreaterThanOrEqual(5);
    const gets = sim.log.filter((l) => l.method === 'GET' && l.url.startsWith('/fhir/Task?'));
    expect(gets[0]!.url).toMatch(/_lastUpdated=gt\d{4}-\d\d-\d\dT/);
    // Polled again with nothing new: nothing recorded twice.
    const again = await pollSite(db, client, 'site-a', 'poll', { pageSize: 10 });
    expect(again.changes).toBe(0);
    const n = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM task_lifecycle WHERE task_identifier LIKE 'rb-page-%' AND status = 'accepted'`,
    );
    expect(n.rows[0]!.n).toBe(45);
    // The same search as the last poll (the cursor did not move): the site's 60 s search cache would answer it
    // with the earlier result, unless the poll says Cache-Control: no-cache.
    await siteSets(client, tasks[7]!, { status: 'in-progress' });
    const after = await pollSite(db, client, 'site-a', 'poll', { pageSize: 10 });
    expect(after.changes).toBe(1);
    expect((await record(db, 'rb-page-7')).status).toBe('in-progress');
  });

  it('never lets a site change another site’s Task, nor move a Task back to requested', async () => {
    const t = await plantTask(db, client, 'site-b', 'rb-other');
    await siteSets(client, t, { status: 'completed' });
    const r = await pollSite(db, client, 'site-a', 'poll');
    expect(r.unknown).toBeGreaterThanOrEqual(1);
    expect((await record(db, 'rb-other')).status).toBe('requested');
    expect(await lifecycle(db, 'rb-other')).toEqual([]);
    const mine = await plantTask(db, client, 'site-a', 'rb-cancel');
    await db.query(`UPDATE task_record SET status = 'cancelled' WHERE task_identifier = 'rb-cancel'`);
    await siteSets(client, mine, { status: 'requested', priority: 'asap' });
    await pollSite(db, client, 'site-a', 'poll');
    expect((await record(db, 'rb-cancel')).status).toBe('cancelled');
  });
});
