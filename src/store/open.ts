import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db.ts';
import {
  assertUsableFolder,
  claimFolder,
  folderState,
  liveOwner,
  markFolder,
  releaseFolder,
  socketPathFor,
  type OwnerInfo,
} from './folder-owner.ts';
import { migrate } from './migrate.ts';
import { PgDb } from './pg.ts';
import { PgliteDb } from './pglite.ts';
import { RemotePgliteDb, serveDb } from './pglite-socket.ts';
import { databaseUrlFromEnv } from './database-url.ts';
import { UserError } from '../util/user-error.ts';

export interface OpenDbOptions {
  databaseUrl?: string;
  dataDir?: string;
  schema?: string;
  /** Who creates a new PGlite folder (kept in its tc-alerts.json; `npm start` erases only what it created). */
  createdBy?: string;
  /** When another process owns dataDir: talk to it (default), or refuse. */
  ifOwned?: 'connect' | 'refuse';
  /** Create the database when the folder is new (default); false: a missing database is an error naming the folder. */
  create?: boolean;
}

/**
 * DATABASE_URL (postgres://…) selects PostgreSQL; otherwise PGlite in dataDir (or memory when omitted). A PGlite
 * folder has one owner: the first process opens the files and serves them on a local socket; every other process
 * gets the owner's database through that socket.
 */
export async function openDb(options: OpenDbOptions = {}): Promise<Db> {
  if (options.databaseUrl) {
    const db = new PgDb(options.databaseUrl, options.schema ? { schema: options.schema } : {});
    await migrate(db);
    return db;
  }
  if (!options.dataDir) {
    const db = await PgliteDb.open();
    await migrate(db);
    return db;
  }
  if (options.create === false && ['absent', 'empty'].includes(folderState(options.dataDir)))
    throw new UserError(
      `${options.dataDir}: no tc-alerts database here yet (check --data-dir or TC_DATA_DIR; \`npm start\`, \`tc-alerts run\` and \`roster load\` create it)`,
    );
  return openPgliteFolder(options.dataDir, options.createdBy ?? commandName(), options.ifOwned ?? 'connect');
}

function commandName(): string {
  return process.argv.slice(2, 4).join(' ') || 'tc-alerts';
}

function describe(owner: OwnerInfo): string {
  return `tc-alerts ${owner.command} (pid ${owner.pid}${owner.host ? ` on ${owner.host}` : ''})`;
}

async function openPgliteFolder(dir: string, createdBy: string, ifOwned: 'connect' | 'refuse'): Promise<Db> {
  assertUsableFolder(dir);
  const socket = socketPathFor(dir);
  const until = Date.now() + 15_000;
  for (;;) {
    const owner = liveOwner(dir);
    if (owner) {
      if (ifOwned === 'refuse') throw new UserError(`${dir}: is in use by ${describe(owner)}: stop it first`);
      if (owner.socket) {
        try {
          return await RemotePgliteDb.connect(owner.socket, describe(owner));
        } catch {
          /* the owner is still starting its socket, or is stopping: try again below */
        }
      }
      if (Date.now() > until)
        throw new UserError(
          `${dir}: is in use by ${describe(owner)}, which does not answer on ${owner.socket ?? 'its socket'}`,
        );
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    mkdirSync(dir, { recursive: true });
    if (!claimFolder(dir, socket)) continue; // another process took it a moment ago: talk to it
    break;
  }
  let server: { close(): Promise<void> } | undefined;
  let db: PgliteDb;
  try {
    db = await PgliteDb.open(dir, async () => {
      await server?.close();
      releaseFolder(dir);
    });
    markFolder(dir, createdBy);
    await migrate(db);
    server = await serveDb(db, socket);
  } catch (err) {
    releaseFolder(dir);
    throw err;
  }
  return db;
}

/** The PGlite folder of `run`, `npm start` and the operator commands: <TC_DATA_DIR or .data>/pglite. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.TC_DATA_DIR || '.data', 'pglite');
}

/**
 * For one CLI command: DATABASE_URL (or DATABASE_URL_FILE) if set, else PGlite in dataDir; closed when fn settles.
 * Only commands that write a first state create the database (`create: true`, e.g. roster load): a command that
 * reads is refused a folder without one, so a mistyped --data-dir says so instead of answering "0 item(s)".
 */
export async function withDb<T>(
  dataDir: string | undefined,
  fn: (db: Db) => Promise<T>,
  options: { create?: boolean } = {},
): Promise<T> {
  const url = databaseUrlFromEnv();
  const db = await openDb(
    url ? { databaseUrl: url } : { dataDir: dataDir ?? defaultDataDir(), create: options.create ?? false },
  );
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
