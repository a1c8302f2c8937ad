import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/kafka/broker.ts';

/**
 * A private PostgreSQL 15 instance for drills that stop and start the database: its own data directory (initdb
 * into a temp dir, trust auth) on a free loopback port. Never the machine's shared server on 5432, which other
 * tests use. Run as the `postgres` user when the tests run as root (initdb refuses root).
 */
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  dataDir: string;
  /** pg_ctl stop -m fast (connections are terminated); the data stays. */
  stop(): Promise<void>;
  /** pg_ctl start -w on the same port and data. */
  start(): Promise<void>;
  running(): boolean;
  /** Stops (if running) and removes the data directory. */
  destroy(): Promise<void>;
}

export function privatePostgresUnavailableReason(): string | undefined {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'pg_ctl')))
    return `no PostgreSQL binaries in ${PG_BIN} (set PG_BIN)`;
  if (process.getuid?.() === 0 && runAsIds() === undefined) return 'running as root and there is no postgres user';
  return undefined;
}

function runAsIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined, what: string): void {
  const opts: SpawnSyncOptions = { encoding: 'utf8', timeout: 120_000, ...(ids ? ids : {}) };
  const r = spawnSync(join(PG_BIN, cmd), args, opts);
  if (r.error || r.status !== 0)
    throw new Error(`${what} failed (${r.status}): ${String(r.stderr ?? r.error).slice(0, 1000)}`);
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const ids = runAsIds();
  const dataDir = mkdtemp();
  if (ids) chownSync(dataDir, ids.uid, ids.gid);
  const pgdata = join(dataDir, 'data');
  run(
    'initdb',
    ['-D', pgdata, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'],
    ids,
    'initdb',
  );
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dataDir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=100',
  ].join(' ');
  let up = false;
  const start = async () => {
    run(
      'pg_ctl',
      ['-D', pgdata, '-o', options, '-l', join(dataDir, 'postgres.log'), '-w', '-t', '60', 'start'],
      ids,
      'pg_ctl start',
    );
    up = true;
  };
  const stop = async () => {
    if (!up) return;
    run('pg_ctl', ['-D', pgdata, '-m', 'fast', '-w', '-t', '60', 'stop'], ids, 'pg_ctl stop');
    up = false;
  };
  await start();
  // No orphan postmaster if the test process dies without afterAll.
  const onExit = () => {
    if (up) spawnSync(join(PG_BIN, 'pg_ctl'), ['-D', pgdata, '-m', 'immediate', 'stop'], { ...(ids ?? {}) });
  };
  process.once('exit', onExit);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop,
    start,
    running: () => up,
    destroy: async () => {
      try {
        await stop();
      } finally {
        process.removeListener('exit', onExit);
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

function mkdtemp(): string {
  return mkdtempSync(join(tmpdir(), 'tc-pg-'));
}
