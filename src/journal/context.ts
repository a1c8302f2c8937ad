import { join } from 'node:path';
import { loadSiteDirectory, type SiteDirectory } from '../delivery/sites.ts';
import { routingProblem } from '../delivery/worker.ts';
import { loadEngineConfig, type EngineConfig } from '../engine/config.ts';
import { buildPipeline, loadEngineMappings } from '../engine/deps.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries } from '../store/outbox.ts';
import { loadRoster } from '../store/roster-repo.ts';
import { fixedClock, systemClock } from '../util/clock.ts';
import type { JournalContext } from './actions.ts';
import { dataDirKeys } from './keys.ts';
import { MessageJournal } from './writer.ts';

/** The journal of this data folder: TC_JOURNAL_KEY_FILE, else <dataDir>/journal.key (created when missing). */
export function openJournal(
  config: Pick<EngineConfig, 'dataDir'>,
  env: NodeJS.ProcessEnv = process.env,
): MessageJournal {
  return new MessageJournal(dataDirKeys(config.dataDir, env));
}

/**
 * The actions' context for an operator command (CLI or `tc-alerts console`): the roster in the database, the
 * configured mappings and sites, the journal's key file. Intents go to the outbox; the engine's workers deliver.
 */
export async function contextFromDb(
  db: Db,
  config: EngineConfig = loadEngineConfig(),
): Promise<JournalContext & { sites: SiteDirectory }> {
  const mappings = loadEngineMappings(config.mappingsDir);
  const participants = await loadRoster(db);
  const clock = config.now ? fixedClock(config.now) : systemClock;
  const { pipeline, index } = buildPipeline(mappings, participants, clock);
  const sites = loadSiteDirectory(join(config.mappingsDir, 'sites'));
  const route = routingProblem(sites);
  const journal = openJournal(config);
  return {
    db,
    sites,
    journal,
    handle: {
      seal: journal.keys,
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: config.unknownSender,
      enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
    },
  };
}
