import type { Queryable } from '../store/db.ts';

/**
 * Care managers simulated (for the demo and the benchmark): deterministic from each Task's identifier, so the
 * same data gives the same report. About 60% of Tasks are completed on time, 25% late, 15% never.
 */

/**
 * Sites' care managers act on the open Tasks of task_record: accepted a few hours after the Task was created,
 * then completed on time, late, or never. Only what has happened by `nowMs` is recorded. Returns the number of
 * Tasks completed.
 */
export async function simulateCareManagers(q: Queryable, nowMs: number): Promise<number> {
  const now = new Date(nowMs).toISOString();
  // u in [0, 1): the Task's fate; v in [0, 1): where in its window it happens.
  const plan = `
    WITH t AS (
      SELECT task_identifier, created_at, anchor_at, due_at,
        (abs(hashtext(task_identifier)) % 1000) / 1000.0 AS u,
        (abs(hashtext(task_identifier || ':when')) % 1000) / 1000.0 AS v
      FROM task_record WHERE status IN ('requested', 'received', 'accepted', 'in-progress')
    ), f AS (
      SELECT task_identifier,
        created_at + interval '2 hours' + (v * interval '6 hours') AS accepted_at,
        CASE WHEN u < 0.60 THEN GREATEST(created_at, anchor_at) + interval '3 hours'
                                + v * GREATEST(due_at - GREATEST(created_at, anchor_at) - interval '3 hours', interval '0')
             WHEN u < 0.85 THEN due_at + interval '1 hour' + v * interval '4 days'
             ELSE NULL END AS completed_at
      FROM t
    )`;
  await q.query(
    `${plan}
     INSERT INTO task_lifecycle (task_identifier, status, at, source)
     SELECT task_identifier, 'accepted', accepted_at, 'site' FROM f WHERE accepted_at <= $1
     UNION ALL
     SELECT task_identifier, 'completed', GREATEST(completed_at, accepted_at + interval '1 minute'), 'site' FROM f
       WHERE completed_at IS NOT NULL AND GREATEST(completed_at, accepted_at + interval '1 minute') <= $1
     ON CONFLICT DO NOTHING`,
    [now],
  );
  const r = await q.query(
    `${plan}
     UPDATE task_record r SET
       status = CASE WHEN c.done THEN 'completed' ELSE 'accepted' END,
       status_at = CASE WHEN c.done THEN c.completed ELSE f.accepted_at END,
       completed_at = CASE WHEN c.done THEN c.completed ELSE NULL END,
       first_activity_at = f.accepted_at
     FROM f, LATERAL (SELECT GREATEST(f.completed_at, f.accepted_at + interval '1 minute') AS completed,
                             f.completed_at IS NOT NULL AND GREATEST(f.completed_at, f.accepted_at + interval '1 minute') <= $1 AS done) c
     WHERE r.task_identifier = f.task_identifier AND f.accepted_at <= $1
     RETURNING c.done`,
    [now],
  );
  return r.rows.filter((x) => (x as { done: boolean }).done).length;
}

const MEASURES: [rule: string, code: string, measure: string, days: number | null, dueDays: number][] = [
  ['R7', 'tc-interactive-contact', 'TCM-CONTACT', null, 2],
  ['R8', 'tc-discharge-info-review', 'TRC-INFO', 2, 2],
  ['R9', 'tc-med-reconciliation', 'TCM-MEDREC', null, 7],
  ['R10', 'tc-followup-visit', 'TCM-VISIT', null, 7],
  ['R11', 'bh-followup-inpatient', 'FUH', 7, 7],
  ['R11-30d', 'bh-followup-inpatient-30d', 'FUH', 30, 30],
  ['R5', 'bh-followup-ed', 'FUM', 7, 7],
  ['R5-30d', 'bh-followup-ed-30d', 'FUM', 30, 30],
  ['R6', 'sud-followup-ed', 'FUA', 7, 7],
  ['R6-30d', 'sud-followup-ed-30d', 'FUA', 30, 30],
  ['R3', 'ed-followup-contact', 'ED-FU', 2, 2],
  ['R4', 'ed-followup-visit', 'ED-FU', 7, 7],
  ['R13', 'readmission-review', 'PCR', null, 2],
];

/**
 * Synthetic Tasks for the benchmark: `count` task_record rows (and their lifecycle) spread over `months` months
 * from `firstMonth` and the given sites, generated inside PostgreSQL (generate_series), then care managers
 * simulated. Deterministic.
 */
export async function generateTasks(
  q: Queryable,
  opts: { count: number; firstMonth: string; months: number; sites: { siteId: string; program: string }[] },
): Promise<void> {
  const m = MEASURES;
  const rules = `ARRAY[${m.map((x) => `'${x[0]}'`).join(',')}]`;
  const codes = `ARRAY[${m.map((x) => `'${x[1]}'`).join(',')}]`;
  const measures = `ARRAY[${m.map((x) => `'${x[2]}'`).join(',')}]`;
  const days = `ARRAY[${m.map((x) => (x[3] === null ? 'NULL' : String(x[3]))).join(',')}]::int[]`;
  const due = `ARRAY[${m.map((x) => String(x[4])).join(',')}]::int[]`;
  const sites = `ARRAY[${opts.sites.map((s) => `'${s.siteId}'`).join(',')}]`;
  const programs = `ARRAY[${opts.sites.map((s) => `'${s.program}'`).join(',')}]`;
  const start = `${opts.firstMonth}-01`;
  await q.query(
    `INSERT INTO task_record (task_identifier, participant_id, site_id, program, rule_id, code, measure, measure_days,
       complexity, visit_hash, anchor_at, due_at, priority, status, status_at, created_at)
     SELECT 'bench-' || i, 'BP' || (i / 7 % 200000), (${sites})[1 + (i / 7) % ${opts.sites.length}],
       (${programs})[1 + (i / 7) % ${opts.sites.length}],
       (${rules})[k], (${codes})[k], (${measures})[k], (${days})[k],
       CASE WHEN (${measures})[k] = 'TCM-VISIT' THEN CASE WHEN i % 5 = 0 THEN 'moderate' ELSE 'high' END END,
       'visit-' || (i / 7), a, a + ((${due})[k] * CASE WHEN (${measures})[k] = 'TCM-VISIT' AND i % 5 = 0 THEN 2 ELSE 1 END) * interval '1 day',
       'urgent', 'requested', a + interval '20 minutes', a + interval '20 minutes'
     FROM (
       SELECT i, 1 + (i % ${m.length}) AS k,
         ($1::date::timestamp AT TIME ZONE 'America/Chicago')
           + ((abs(hashtext(i::text)) % (${opts.months} * 30 * 24 * 60)) * interval '1 minute') AS a
       FROM generate_series(0, $2::int - 1) AS i
     ) g`,
    [start, opts.count],
  );
  await q.query(
    `INSERT INTO task_lifecycle (task_identifier, status, at, source)
     SELECT task_identifier, 'requested', created_at, 'planner' FROM task_record WHERE task_identifier LIKE 'bench-%'
     ON CONFLICT DO NOTHING`,
  );
}
