import { existsSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../util/user-error.ts';

/**
 * One owner per embedded PGlite folder. PGlite is one process's database: two processes opening one folder lose
 * each other's writes. The owner writes tc-alerts.lock (pid, host, socket); every other process talks to the owner
 * through that socket (src/store/pglite-socket.ts) instead of opening the files. tc-alerts.json marks the folder as
 * ours (who created it), so a mistyped path to some other folder is refused instead of filled with a database.
 */
export const MARK_FILE = 'tc-alerts.json';
export const LOCK_FILE = 'tc-alerts.lock';

export interface FolderMark {
  createdBy: string;
  createdAt: string;
}

export interface OwnerInfo {
  pid: number;
  host: string;
  command: string;
  socket?: string;
}

export type FolderState = 'absent' | 'empty' | 'ours' | 'file' | 'foreign';

export function folderState(dir: string): FolderState {
  if (!existsSync(dir)) return 'absent';
  if (!statSync(dir).isDirectory()) return 'file';
  const names = readdirSync(dir);
  if (names.length === 0) return 'empty';
  // PG_VERSION: a PGlite folder made before the mark existed (same engine, adopted).
  if (names.includes(MARK_FILE) || names.includes('PG_VERSION')) return 'ours';
  return 'foreign';
}

export function readMark(dir: string): FolderMark | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MARK_FILE), 'utf8')) as FolderMark;
  } catch {
    return undefined;
  }
}

/** Refuses a path that is a file or a folder of something else, naming it. */
export function assertUsableFolder(dir: string): void {
  const state = folderState(dir);
  if (state === 'file') throw new UserError(`${dir}: is a file, not a database folder (--data-dir / TC_DATA_DIR)`);
  if (state === 'foreign')
    throw new UserError(
      `${dir}: is not a tc-alerts database (not empty, no ${MARK_FILE}); refusing to create one inside it: give a new or empty folder`,
    );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live owner of the folder, if another process holds it (a lock left by a dead process does not count). */
export function liveOwner(dir: string): OwnerInfo | undefined {
  let info: OwnerInfo;
  try {
    info = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as OwnerInfo;
  } catch {
    return undefined;
  }
  if (info.host !== hostname() || info.pid === process.pid) return info.pid === process.pid ? undefined : info;
  return alive(info.pid) ? info : undefined;
}

/** Where the owner listens: in the folder, or (a Unix socket path is limited to ~100 bytes) in the temp folder. */
export function socketPathFor(dir: string): string {
  const inside = join(resolve(dir), '.s.tc-alerts');
  if (process.platform === 'win32')
    return `\\\\.\\pipe\\tc-alerts-${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)}`;
  if (Buffer.byteLength(inside) < 100) return inside;
  return join(tmpdir(), `tc-alerts-${createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)}.sock`);
}

function commandLine(): string {
  return process.argv.slice(2, 4).join(' ') || 'tc-alerts';
}

/**
 * Takes the folder for this process: true if taken, false if a live process already owns it. A lock of a dead
 * process is replaced. The lock is written exclusively, so of two processes starting at once only one wins.
 */
export function claimFolder(dir: string, socket: string): boolean {
  const file = join(dir, LOCK_FILE);
  const mine: OwnerInfo = { pid: process.pid, host: hostname(), command: commandLine(), socket };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(mine) + '\n', { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (liveOwner(dir)) return false;
      rmSync(file, { force: true }); // left by a process that died
    }
  }
  return false;
}

export function releaseFolder(dir: string): void {
  const file = join(dir, LOCK_FILE);
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as OwnerInfo;
    if (info.pid === process.pid && info.host === hostname()) unlinkSync(file);
  } catch {
    /* not ours or gone */
  }
}

export function markFolder(dir: string, createdBy: string): void {
  if (!existsSync(join(dir, MARK_FILE)))
    writeFileSync(join(dir, MARK_FILE), JSON.stringify({ createdBy, createdAt: new Date().toISOString() }) + '\n');
}

/** Who created the folder, for messages (the first command that opened it). */
export function creatorOf(dir: string): string {
  return readMark(dir)?.createdBy ?? 'an earlier tc-alerts';
}
