#!/usr/bin/env node
// Compiles src/ to dist/ (one .js per .ts, same tree, .ts imports rewritten to .js, SQL and other assets copied), so
// bin/tc-alerts.js runs on plain node. esbuild only transpiles (`npm run typecheck` checks types). Then writes
// dist/cli/commands.json (each command's name, help line and module) so `--help` loads no command module.
// Safe when several processes build at once: a lock folder, a private output folder renamed into place.
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) walk(p, out);
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether dist/ is older than anything under src/ (a folder's time changes when a file is added or removed). */
export function isStale(root = ROOT) {
  const stamp = join(root, 'dist', '.built');
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const src = join(root, 'src');
  if (statSync(src).mtimeMs > built) return true;
  for (const f of walk(src)) if (statSync(f).mtimeMs > built) return true;
  return false;
}

async function withLock(root, fn) {
  const lock = join(root, '.dist-lock');
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // A build takes seconds; a lock older than two minutes belongs to a build that died.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 120_000)
        rmSync(lock, { force: true, recursive: true });
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true, recursive: true });
  }
}

/** Builds dist/ from src/. Returns the time taken in ms, or false when esbuild is absent and dist/ is kept. */
export async function build(root = ROOT) {
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    if (existsSync(join(dist, 'cli.js'))) return false; // a production install (--omit=dev) keeps the shipped dist/
    throw new Error('dist/ is missing and esbuild is not installed: run `npm ci` (with dev dependencies)');
  }
  const startedAt = new Date();
  const files = walk(src).filter((f) => statSync(f).isFile());
  const entries = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.test.ts'));
  const assets = files.filter((f) => !f.endsWith('.ts'));
  const tmp = `${dist}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await esbuild.build({
      entryPoints: entries,
      outdir: tmp,
      outbase: src,
      bundle: true, // every import external (plugin below): one output file per source file, imports rewritten
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'warning',
      plugins: [
        {
          name: 'one-file-per-module',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (args.kind === 'entry-point') return undefined;
              if (args.path.startsWith('.')) return { path: args.path.replace(/\.ts$/, '.js'), external: true };
              return { path: args.path, external: true };
            });
          },
        },
      ],
    });
    for (const a of assets) {
      const to = join(tmp, relative(src, a));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(a, to);
    }
    const manifest = join(tmp, 'cli', 'commands.json');
    const r = spawnSync(process.execPath, [join(tmp, 'cli.js')], {
      env: { ...process.env, TC_CLI_WRITE_MANIFEST: manifest },
      encoding: 'utf8',
    });
    if (r.status !== 0 || !existsSync(manifest))
      throw new Error(`the compiled CLI did not load: ${(r.stderr || r.error?.message || '').trim()}`);
    writeFileSync(join(tmp, '.built'), `${startedAt.toISOString()}\n`);
    // The stamp carries the time the build read the sources: an edit made meanwhile makes dist/ stale again.
    utimesSync(join(tmp, '.built'), startedAt, startedAt);
    const old = `${dist}.old-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    if (existsSync(dist)) renameSync(dist, old);
    renameSync(tmp, dist);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return Date.now() - startedAt.getTime();
}

/** For bin/ and the test setup: rebuilds dist/ when a source changed (one process builds, the others wait). */
export async function ensureFresh(root = ROOT) {
  if (!isStale(root)) return 0;
  return withLock(root, () => (isStale(root) ? build(root) : 0));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const ms = await withLock(ROOT, () => build(ROOT));
    process.stdout.write(ms === false ? 'dist/ kept (no esbuild in this install)\n' : `built dist/ in ${ms} ms\n`);
  } catch (err) {
    process.stderr.write(`build failed: ${err.message}\n`);
    process.exit(1);
  }
}
