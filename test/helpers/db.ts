import pg from 'pg';
import type { Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { PgDb } from '../../src/store/pg.ts';
import { PgliteDb } from '../../src/store/pglite.ts';

/** PostgreSQL 15 of the build machines; override with TEST_DATABASE_URL. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgAvailable: Promise<boolean> | undefined;
export function postgresAvailable(): Promise<boolean> {
  pgAvailable ??= (async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2_000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return pgAvailable;
}

/** A fresh, migrated PostgreSQL schema of its own (dropped by the returned cleanup). */
export async function freshPgDb(max = 5): Promise<{ db: PgDb; drop: () => Promise<void> }> {
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = new PgDb(TEST_DATABASE_URL, { schema, max });
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

export async function freshPgliteDb(): Promise<PgliteDb> {
  const db = await PgliteDb.open();
  await migrate(db);
  return db;
}

/**
 * The database kinds a store test runs against: PGlite always; PostgreSQL when it answers.
 * Under CI=true PostgreSQL is required, so a missing server fails instead of skipping.
 */
export async function dbKinds(): Promise<('pglite' | 'pg')[]> {
  if (await postgresAvailable()) return ['pglite', 'pg'];
  if (process.env.CI === 'true')
    throw new Error(`PostgreSQL is required under CI=true but ${TEST_DATABASE_URL} does not answer`);
  console.warn(`[skip] PostgreSQL at ${TEST_DATABASE_URL} does not answer: store tests run on PGlite only`);
  return ['pglite'];
}

export async function openTestDb(kind: 'pglite' | 'pg'): Promise<{ db: Db; close: () => Promise<void> }> {
  if (kind === 'pglite') {
    const db = await freshPgliteDb();
    return { db, close: () => db.close() };
  }
  const { db, drop } = await freshPgDb();
  return { db, close: drop };
}
