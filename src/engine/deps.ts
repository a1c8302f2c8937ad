import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadRuleSet } from '../care/load-rules.ts';
import type { RuleSet } from '../care/rule-set.ts';
import type { ConvertContext } from '../fhir/convert.ts';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { loadCodeTables } from '../mappings/codes.ts';
import { MappingError } from '../mappings/load.ts';
import { loadSenderProfiles } from '../mappings/senders.ts';
import { createPipeline, type Pipeline } from '../pipeline/process.ts';
import { eligibilityOn } from '../roster/eligibility.ts';
import { parseRosterBundle } from '../roster/fhir-roster.ts';
import { formatIssue, parseRosterCsv, type RosterImport } from '../roster/import-csv.ts';
import { loadMatchConfig } from '../roster/load-match-config.ts';
import { matchPatient } from '../roster/match.ts';
import { buildRosterIndex, type RosterIndex } from '../roster/roster-index.ts';
import type { MatchConfig } from '../roster/config.ts';
import type { Participant } from '../roster/types.ts';
import type { Clock } from '../util/clock.ts';

/** Every mapping the engine needs, loaded and validated once at start-up (errors name file and path). */
export interface EngineMappings {
  convert: ConvertContext;
  rules: RuleSet;
  matchConfig: MatchConfig;
  /** Each site's time zone from the site directory (TC_SITES_DIR, else <mappings>/sites), when there is one. */
  siteTimeZones?: ReadonlyMap<string, string>;
}

export function loadEngineMappings(mappingsDir: string): EngineMappings {
  return {
    convert: {
      profiles: loadSenderProfiles(join(mappingsDir, 'senders')),
      codes: loadCodeTables(join(mappingsDir, 'codes')),
    },
    rules: loadRuleSet(mappingsDir),
    matchConfig: loadMatchConfig(join(mappingsDir, 'matching.yaml')),
    ...siteTimeZonesOf(process.env.TC_SITES_DIR ?? join(mappingsDir, 'sites')),
  };
}

function siteTimeZonesOf(dir: string): { siteTimeZones?: ReadonlyMap<string, string> } {
  if (!existsSync(dir)) return {};
  return { siteTimeZones: new Map(loadSiteDirectory(dir).sites.map((s) => [s.siteId, s.timeZone])) };
}

/** A roster path as a user gives it: a file, or a folder holding roster.csv (else exactly one .csv or .json). */
export function resolveRosterPath(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) return path;
  const files = readdirSync(path).filter((f) => /\.(csv|json)$/i.test(f));
  const chosen = files.includes('roster.csv') ? 'roster.csv' : files.length === 1 ? files[0] : undefined;
  if (!chosen)
    throw new MappingError(
      `${path}: a folder with ${files.length ? 'several roster files' : 'no roster file'}; name the file`,
    );
  return join(path, chosen);
}

/** A roster file: CSV (the documented header) or a FHIR Bundle of Patients + ATR Group (.json). All-or-nothing. */
export function readRosterFile(given: string): RosterImport {
  const path = resolveRosterPath(given);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MappingError(`${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (/\.json$/i.test(path)) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new MappingError(`${path}: not valid JSON`);
    }
    return parseRosterBundle(data);
  }
  return parseRosterCsv(text);
}

/**
 * The participants of a roster file. Warnings (a missing name part, birth date or sex, line by line, never a
 * value) go to `warn`. Errors refuse the file, unless `partial`: then the valid rows load and each rejected
 * row is reported to `warn` as well.
 */
export function rosterOrThrow(
  path: string,
  options: { partial?: boolean; warn?: (line: string) => void } = {},
): Participant[] {
  const r = readRosterFile(path);
  for (const w of r.warnings) options.warn?.(`roster warning: ${formatIssue(w)}`);
  if (options.partial && r.participants.length) {
    for (const e of r.errors) options.warn?.(`roster rejected: ${formatIssue(e)}`);
    return r.participants;
  }
  if (r.errors.length) {
    throw new MappingError(
      `${path}: ${r.errors.length} roster error(s), nothing loaded${options.partial ? '' : ' (--partial loads the valid rows)'}\n${r.errors
        .slice(0, 20)
        .map((e) => `  ${formatIssue(e)}`)
        .join('\n')}`,
    );
  }
  return r.participants;
}

export function buildPipeline(
  mappings: EngineMappings,
  participants: readonly Participant[],
  clock: Clock,
): { pipeline: Pipeline; index: RosterIndex } {
  const index = buildRosterIndex(participants, mappings.matchConfig);
  const pipeline = createPipeline({
    profiles: mappings.convert.profiles.all,
    rosterIndex: index,
    rules: mappings.rules,
    clock,
    match: (idx, input, date) => matchPatient(idx as RosterIndex, input, date),
    eligibilityOn,
    participant: (id) => index.participant(id),
    ...(mappings.siteTimeZones ? { siteTimeZones: mappings.siteTimeZones } : {}),
  });
  return { pipeline, index };
}
