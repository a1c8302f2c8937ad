import { createPipeline } from '../pipeline/process.ts';
import { eligibilityOn } from '../roster/eligibility.ts';
import { buildRosterIndex } from '../roster/roster-index.ts';
import type { MatchResult } from '../roster/types.ts';
import type { Db } from '../store/db.ts';
import type { ResolvedReview } from '../store/review.ts';
import { loadRoster } from '../store/roster-repo.ts';
import { enqueueDeliveries } from '../store/outbox.ts';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { routingProblem } from '../delivery/worker.ts';
import { join } from 'node:path';
import { fixedClock, systemClock } from '../util/clock.ts';
import { TcError } from '../util/errors.ts';
import { dataDirKeys, type JournalKeys } from '../journal/keys.ts';
import { MessageJournal } from '../journal/writer.ts';
import { loadEngineConfig } from './config.ts';
import { loadEngineMappings } from './deps.ts';
import { handleMessage, type HandleDeps, type HandleResult } from './handle.ts';

/**
 * After a reviewer's decision, plans the held message again with the decided participant: the same durable
 * path as the engine (care state, delivery outbox, journal in one transaction), under the message id `<id>#review`.
 * A decision of 'none' plans nothing: no Task for a person who is not on the roster.
 */
export async function replanResolved(
  db: Db,
  resolved: ResolvedReview,
  /** The console passes its message journal and outbox writer; else the data folder's keys and journal are used. */
  extra: Pick<HandleDeps, 'journal' | 'enqueueDeliveries'> & { keys?: JournalKeys } = {},
): Promise<HandleResult[]> {
  if (resolved.decision === undefined || resolved.decision === 'none') return [];
  const config = loadEngineConfig();
  const { keys = dataDirKeys(config.dataDir), ...deps } = extra;
  const mappings = loadEngineMappings(config.mappingsDir);
  const participants = await loadRoster(db);
  const index = buildRosterIndex(participants, mappings.matchConfig);
  const participantId = resolved.decision;
  if (!index.participant(participantId)) {
    throw new TcError(
      'TC_REVIEW_UNKNOWN_PARTICIPANT',
      `participant ${participantId} is not on the loaded roster`,
      'permanent',
    );
  }
  const route = routingProblem(loadSiteDirectory(process.env.TC_SITES_DIR ?? join(config.mappingsDir, 'sites')));
  const clock = config.now ? fixedClock(config.now) : systemClock;
  const decided: MatchResult = {
    status: 'matched',
    participantId,
    score: 0,
    reasons: [{ field: 'review', result: 'agree', weight: 0, note: 'decided by a reviewer' }],
    candidates: [{ participantId, score: 0 }],
  };
  const pipeline = createPipeline({
    profiles: mappings.convert.profiles.all,
    rosterIndex: index,
    rules: mappings.rules,
    clock,
    match: () => decided,
    eligibilityOn,
    participant: (id) => index.participant(id),
    ...(mappings.siteTimeZones ? { siteTimeZones: mappings.siteTimeZones } : {}),
  });
  return handleMessage(
    {
      db,
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'default',
      enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
      seal: keys,
      ...(process.env.TC_JOURNAL === 'off'
        ? {}
        : { journal: new MessageJournal(keys).withOrigin('review', resolved.messageId) }),
      ...deps,
    },
    `${resolved.messageId}#review`,
    resolved.rawMessage,
  );
}
