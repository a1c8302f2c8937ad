import { CARE_TIME_ZONE, endOfLocalDay, localDate, toLocalDateTime } from '../care/time.ts';
import type { Queryable } from '../store/db.ts';
import { OPEN_STATUSES } from './task-store.ts';

export interface WorklistItem {
  taskIdentifier: string;
  participantId: string;
  ruleId: string;
  code: string;
  priority: string;
  status: string;
  due: string;
  state: 'overdue' | 'due-today';
  /** Hours past due (0 when due today). */
  hoursOverdue: number;
  escalated: boolean;
}

/**
 * A site's open Tasks due by the end of today or already past due, most overdue first; "today" and the due times
 * in the site's time zone (site directory `timeZone`).
 */
export async function worklist(
  q: Queryable,
  siteId: string,
  nowMs: number,
  tz: string = CARE_TIME_ZONE,
): Promise<WorklistItem[]> {
  const endOfToday = endOfLocalDay(localDate(nowMs, tz), tz).epochMs;
  const r = await q.query<{
    task_identifier: string;
    participant_id: string;
    rule_id: string;
    code: string;
    priority: string;
    status: string;
    due_at: Date | string;
    escalated_at: Date | string | null;
  }>(
    `SELECT task_identifier, participant_id, rule_id, code, priority, status, due_at, escalated_at FROM task_record
     WHERE site_id = $1 AND status = ANY($2::text[]) AND due_at <= $3 ORDER BY due_at, rule_id, task_identifier`,
    [siteId, OPEN_STATUSES, new Date(endOfToday).toISOString()],
  );
  return r.rows.map((row) => {
    const dueMs = new Date(row.due_at).getTime();
    return {
      taskIdentifier: row.task_identifier,
      participantId: row.participant_id,
      ruleId: row.rule_id,
      code: row.code,
      priority: row.priority,
      status: row.status,
      due: toLocalDateTime(dueMs, tz),
      state: dueMs < nowMs ? 'overdue' : 'due-today',
      hoursOverdue: dueMs < nowMs ? Math.floor((nowMs - dueMs) / 3_600_000) : 0,
      escalated: row.escalated_at !== null,
    };
  });
}
