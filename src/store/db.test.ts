import { describe, expect, it } from 'vitest';
import { openTestDb, postgresAvailable } from '../../test/helpers/db.ts';

const kinds = ['pglite', ...((await postgresAvailable()) || process.env.CI === 'true' ? ['pg' as const] : [])] as const;

describe.each(kinds)('Db port on %s', (kind) => {
  it('commits a transaction that resolves and rolls back one that throws', async () => {
    const { db, close } = await openTestDb(kind);
    try {
      await db.query('CREATE TABLE t (id INT PRIMARY KEY, v JSONB)');
      await db.tx(async (q) => {
        await q.query('INSERT INTO t VALUES ($1, $2)', [1, JSON.stringify({ a: 1 })]);
      });
      await expect(
        db.tx(async (q) => {
          await q.query('INSERT INTO t VALUES ($1, $2)', [2, '{}']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      const rows = (await db.query<{ id: number; v: { a: number } }>('SELECT id, v FROM t ORDER BY id')).rows;
      expect(rows).toEqual([{ id: 1, v: { a: 1 } }]);
      const migrated = await db.query<{ name: string }>('SELECT name FROM schema_migrations');
      expect(migrated.rows.map((r) => r.name)).toContain('001_base.sql');
    } finally {
      await close();
    }
  });
});
