/**
 * What bench:pipeline and bench:pipeline:write measure, from `<PREFIX>_DBS` (default: pglite, and pg when
 * DATABASE_URL is set) and `<PREFIX>_JOURNAL` (default "on,off"). pg without DATABASE_URL is refused.
 */
export function pipelineChoices(prefix: 'PIPELINE' | 'WRITE'): { dbs: ('pg' | 'pglite')[]; journal: ('on' | 'off')[] } {
  const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').filter(Boolean);
  const dbs = list(`${prefix}_DBS`, process.env.DATABASE_URL ? 'pglite,pg' : 'pglite') as ('pg' | 'pglite')[];
  const journal = list(`${prefix}_JOURNAL`, 'on,off') as ('on' | 'off')[];
  if (dbs.includes('pg') && !process.env.DATABASE_URL)
    throw new Error(`${prefix}_DBS includes pg: set DATABASE_URL (postgres://…)`);
  return { dbs, journal };
}
