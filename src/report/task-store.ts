import type { PlannedTask } from '../care/types.ts';
import { effectiveTiming } from '../care/task-shape.ts';
import type { Queryable } from '../store/db.ts';
import { stableId } from '../util/hash.ts';

/**
 * The Task lifecycle kept for follow-up compliance (migration 060): task_record (one typed row per Task) and
 * task_lifecycle (each status reached, with its time and who set it). Codes and times only, no free text.
 */
export type LifecycleStatus =
  | 'requested'
  | 'received'
  | 'accepted'
  | 'in-progress'
  | 'on-hold'
  | 'completed'
  | 'failed'
  | 'rejected'
  | 'cancelled'
  | 'entered-in-error';

export const OPEN_STATUSES: readonly LifecycleStatus[] = [
  'requested',
  'received',
  'accepted',
  'in-progress',
  'on-hold',
];
const ACTIVITY: readonly LifecycleStatus[] = ['accepted', 'in-progress', 'completed'];

/** Records Tasks the planner created or cancelled (inside the transaction that saved them). */
export async function recordPlannedTasks(q: Queryable, tasks: readonly PlannedTask[], nowMs: number): Promise<void> {
  if (!tasks.length) return;
  const now = new Date(nowMs).toISOString();
  const params: unknown[] = [];
  const rows: string[] = [];
  const events: string[] = [];
  const ev: unknown[] = [];
  for (const t of tasks) {
    const p = t.specs[0]!;
    const { dueMs, priority } = effectiveTiming(t);
    const status = t.status === 'cancelled' ? 'cancelled' : 'requested';
    const at = status === 'cancelled' ? now : new Date(Date.parse(t.authoredOn)).toISOString();
    const values = [
      t.identifier,
      t.participantId,
      p.siteId,
      p.program,
      p.ruleId,
      p.code,
      p.measure?.id ?? null,
      p.measure?.days ?? null,
      p.complexity ?? null,
      stableId('visit-hash', p.visitKey),
      new Date(p.anchorMs).toISOString(),
      new Date(dueMs).toISOString(),
      priority,
      status,
      at,
      new Date(Date.parse(t.authoredOn)).toISOString(),
    ];
    const base = params.length;
    params.push(...values);
    rows.push(`(${values.map((_, i) => `$${base + i + 1}`).join(', ')})`);
    const eb = ev.length;
    ev.push(t.identifier, status, at);
    events.push(`($${eb + 1}, $${eb + 2}, $${eb + 3}::timestamptz, 'planner')`);
  }
  // A site's own status (completed, rejected, ...) is never overwritten by the planner; due and priority follow it.
  await q.query(
    `INSERT INTO task_record (task_identifier, participant_id, site_id, program, rule_id, code, measure, measure_days,
       complexity, visit_hash, anchor_at, due_at, priority, status, status_at, created_at)
     VALUES ${rows.join(', ')}
     ON CONFLICT (task_identifier) DO UPDATE SET due_at = EXCLUDED.due_at, priority = EXCLUDED.priority,
       anchor_at = EXCLUDED.anchor_at, complexity = EXCLUDED.complexity,
       status = CASE WHEN EXCLUDED.status = 'cancelled' AND task_record.status IN ('requested', 'received', 'accepted', 'in-progress', 'on-hold')
                     THEN 'cancelled' ELSE task_record.status END,
       status_at = CASE WHEN EXCLUDED.status = 'cancelled' AND task_record.status IN ('requested', 'received', 'accepted', 'in-progress', 'on-hold')
                     THEN EXCLUDED.status_at ELSE task_record.status_at END`,
    params,
  );
  await q.query(
    `INSERT INTO task_lifecycle (task_identifier, status, at, source) VALUES ${events.join(', ')}
     ON CONFLICT DO NOTHING`,
    ev,
  );
}

/** A status the site set (read back, or the demo's care managers): kept with its time. */
export async function recordSiteStatus(
  q: Queryable,
  taskIdentifier: string,
  status: LifecycleStatus,
  atMs: number,
): Promise<boolean> {
  const at = new Date(atMs).toISOString();
  const r = await q.query(
    `UPDATE task_record SET status = $2, status_at = $3,
       completed_at = CASE WHEN $2 = 'completed' THEN COALESCE(completed_at, $3::timestamptz) ELSE completed_at END,
       first_activity_at = CASE WHEN $2 = ANY($4::text[]) THEN LEAST(COALESCE(first_activity_at, $3::timestamptz), $3::timestamptz)
                                ELSE first_activity_at END
     WHERE task_identifier = $1`,
    [taskIdentifier, status, at, ACTIVITY],
  );
  if (r.rowCount !== 1) return false;
  await q.query(
    `INSERT INTO task_lifecycle (task_identifier, status, at, source) VALUES ($1, $2, $3, 'site') ON CONFLICT DO NOTHING`,
    [taskIdentifier, status, at],
  );
  return true;
}
