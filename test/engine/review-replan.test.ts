import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { handleMessage } from '../../src/engine/handle.ts';
import { replanResolved } from '../../src/engine/replan.ts';
import type { Db } from '../../src/store/db.ts';
import { listReviews, resolveReview } from '../../src/store/review.ts';
import { listDeliveries } from '../../src/store/outbox.ts';
import { startSiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls } from '../../src/delivery/sites.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import { replaceRoster } from '../../src/store/roster-repo.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { openTestDb } from '../helpers/db.ts';
import { testKeys } from '../helpers/seal.ts';

const NOW = '2026-11-20T12:00:00-06:00';
const A01 = 'fixtures/adt/p007-other-events/02-a01.hl7'; // P007: same name as P006, birth date a day off, no DCN

describe('a possible match goes to review, and the decision plans the message again', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    process.env.TC_NOW = NOW;
    ({ db, close } = await openTestDb('pglite'));
    await replaceRoster(db, rosterOrThrow('fixtures/roster/roster.csv'), { source: 'test' });
  });
  afterAll(async () => {
    delete process.env.TC_NOW;
    await close();
  });

  it('holds the message as a review item with candidate ids only, then plans it for the decided participant', async () => {
    const mappings = loadEngineMappings('mappings');
    const clock = fixedClock(NOW);
    const { pipeline, index } = buildPipeline(mappings, rosterOrThrow('fixtures/roster/roster.csv'), clock);
    const deps = {
      db,
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id: string) => index.participant(id),
      clock,
      unknownSender: 'reject' as const,
      seal: testKeys,
    };
    const [first] = await handleMessage(deps, 'adt.inbound/0/7', readFileSync(A01));
    expect(first!.outcome).toBe('review');
    expect(first!.intents).toEqual([]);

    const [item] = await listReviews(db, { status: 'open' });
    expect(item!.messageId).toBe('adt.inbound/0/7');
    expect(item!.candidates.map((c) => c.participantId)).toEqual(['P006']);
    expect(JSON.stringify(item)).not.toMatch(/SMITH|1980-05-0/);

    const resolved = await resolveReview(db, testKeys, 'adt.inbound/0/7', 'P006', 'test');
    const [again] = await replanResolved(db, resolved, { keys: testKeys });
    expect(again).toMatchObject({ messageId: 'adt.inbound/0/7#review', participantId: 'P006', outcome: 'planned' });
    expect(again!.intents.map((i) => i.siteId)).toEqual(expect.arrayContaining(['pchh-stl-south']));

    // The decision's Tasks are in the outbox (same transaction as the plan) and reach a bare site.
    const queued = await listDeliveries(db, { siteId: 'pchh-stl-south' });
    expect(queued.filter((d) => d.messageId === 'adt.inbound/0/7#review').length).toBe(
      again!.intents.filter((i) => i.siteId === 'pchh-stl-south').length,
    );
    const sim = await startSiteSimulator({ searchCacheMs: 60_000 });
    try {
      const sites = withBaseUrls(loadSiteDirectory('mappings/sites'), (s) =>
        s.siteId === 'pchh-stl-south' ? sim.url : undefined,
      );
      await deliverSiteOnce({ db, sites }, 'pchh-stl-south');
      expect((await listDeliveries(db, { siteId: 'pchh-stl-south', status: 'delivered' })).length).toBe(queued.length);
      const b = (await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle;
      expect(b.entry?.length).toBe(queued.length);
    } finally {
      await sim.close();
    }
  });

  it("plans nothing for the decision 'none'", async () => {
    const mappings = loadEngineMappings('mappings');
    const clock = fixedClock(NOW);
    const { pipeline, index } = buildPipeline(mappings, rosterOrThrow('fixtures/roster/roster.csv'), clock);
    await handleMessage(
      {
        db,
        convert: mappings.convert,
        pipeline: () => pipeline,
        participant: (id) => index.participant(id),
        clock,
        unknownSender: 'reject',
        seal: testKeys,
      },
      'adt.inbound/0/8',
      readFileSync('fixtures/adt/p007-other-events/01-a05.hl7'),
    );
    const resolved = await resolveReview(db, testKeys, 'adt.inbound/0/8', 'none', 'test');
    expect(await replanResolved(db, resolved, { keys: testKeys })).toEqual([]);
  });
});
