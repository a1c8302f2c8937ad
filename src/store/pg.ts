import pg from 'pg';
import type { Db, Queryable, QueryOptions, QueryResult } from './db.ts';
import { TcError } from '../util/errors.ts';

// BIGINT (int8) as string by default; COUNT(*) etc. are small, so parse int8 to number.
pg.types.setTypeParser(20, (v) => Number(v));

/** Errors worth retrying: connection trouble, serialization failures, deadlocks, server shutting down. */
const TRANSIENT_SQLSTATE = new Set([
  '40001',
  '40P01',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53300',
]);

export function classifyDbError(err: unknown): TcError {
  if (err instanceof TcError) return err;
  const e = err as { code?: string; message?: string };
  const transient =
    (e.code !== undefined && TRANSIENT_SQLSTATE.has(e.code)) ||
    // A table or column the engine expects is missing (class 42, 3D000, 3F000): the database is behind the engine's
    // migrations (a deploy in progress). Waiting is right; dead-lettering every message would not be.
    /^(42|3D|3F|53)/.test(e.code ?? '') ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(e.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
      e.message ?? '',
    );
  return new TcError(
    transient ? 'TC_DB_UNAVAILABLE' : 'TC_DB_ERROR',
    `database: ${e.code ?? ''} ${e.message ?? String(err)}`.trim(),
    transient ? 'transient' : 'permanent',
    { cause: err },
  );
}

function statement(text: string, params: readonly unknown[], options?: QueryOptions): pg.QueryConfig {
  return { text, values: params as unknown[], ...(options?.name ? { name: options.name } : {}) };
}

export class PgDb implements Db {
  readonly kind = 'pg' as const;
  readonly pool: pg.Pool;

  constructor(connectionString: string, options: { max?: number; schema?: string } = {}) {
    this.pool = new pg.Pool({
      connectionString,
      max: options.max ?? 10,
      connectionTimeoutMillis: 5_000,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    this.pool.on('error', () => {
      // An idle client lost its connection; the next query gets a fresh one.
    });
  }

  async query<T>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<T>> {
    try {
      const r = await this.pool.query(statement(sql, params, options));
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw classifyDbError(err);
    }
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw classifyDbError(err);
    }
    // A checked-out client has no pool 'error' listener: when the server goes away between two queries of the
    // transaction, its 'error' event would be uncaught and end the process. The failed query reports it instead.
    const onError = () => undefined;
    client.on('error', onError);
    const release = (destroy?: boolean) => {
      client.removeListener('error', onError);
      client.release(destroy);
    };
    const q: Queryable = {
      query: async <R>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) => {
        try {
          const r = await client.query(statement(sql, params, options));
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        } catch (err) {
          throw classifyDbError(err);
        }
      },
    };
    try {
      await client.query('BEGIN');
      const result = await fn(q);
      await client.query('COMMIT');
      release();
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
        release();
      } catch {
        release(true);
      }
      throw classifyDbError(err);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
