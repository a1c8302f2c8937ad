import { describe, expect, it } from 'vitest';
import { PgliteDb } from '../../src/store/pglite.ts';

describe('PGlite bytea codec (Buffer hex, not a string per byte)', () => {
  it('round-trips every byte value, and a Buffer slice sends only its own bytes', async () => {
    const db = await PgliteDb.open();
    try {
      await db.query('CREATE TABLE b (id int PRIMARY KEY, v bytea)');
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = Buffer.concat([Buffer.from('HEAD'), all, Buffer.from('TAIL')]);
      const slice = big.subarray(4, 4 + 256); // byteOffset 4 in a larger buffer, as Kafka hands messages over
      await db.query('INSERT INTO b VALUES ($1, $2), ($3, $4), ($5, $6)', [1, all, 2, slice, 3, new Uint8Array()]);
      const r = await db.query<{ id: number; v: Uint8Array; n: number }>(
        'SELECT id, v, length(v) AS n FROM b ORDER BY id',
      );
      expect(r.rows.map((x) => x.n)).toEqual([256, 256, 0]);
      expect(Buffer.from(r.rows[0]!.v).equals(all)).toBe(true);
      expect(Buffer.from(r.rows[1]!.v).equals(all)).toBe(true);
      expect(r.rows[0]!.v).toBeInstanceOf(Uint8Array);
      await expect(db.query('INSERT INTO b VALUES ($1, $2)', [4, 'not bytes'])).rejects.toThrow(/bytea/);
    } finally {
      await db.close();
    }
  });
});
