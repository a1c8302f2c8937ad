/**
 * npm run bench:report — 1,000,000 Tasks with lifecycles (generated inside PostgreSQL, care managers simulated)
 * and the monthly compliance report over them on PostgreSQL (DATABASE_URL, default the local test database, a
 * schema of its own, dropped at the end). Goal: the report < 5 s. Environment: TASKS (default 1,000,000),
 * MONTHS (default 12). Last line: `report: <S> s for <N> Tasks`.
 */
import pg from 'pg';
import { complianceReport } from '../src/report/compliance.ts';
import { generateTasks, simulateCareManagers } from '../src/report/simulate.ts';
import { migrate } from '../src/store/migrate.ts';
import { PgDb } from '../src/store/pg.ts';

const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const count = Number(process.env.TASKS ?? 1_000_000);
const monthsN = Number(process.env.MONTHS ?? 12);
const schema = `bench_report_${process.pid}`;
const sites = [
  ['pchh-springfield-north', 'PCHH'],
  ['pchh-kc-east', 'PCHH'],
  ['pchh-columbia-central', 'PCHH'],
  ['pchh-stl-south', 'PCHH'],
  ['cmhc-burrell-springfield', 'CMHC'],
  ['cmhc-compass-columbia', 'CMHC'],
].map(([siteId, program]) => ({ siteId: siteId!, program: program! }));

const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`CREATE SCHEMA ${schema}`);
const db = new PgDb(url, { schema, max: 2 });
try {
  await migrate(db);
  let t = performance.now();
  await generateTasks(db, { count, firstMonth: '2026-01', months: monthsN, sites });
  await simulateCareManagers(db, Date.parse('2027-03-01T00:00:00Z'));
  await db.query('ANALYZE task_record');
  const lifecycle = await db.query<{ n: string }>('SELECT count(*) AS n FROM task_lifecycle');
  console.log(
    `generated ${count} Tasks, ${lifecycle.rows[0]!.n} lifecycle rows in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  // One month (the monthly report), then the whole year.
  t = performance.now();
  const month = await complianceReport(db, {
    from: '2026-06-01',
    to: '2026-06-30',
    providerOf: (s) => `prov-${s.split('-')[1]}`,
    participants: [],
  });
  const monthS = (performance.now() - t) / 1000;
  const inMonth = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM task_record WHERE anchor_at >= '2026-06-01T05:00:00Z' AND anchor_at < '2026-07-01T05:00:00Z'`,
  );
  console.log(
    `monthly report (2026-06, ${inMonth.rows[0]!.n} Tasks in the month, ${month.rows.length} rows): ${monthS.toFixed(2)} s`,
  );
  t = performance.now();
  const year = await complianceReport(db, {
    from: '2026-01-01',
    to: '2026-12-31',
    providerOf: (s) => `prov-${s.split('-')[1]}`,
    participants: [],
  });
  const yearS = (performance.now() - t) / 1000;
  console.log(`whole-period report (${monthsN} months, ${year.rows.length} rows): ${yearS.toFixed(2)} s`);
  console.log(`report: ${monthS.toFixed(2)} s for ${count} Tasks`);
} finally {
  await db.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
}
