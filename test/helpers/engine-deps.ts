import { routingProblem } from '../../src/delivery/worker.ts';
import { loadSiteDirectory } from '../../src/delivery/sites.ts';
import { buildPipeline, loadEngineMappings } from '../../src/engine/deps.ts';
import type { HandleDeps } from '../../src/engine/handle.ts';
import type { Participant } from '../../src/roster/types.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueueDeliveries } from '../../src/store/outbox.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { testKeys } from './seal.ts';

/** handleMessage's dependencies as the engine builds them (configured weights, the repo's mappings and sites). */
export function engineDeps(db: Db, participants: readonly Participant[], now: string): HandleDeps {
  const mappings = loadEngineMappings('mappings');
  const clock = fixedClock(now);
  const { pipeline, index } = buildPipeline(mappings, participants, clock);
  const route = routingProblem(loadSiteDirectory('mappings/sites'));
  return {
    db,
    convert: mappings.convert,
    pipeline: () => pipeline,
    participant: (id: string) => index.participant(id),
    clock,
    unknownSender: 'default' as const,
    seal: testKeys,
    enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
  };
}
