import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { handleMessage } from '../../src/engine/handle.ts';
import { afterRosterLoad, currentMatchConfig } from '../../src/engine/late-enrollment.ts';
import { replanResolved } from '../../src/engine/replan.ts';
import type { Db } from '../../src/store/db.ts';
import { loadRosterWeights, recentAdts } from '../../src/store/match-repo.ts';
import { listReviewsByPerson, resolvePersonReview } from '../../src/store/review.ts';
import { replaceRoster } from '../../src/store/roster-repo.ts';
import { openTestDb } from '../helpers/db.ts';
import { testKeys } from '../helpers/seal.ts';
import { engineDeps } from '../helpers/engine-deps.ts';

const ROSTER = rosterOrThrow('fixtures/roster/roster.csv');
const A03 = 'fixtures/adt/p001-ed-admit-discharge/03-a03.hl7'; // P001 discharged 2026-11-05 10:45
const TODAY = '2026-11-06T09:00:00-06:00';

describe('late enrollment', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    process.env.TC_NOW = TODAY;
    ({ db, close } = await openTestDb('pglite'));
  });
  afterAll(async () => {
    delete process.env.TC_NOW;
    await close();
  });

  it('plans an A03 of yesterday for a person the roster load of today enrolls, through the durable path', async () => {
    const without = ROSTER.filter((p) => p.participantId !== 'P001');
    await replaceRoster(db, without, { source: 'test' });
    const [first] = await handleMessage(
      engineDeps(db, without, '2026-11-05T11:00:00-06:00'),
      'adt.inbound/0/1',
      readFileSync(A03),
    );
    expect(first).toMatchObject({ outcome: 'processed', intents: [] });
    const kept = await recentAdts(db, testKeys);
    expect(kept.map((k) => [k.messageId, k.outcome, Boolean(k.rawMessage)])).toEqual([
      ['adt.inbound/0/1', 'no-match', true],
    ]);
    // Sealed at rest: neither the raw HL7 nor the demographics are readable in the table.
    const stored = await db.query<{ input: unknown; input_sealed: Uint8Array; raw_message: Uint8Array }>(
      `SELECT input, input_sealed, raw_message FROM match_recent_adt`,
    );
    expect(stored.rows[0]!.input).toBeNull();
    for (const bytes of [stored.rows[0]!.input_sealed, stored.rows[0]!.raw_message])
      expect(Buffer.from(bytes).toString('latin1')).not.toMatch(/MSH\||M1001|ALVAREZ|10234567|1978-03-14|19780314/);

    const version = await replaceRoster(db, ROSTER, { source: 'test' });
    const followUp = await afterRosterLoad(db, ROSTER, version, { keys: testKeys });
    expect(followUp.lateEnrollment).toMatchObject({ days: 30, checked: 1, matched: 1, planned: 1 });
    expect(followUp.lateEnrollment.tasks).toBeGreaterThan(0);
    const journal = await db.query<{ message_id: string; outcome: string; participant_id: string }>(
      `SELECT message_id, outcome, participant_id FROM message_outcome WHERE message_id LIKE '%#enrolled%'`,
    );
    expect(journal.rows).toEqual([
      { message_id: `adt.inbound/0/1#enrolled-v${version}`, outcome: 'planned', participant_id: 'P001' },
    ]);
    const outbox = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM delivery_outbox WHERE message_id LIKE '%#enrolled%'`,
    );
    expect(Number(outbox.rows[0]!.n)).toBe(followUp.lateEnrollment.tasks);
    // Journalled as a child of the ADT it planned: the console shows its Tasks under the original message.
    const child = await db.query<{ origin: string; parent_id: string; status: string }>(
      `SELECT origin, parent_id, status FROM journal_message WHERE message_id = $1`,
      [`adt.inbound/0/1#enrolled-v${version}`],
    );
    expect(child.rows).toEqual([{ origin: 'late-enrollment', parent_id: 'adt.inbound/0/1', status: 'planned' }]);

    // A second load plans it no more: the message is marked with the version that planned it.
    const again = await afterRosterLoad(db, ROSTER, await replaceRoster(db, ROSTER, { source: 'test' }), {
      keys: testKeys,
    });
    expect(again.lateEnrollment).toMatchObject({ checked: 0, planned: 0 });
    // The weights learned at each load are stored with its version and used by the engine.
    const learned = await loadRosterWeights(db);
    expect(learned?.version).toBe(version + 1);
    const config = await currentMatchConfig(db, loadEngineMappings('mappings').matchConfig);
    expect(config.thresholds.matched).toBe(learned!.weights.thresholds.matched);
  });
});

describe('review queue by person', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    process.env.TC_NOW = '2026-11-20T12:00:00-06:00';
    ({ db, close } = await openTestDb('pglite'));
    await replaceRoster(db, ROSTER, { source: 'test' });
  });
  afterAll(async () => {
    delete process.env.TC_NOW;
    await close();
  });

  it('holds one item per ADT identity listing its messages, and resolving it plans all of them again', async () => {
    const deps = engineDeps(db, ROSTER, '2026-11-20T12:00:00-06:00');
    // P007 is not on the roster: same name as P006, birth date a day off, no DCN. Two messages, one person.
    for (const [i, f] of ['01-a05.hl7', '02-a01.hl7'].entries()) {
      const [r] = await handleMessage(deps, `adt.inbound/0/${i}`, readFileSync(`fixtures/adt/p007-other-events/${f}`));
      expect(r!.outcome).toBe('review');
    }
    const people = await listReviewsByPerson(db);
    expect(people).toHaveLength(1);
    const [person] = people;
    expect(person!.messages.map((m) => m.messageId)).toEqual(['adt.inbound/0/0', 'adt.inbound/0/1']);
    expect(person!.candidates.map((c) => c.participantId)).toEqual(['P006']);
    expect(person!.messages[0]!.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'birthDate' }),
        expect.objectContaining({ field: 'family' }),
      ]),
    );
    expect(JSON.stringify(people)).not.toMatch(/SMITH|1980-05-0|M1007/);

    const resolved = await resolvePersonReview(db, testKeys, person!.personKey, 'P006', 'test');
    expect(resolved.map((r) => r.messageId)).toEqual(['adt.inbound/0/0', 'adt.inbound/0/1']);
    const replanned = [];
    for (const r of resolved) replanned.push(...(await replanResolved(db, r, { keys: testKeys })));
    expect(replanned.map((r) => [r.messageId, r.participantId])).toEqual([
      ['adt.inbound/0/0#review', 'P006'],
      ['adt.inbound/0/1#review', 'P006'],
    ]);
    expect(replanned.some((r) => r.outcome === 'planned')).toBe(true);
    expect(await listReviewsByPerson(db)).toEqual([]);
  });
});
