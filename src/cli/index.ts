import type { Command } from 'commander';
import * as config from './config.ts';
import * as convert from './convert.ts';
import * as deliveries from './deliveries.ts';
import * as gateway from './gateway.ts';
import * as processCmd from './process.ts';
import * as replay from './replay.ts';
import * as report from './report.ts';
import * as review from './review.ts';
import * as roster from './roster.ts';
import * as run from './run.ts';
import * as sites from './sites.ts';
import * as start from './start.ts';
import * as worklist from './worklist.ts';
import { replanResolved } from '../engine/replan.ts';

export interface CommandModule {
  register(program: Command): void;
}

export const commandModules: CommandModule[] = [
  convert,
  processCmd,
  roster,
  review,
  deliveries,
  sites,
  run,
  replay,
  gateway,
  config,
  start,
  report,
  worklist,
];

// A reviewer's decision plans the held message again through the engine's durable path.
review.setReplanHook(async (db, resolved) => {
  const results = await replanResolved(db, resolved);
  for (const r of results)
    process.stdout.write(`replanned ${r.messageId}: ${r.outcome}, ${r.intents.length} Task intent(s)\n`);
});
