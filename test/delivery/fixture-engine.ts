import { routingProblem } from '../../src/delivery/worker.ts';
import type { SiteDirectory } from '../../src/delivery/sites.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import type { HandleDeps } from '../../src/engine/handle.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueueDeliveries } from '../../src/store/outbox.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { testKeys } from '../helpers/seal.ts';

/** The engine's message path on the shipped mappings and fixture roster, its deliveries queued for `sites`. */
export function fixtureEngine(db: Db, sites: () => SiteDirectory, now = '2026-11-23T12:00:00-06:00'): HandleDeps {
  const clock = fixedClock(now);
  const mappings = loadEngineMappings('mappings');
  const { pipeline, index } = buildPipeline(mappings, rosterOrThrow('fixtures/roster/roster.csv'), clock);
  return {
    db,
    convert: mappings.convert,
    pipeline: () => pipeline,
    participant: (id) => index.participant(id),
    clock,
    unknownSender: 'reject',
    seal: testKeys,
    enqueueDeliveries: (q, reqs, messageId) => enqueueDeliveries(q, reqs, messageId, routingProblem(sites())),
  };
}
