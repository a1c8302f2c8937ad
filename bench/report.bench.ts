/**
 * npm run bench:report — 1,000,000 Tasks with lifecycles (generated inside PostgreSQL, care managers simulated)
 * and the monthly compliance report over them on PostgreSQL (DATABASE_URL, default the local server; a database
 * of its own, tc_bench_report_<pid>, dropped at the end). The table is vacuumed and analysed once generated, as
 * autovacuum would have done after a million inserts and updates. Goal: the report < 5 s. Environment: TASKS
 * (default 1,000,000), MONTHS (default 12). Each report is given in wall seconds and in CPU-seconds of the
 * PostgreSQL backend that ran it (/proc, the server is local; parallel workers not included) plus this process.
 * Last line: `report: <S> s for <N> Tasks`.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { complianceReport } from '../src/report/compliance.ts';
import { generateTasks, simulateCareManagers } from '../src/report/simulate.ts';
import { migrate } from '../src/store/migrate.ts';
import { PgDb } from '../src/store/pg.ts';

const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const count = Number(process.env.TASKS ?? 1_000_000);
const monthsN = Number(process.env.MONTHS ?? 12);
const database = `tc_bench_report_${process.pid}`;
const url = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
})();
const sites = [
  ['pchh-springfield-north', 'PCHH'],
  ['pchh-kc-east', 'PCHH'],
  ['pchh-columbia-central', 'PCHH'],
  ['pchh-stl-south', 'PCHH'],
  ['cmhc-burrell-springfield', 'CMHC'],
  ['cmhc-compass-columbia', 'CMHC'],
].map(([siteId, program]) => ({ siteId: siteId!, program: program! }));

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${database}`);
const db = new PgDb(url, { max: 1 }); // one backend: its CPU is the report's
/** CPU-seconds of a local process (utime + stime, clock ticks of 1/100 s). */
const procCpu = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
};
const clientCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
let backend = 0;
const cpuNow = () => procCpu(backend) + clientCpu();
try {
  await migrate(db);
  let t = performance.now();
  await generateTasks(db, { count, firstMonth: '2026-01', months: monthsN, sites });
  await simulateCareManagers(db, Date.parse('2027-03-01T00:00:00Z'));
  await db.query('VACUUM ANALYZE task_record');
  await db.query('VACUUM ANALYZE task_lifecycle');
  const lifecycle = await db.query<{ n: string }>('SELECT count(*) AS n FROM task_lifecycle');
  console.log(
    `generated ${count} Tasks, ${lifecycle.rows[0]!.n} lifecycle rows in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  backend = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  // One month (the monthly report), then the whole year.
  t = performance.now();
  let c = cpuNow();
  const month = await complianceReport(db, {
    from: '2026-06-01',
    to: '2026-06-30',
    providerOf: (s) => `prov-${s.split('-')[1]}`,
    participants: [],
  });
  const monthS = (performance.now() - t) / 1000;
  const monthCpu = cpuNow() - c;
  const inMonth = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM task_record WHERE anchor_at >= '2026-06-01T05:00:00Z' AND anchor_at < '2026-07-01T05:00:00Z'`,
  );
  console.log(
    `monthly report (2026-06, ${inMonth.rows[0]!.n} Tasks in the month, ${month.rows.length} rows): ${monthS.toFixed(2)} s wall, ${monthCpu.toFixed(2)} CPU-s`,
  );
  t = performance.now();
  c = cpuNow();
  const year = await complianceReport(db, {
    from: '2026-01-01',
    to: '2026-12-31',
    providerOf: (s) => `prov-${s.split('-')[1]}`,
    participants: [],
  });
  const yearS = (performance.now() - t) / 1000;
  const yearCpu = cpuNow() - c;
  console.log(
    `whole-period report (${monthsN} months, ${year.rows.length} rows): ${yearS.toFixed(2)} s wall, ${yearCpu.toFixed(2)} CPU-s`,
  );
  console.log(`report: ${monthS.toFixed(2)} s for ${count} Tasks`);
} finally {
  await db.close();
  await admin.query(`DROP DATABASE IF EXISTS ${database}`);
  await admin.end();
}
