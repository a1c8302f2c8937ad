import { join } from 'node:path';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { routingProblem } from '../delivery/worker.ts';
import { eligibilityOn } from '../roster/eligibility.ts';
import { applyLearnedWeights, learnWeights, type LearnedWeights } from '../roster/learn-weights.ts';
import { matchPatient } from '../roster/match.ts';
import type { MatchConfig } from '../roster/config.ts';
import { buildRosterIndex, type RosterIndex } from '../roster/roster-index.ts';
import { createPipeline } from '../pipeline/process.ts';
import type { MatchResult, Participant } from '../roster/types.ts';
import { dataDirKeys, type JournalKeys } from '../journal/keys.ts';
import { MessageJournal } from '../journal/writer.ts';
import type { Db } from '../store/db.ts';
import {
  DEFAULT_LATE_ENROLLMENT_DAYS,
  loadRosterWeights,
  markReplanned,
  recentAdts,
  saveRosterWeights,
  type RecentAdt,
} from '../store/match-repo.ts';
import { enqueueDeliveries } from '../store/outbox.ts';
import { loadRoster, rosterVersion } from '../store/roster-repo.ts';
import { fixedClock, systemClock } from '../util/clock.ts';
import { UserError } from '../util/user-error.ts';
import { loadEngineConfig } from './config.ts';
import { buildPipeline, loadEngineMappings, type EngineMappings } from './deps.ts';
import { handleMessage } from './handle.ts';

export interface RosterLoadFollowUp {
  weights: LearnedWeights;
  lateEnrollment: {
    days: number;
    /** Unmatched ADTs of the last `days` days looked at again. */
    checked: number;
    /** Of those, matched to someone on the new roster. */
    matched: number;
    /** Messages planned through the engine's durable path (care state, outbox, journal in one transaction). */
    planned: number;
    tasks: number;
  };
}

/** The matching configuration of the current roster: the learned weights when a load stored them. */
export async function currentMatchConfig(db: Db, base: MatchConfig): Promise<MatchConfig> {
  const learned = await loadRosterWeights(db);
  return learned ? applyLearnedWeights(base, learned.weights) : base;
}

/** The engine's pipeline over the current roster with its learned weights (what `run` and re-planning use). */
export async function loadRosterPipeline(
  db: Db,
  mappings: EngineMappings,
  clock: Parameters<typeof buildPipeline>[2],
): Promise<ReturnType<typeof buildPipeline>> {
  const matchConfig = await currentMatchConfig(db, mappings.matchConfig);
  return buildPipeline({ ...mappings, matchConfig }, await loadRoster(db), clock);
}

async function learnAndSave(
  db: Db,
  participants: readonly Participant[],
  version: number,
  config: MatchConfig,
  recent: readonly RecentAdt[],
  seed = 1,
): Promise<LearnedWeights> {
  const weights = learnWeights(
    participants,
    config,
    recent.map((r) => r.input),
    { seed },
  );
  await saveRosterWeights(db, version, weights);
  return weights;
}

/**
 * The weights of the current roster learned again from the ADTs of the last `days` days (`tc-alerts roster
 * learn`): a new deployment's first load has no ADTs to learn m from, so it keeps the configured weights until
 * this is run (or the next load). The engine picks the new weights up at its next roster poll.
 */
export async function relearnRosterWeights(
  db: Db,
  options: { days?: number; seed?: number; keys?: JournalKeys } = {},
): Promise<{ version: number; weights: LearnedWeights; previous?: LearnedWeights }> {
  const config = loadEngineConfig();
  const keys = options.keys ?? dataDirKeys(config.dataDir);
  const mappings = loadEngineMappings(config.mappingsDir);
  const version = await rosterVersion(db);
  if (version === 0) throw new UserError('no roster loaded: run `tc-alerts roster load <file>` first');
  const previous = (await loadRosterWeights(db, version))?.weights;
  const recent = await recentAdts(db, keys, options.days ?? DEFAULT_LATE_ENROLLMENT_DAYS);
  const weights = await learnAndSave(db, await loadRoster(db), version, mappings.matchConfig, recent, options.seed);
  return { version, weights, ...(previous ? { previous } : {}) };
}

/**
 * After a roster load (version `version`): learns the weights from the new roster and the recent ADTs and
 * stores them with the version; then matches again the ADTs of the last `days` days that had no match (or no
 * enrollment on their date) and plans those that now match someone enrolled, through handleMessage under the
 * id `<message id>#enrolled-v<version>`, deliveries enqueued in the same transaction, journalled as a child of the
 * original (origin 'late-enrollment', unless TC_JOURNAL=off). `keys`: the data folder's key file by default.
 */
export async function afterRosterLoad(
  db: Db,
  participants: readonly Participant[],
  version: number,
  options: { days?: number; seed?: number; keys?: JournalKeys } = {},
): Promise<RosterLoadFollowUp> {
  const days = options.days ?? DEFAULT_LATE_ENROLLMENT_DAYS;
  const config = loadEngineConfig();
  const keys = options.keys ?? dataDirKeys(config.dataDir);
  const mappings = loadEngineMappings(config.mappingsDir);
  const recent = await recentAdts(db, keys, days);
  const weights = await learnAndSave(db, participants, version, mappings.matchConfig, recent, options.seed);

  const clock = config.now ? fixedClock(config.now) : systemClock;
  const index = buildRosterIndex(participants, applyLearnedWeights(mappings.matchConfig, weights), { version });
  const unmatched = recent.filter((r) => r.rawMessage);
  const out: RosterLoadFollowUp = {
    weights,
    lateEnrollment: { days, checked: unmatched.length, matched: 0, planned: 0, tasks: 0 },
  };
  if (!unmatched.length) return out;
  const sites = loadSiteDirectory(process.env.TC_SITES_DIR ?? join(config.mappingsDir, 'sites'));
  const route = routingProblem(sites);
  const lateMatch = (idx: RosterIndex, input: Parameters<typeof matchPatient>[1], date?: string): MatchResult => {
    const m = matchPatient(idx, input, date);
    if (m.status !== 'matched') return m;
    return {
      ...m,
      reasons: [
        ...m.reasons,
        { field: 'late-enrollment', result: 'agree', weight: 0, note: 'matched at a roster load' },
      ],
    };
  };
  const pipeline = createPipeline({
    profiles: mappings.convert.profiles.all,
    rosterIndex: index,
    rules: mappings.rules,
    clock,
    match: (idx, input, date) => lateMatch(idx as RosterIndex, input, date),
    eligibilityOn,
    participant: (id) => index.participant(id),
    ...(mappings.siteTimeZones ? { siteTimeZones: mappings.siteTimeZones } : {}),
  });
  for (const r of unmatched) {
    const m = matchPatient(index, r.input);
    if (m.status !== 'matched' || !m.participantId) continue;
    out.lateEnrollment.matched++;
    const results = await handleMessage(
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
          : { journal: new MessageJournal(keys).withOrigin('late-enrollment', r.messageId) }),
      },
      `${r.messageId}#enrolled-v${version}`,
      r.rawMessage!,
    );
    const planned = results.filter((x) => x.outcome === 'planned');
    if (planned.length) {
      out.lateEnrollment.planned++;
      out.lateEnrollment.tasks += planned.reduce((n, x) => n + x.intents.length, 0);
      await markReplanned(db, r.messageId, version);
    }
  }
  return out;
}
