import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/open.ts';
import { rosterStats } from '../../src/store/roster-repo.ts';
import { startCli } from '../helpers/processes.ts';
import { scaled } from '../helpers/time.ts';

const env = (): NodeJS.ProcessEnv => ({ DATABASE_URL: '', DATABASE_URL_FILE: '' });

async function cli(args: string[], more: NodeJS.ProcessEnv = {}): Promise<{ code: number | string; out: string }> {
  const p = startCli(args, { ...env(), ...more });
  const code = await p.exited();
  return { code, out: p.output() };
}

function cliSync(args: string[]) {
  return spawnSync(process.execPath, ['bin/tc-alerts.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env() },
    timeout: scaled(120_000),
  });
}

describe('one owner per embedded PGlite folder', () => {
  it(
    'a second process writes through the running owner, and the write is still there after the owner stops',
    async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'tc-owner-')), 'pglite');
      const owner = await openDb({ dataDir: dir, createdBy: 'test' });
      try {
        const load = await cli(['roster', 'load', 'fixtures/roster/roster.csv', '--data-dir', dir]);
        expect(load.code, load.out).toBe(0);
        // The owner sees the other process's write at once: it was made in the owner's database, not in a copy.
        expect((await rosterStats(owner)).version).toBe(1);
        const stats = await cli(['roster', 'stats', '--data-dir', dir]);
        expect(stats.code, stats.out).toBe(0);
        expect(stats.out).toMatch(/"version":1\b/);
      } finally {
        await owner.close();
      }
      const again = await openDb({ dataDir: dir });
      try {
        expect((await rosterStats(again)).version).toBe(1);
      } finally {
        await again.close();
      }
    },
    scaled(120_000),
  );

  it(
    'npm start refuses a folder another process owns, naming the process',
    async () => {
      const data = mkdtempSync(join(tmpdir(), 'tc-owner-'));
      const owner = await openDb({ dataDir: join(data, 'pglite'), createdBy: 'start' });
      try {
        // Refused before any port is bound (the site simulators' fixed ports stay untouched).
        const r = await cli(['start', '--no-kafka', '--port', '0'], { TC_DATA_DIR: data });
        expect(r.code).toBe(1);
        expect(r.out).toMatch(/pglite: is in use by tc-alerts .*\(pid \d+/);
      } finally {
        await owner.close();
      }
      // Nothing was erased: the owner's folder is intact.
      expect(readdirSync(join(data, 'pglite'))).toContain('PG_VERSION');
    },
    scaled(120_000),
  );
});

describe('the data folder a command is given', () => {
  const base = mkdtempSync(join(tmpdir(), 'tc-datadir-'));

  it('a reading command does not create a database in a mistyped folder: it says so (exit 1)', () => {
    const r = cliSync(['review', 'list', '--data-dir', join(base, 'typo')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/typo: no tc-alerts database here/);
    expect(readdirSync(base)).not.toContain('typo');
  });

  it('a file given as --data-dir is named, not a stack trace', () => {
    writeFileSync(join(base, 'a-file'), 'x');
    const r = cliSync(['deliveries', 'list', '--data-dir', join(base, 'a-file')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a-file: is a file, not a database folder/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a folder that is not ours is refused, and nothing is created inside it', () => {
    const other = join(base, 'photos');
    mkdirSync(other);
    writeFileSync(join(other, 'holiday.jpg'), 'x');
    const r = cliSync(['roster', 'load', 'fixtures/roster/roster.csv', '--data-dir', other]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/photos: is not a tc-alerts database/);
    expect(readdirSync(other)).toEqual(['holiday.jpg']);
  });

  it(
    'the default folder follows TC_DATA_DIR, the one npm start uses (<TC_DATA_DIR>/pglite)',
    async () => {
      const data = mkdtempSync(join(tmpdir(), 'tc-default-'));
      const owner = await openDb({ dataDir: join(data, 'pglite'), createdBy: 'start' });
      try {
        const p = startCli(['roster', 'stats'], { ...env(), TC_DATA_DIR: data });
        const code = await p.exited();
        expect(code, p.output()).toBe(0);
        expect(p.output()).toMatch(/"version":0\b/);
      } finally {
        await owner.close();
      }
    },
    scaled(120_000),
  );
});
