/**
 * The database port: one PostgreSQL dialect (PostgreSQL 15 syntax) for `pg` in production and
 * PGlite as the zero-setup default. Adapters: src/store/pg.ts and src/store/pglite.ts.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/**
 * name: for a hot statement whose text never changes (one name per text), so PostgreSQL parses and plans it once
 * per connection instead of on every call. PGlite ignores it.
 */
export interface QueryOptions {
  name?: string;
}

/** Rows as one array per column: the parameters of an `INSERT … SELECT * FROM unnest($1::t[], …)`. */
export function byColumn(rows: readonly (readonly unknown[])[], width: number): unknown[][] {
  return Array.from({ length: width }, (_, k) => rows.map((r) => r[k]));
}

export interface Queryable {
  query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<T>>;
}

export interface Db extends Queryable {
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  readonly kind: 'pg' | 'pglite';
}
