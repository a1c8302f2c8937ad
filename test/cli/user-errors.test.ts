import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/kafka/broker.ts';
import { openDb } from '../../src/store/open.ts';
import { siteDirectoryOnFreePorts } from '../helpers/sites.ts';
import { scaled } from '../helpers/time.ts';

const baseEnv = (): NodeJS.ProcessEnv => ({ ...process.env, DATABASE_URL: '', DATABASE_URL_FILE: '' });

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['bin/tc-alerts.js', ...args], {
    encoding: 'utf8',
    env: { ...baseEnv(), ...env },
    timeout: scaled(180_000),
  });
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at [\w.<]+ \(|node:internal/);

describe('mistakes a user can make get one line naming the thing, and an exit code that means something', () => {
  const data = mkdtempSync(join(tmpdir(), 'tc-usererr-'));
  const dir = join(data, 'pglite');

  it(
    'deliveries retry/show of an id that matches nothing: exit 2 naming the id (also past the id range)',
    async () => {
      await (await openDb({ dataDir: dir, createdBy: 'test' })).close();
      for (const args of [
        ['deliveries', 'retry', '99999999999999999999'],
        ['deliveries', 'retry', '42'],
        ['deliveries', 'show', '99999999999999999999'],
      ]) {
        const r = cli([...args, '--data-dir', dir]);
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`no outbox item ${args[2]}`));
        expect(r.stdout).not.toMatch(/queued again/);
        noStack(r.stderr);
      }
      const site = cli(['deliveries', 'retry', '--site', 'no-such-site', '--data-dir', dir]);
      expect(site.status).toBe(2);
      expect(site.stderr).toMatch(/no outbox items for site no-such-site/);
    },
    scaled(180_000),
  );

  it('replay and convert of a path that does not exist name the path', () => {
    for (const args of [
      ['replay', '--brokers', '127.0.0.1:9', '/no/such/feed'],
      ['convert', '/no/such/feed'],
    ]) {
      const r = cli(args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/\/no\/such\/feed: does not exist/);
      noStack(r.stderr);
    }
  });

  it(
    '`convert … | head` ends quietly when the reader goes away (no EPIPE)',
    async () => {
      const child = spawn(process.execPath, ['bin/tc-alerts.js', 'convert', 'fixtures'], {
        env: baseEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      // Read the first chunk, then close the pipe, as `head -c` does.
      await new Promise<void>((res) => child.stdout.once('data', () => res()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
      expect(err).not.toMatch(/EPIPE|Unhandled|node:events/);
      expect([0, 2]).toContain(code);
    },
    scaled(120_000),
  );

  it(
    'npm start with its HTTP port busy names the port, and erases nothing',
    async () => {
      const stack = mkdtempSync(join(tmpdir(), 'tc-busy-'));
      const sitesDir = mkdtempSync(join(tmpdir(), 'tc-busy-sites-'));
      await siteDirectoryOnFreePorts(sitesDir);
      // A database left by an earlier npm start: erased only once the stack knows it can start.
      await (await openDb({ dataDir: join(stack, 'pglite'), createdBy: 'start' })).close();
      const port = await freePort();
      const holder = net.createServer().listen(port, '127.0.0.1');
      await new Promise((r) => holder.once('listening', r));
      try {
        const r = cli(['start', '--no-kafka', '--port', String(port)], { TC_DATA_DIR: stack, TC_SITES_DIR: sitesDir });
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`port already in use: 127\\.0\\.0\\.1:${port} \\(/healthz`));
        noStack(r.stderr);
      } finally {
        holder.close();
      }
      expect(existsSync(join(stack, 'pglite', 'PG_VERSION'))).toBe(true);
      expect(readdirSync(stack)).toEqual(['pglite']);
    },
    scaled(180_000),
  );
});
