#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm ci` through the prepare script) on plain node. In a checkout with
// sources, a change under src/ rebuilds dist/ first (well under a second), so it never runs stale code.
import { existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
if (existsSync(new URL('src/cli.ts', root)) && existsSync(new URL('scripts/build.mjs', root))) {
  const { ensureFresh } = await import('../scripts/build.mjs');
  try {
    await ensureFresh();
  } catch (err) {
    process.stderr.write(`tc-alerts: ${err.message}\n`);
    process.exit(1);
  }
}
await import('../dist/cli.js');
