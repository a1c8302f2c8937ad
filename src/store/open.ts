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
