import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './db.ts';
import { TcError } from '../util/errors.ts';

const BYTEA = 17;
// PGlite's own bytea codecs build a string per byte (raw messages, the journal's ciphertext): Buffer's hex codec
// does the same in native code, tens of times faster.
const serializers = {
  [BYTEA]: (v: unknown) => {
    if (!(v instanceof Uint8Array))
      throw new TcError('TC_DB_ERROR', 'database: bytea parameter is not bytes', 'permanent');
    return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  },
};
const parsers = { [BYTEA]: (v: string) => new Uint8Array(Buffer.from(v.slice(2), 'hex')) };

/**
 * PGlite (PostgreSQL compiled to WASM, in process): the zero-setup default. One connection, so
 * transactions are serialised through a queue; the SQL is the same as for PostgreSQL 15.
 */
export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly pg: PGlite,
    private readonly onClose?: () => Promise<void>,
  ) {}

  /**
   * dataDir: a folder for durable state, or undefined for memory only. Use openDb (src/store/open.ts) for a folder:
   * it makes this process the folder's one owner, or talks to the owner that runs.
   */
  static async open(dataDir?: string, onClose?: () => Promise<void>): Promise<PgliteDb> {
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), serializers, parsers });
    return new PgliteDb(db, onClose);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async raw<T>(sql: string, params: readonly unknown[]): Promise<QueryResult<T>> {
    try {
      if (params.length === 0) {
        // exec() takes several statements (migrations); query() is one prepared statement.
        const results = await this.pg.exec(sql);
        const last = results[results.length - 1];
        return { rows: (last?.rows ?? []) as T[], rowCount: Math.max(last?.affectedRows ?? 0, last?.rows.length ?? 0) };
      }
      const r = await this.pg.query<T>(sql, params as unknown[]);
      // pg counts the rows a SELECT returned; PGlite reports affectedRows 0 there.
      return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
    } catch (err) {
      throw new TcError('TC_DB_ERROR', `database: ${(err as Error).message}`, 'permanent', { cause: err });
    }
  }

  query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    return this.serial(() => this.raw<T>(sql, params));
  }

  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await this.raw('BEGIN', []);
      try {
        const result = await fn({
          query: <R>(sql: string, params: readonly unknown[] = []) => this.raw<R>(sql, params),
        });
        await this.raw('COMMIT', []);
        return result;
      } catch (err) {
        await this.raw('ROLLBACK', []).catch(() => undefined);
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.pg.close();
    await this.onClose?.();
  }
}
