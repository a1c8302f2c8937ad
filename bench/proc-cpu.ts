/** CPU time of processes from /proc (Linux), for the benches that count more than their own process. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) a process has used so far; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

/** CPU seconds of the PostgreSQL backends serving one database (the server is a process of its own), by pid. */
export async function serverCpu(
  query: (sql: string, params: unknown[]) => Promise<{ pid: number }[]>,
  db: string,
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const { pid } of await query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [db])) {
    const s = cpuSeconds(pid);
    if (s !== undefined) out.set(pid, s);
  }
  return out;
}

/** CPU seconds between two serverCpu readings (a backend that started in between counts from zero). */
export const cpuDelta = (a: Map<number, number>, b: Map<number, number>) =>
  [...b].reduce((sum, [pid, s]) => sum + s - (a.get(pid) ?? 0), 0);
