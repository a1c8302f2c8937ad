import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { PgDb } from './pg.ts';
import { PgliteDb } from './pglite.ts';

/** DATABASE_URL (postgres://…) selects PostgreSQL; otherwise PGlite in dataDir (or memory when omitted). */
export async function openDb(options: { databaseUrl?: string; dataDir?: string; schema?: string } = {}): Promise<Db> {
  const db = options.databaseUrl
    ? new PgDb(options.databaseUrl, options.schema ? { schema: options.schema } : {})
    : await PgliteDb.open(options.dataDir);
  await migrate(db);
  return db;
}

/** The engine's default PGlite folder, shared by `run` and the operator commands (roster, review, deliveries). */
export const DEFAULT_PGLITE_DIR = '.data/pglite';

/** For one CLI command: DATABASE_URL if set, else PGlite in dataDir; closed when fn settles. */
export async function withDb<T>(dataDir: string | undefined, fn: (db: Db) => Promise<T>): Promise<T> {
  const url = process.env.DATABASE_URL;
  const db = await openDb(url ? { databaseUrl: url } : { dataDir: dataDir ?? DEFAULT_PGLITE_DIR });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
