import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

/**
 * Every command module, loaded only when needed: `tc-alerts <command>` imports that one module, and `--help` none
 * (the compiled CLI reads dist/cli/commands.json, written at build time). A new command: one line here.
 */
export const commandModules: Array<() => Promise<CommandModule>> = [
  () => import('./convert.ts'),
  () => import('./process.ts'),
  () => import('./roster.ts'),
  async () => {
    const review = await import('./review.ts');
    const { replanResolved } = await import('../engine/replan.ts');
    // A reviewer's decision plans the held message again through the engine's durable path.
    review.setReplanHook(async (db, resolved) => {
      const results = await replanResolved(db, resolved);
      for (const r of results)
        process.stdout.write(`replanned ${r.messageId}: ${r.outcome}, ${r.intents.length} Task intent(s)\n`);
    });
    return review;
  },
  () => import('./deliveries.ts'),
  () => import('./sites.ts'),
  () => import('./run.ts'),
  () => import('./replay.ts'),
  () => import('./gateway.ts'),
  () => import('./config.ts'),
  () => import('./start.ts'),
  () => import('./messages.ts'),
  () => import('./deadletters.ts'),
  () => import('./console.ts'),
  () => import('./report.ts'),
  () => import('./worklist.ts'),
];
