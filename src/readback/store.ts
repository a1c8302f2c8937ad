import type { Db, Queryable } from '../store/db.ts';
import type { SiteTaskStatus } from './task-status.ts';

/**
 * Read-back into the Task lifecycle (migrations 060, 061): task_record gets the site's latest status, code, owner
 * and version; task_lifecycle one row per status reached, with its time, source 'site' and when tc-alerts stored
 * it. Idempotent (a version seen again changes nothing) and safe against order (an older version arriving after a
 * newer one adds its lifecycle row, never moves the current status back). A site only ever updates its own Tasks.
 */
export interface RecordResult {
  /** Lifecycle rows added. */
  changes: number;
  /** Versions already stored (a poll's overlap, a notification repeated). */
  unchanged: number;
  /** Tasks tc-alerts does not know at this site (not ours, or another site's). */
  unknown: number;
}

interface Current {
  task_identifier: string;
  status: string;
  site_version: string | null;
  site_updated_at: Date | string | null;
  site_statuses: string[] | null;
}

const ACTIVITY = new Set(['accepted', 'in-progress', 'completed']);
const ms = (v: Date | string | null): number => (v === null ? -Infinity : new Date(v).getTime());

export async function recordReadback(
  db: Db,
  siteId: string,
  statuses: readonly SiteTaskStatus[],
  readAtMs: number,
): Promise<RecordResult> {
  const out: RecordResult = { changes: 0, unchanged: 0, unknown: 0 };
  if (!statuses.length) return out;
  // The latest version per Task of this batch decides the current status; every version adds its lifecycle row.
  const ids = [...new Set(statuses.map((s) => s.taskIdentifier))];
  await db.tx(async (q) => {
    const cur = await q.query<Current>(
      `SELECT r.task_identifier, r.status, r.site_version, r.site_updated_at,
         (SELECT array_agg(l.status) FROM task_lifecycle l WHERE l.task_identifier = r.task_identifier AND l.source = 'site') AS site_statuses
       FROM task_record r WHERE r.task_identifier = ANY($1::text[]) AND r.site_id = $2 FOR UPDATE`,
      [ids, siteId],
    );
    const byId = new Map(cur.rows.map((r) => [r.task_identifier, r]));
    const sorted = [...statuses].sort((a, b) => a.lastUpdatedMs - b.lastUpdatedMs);
    const events: { id: string; status: string; at: number; code: string | null }[] = [];
    const latest = new Map<string, SiteTaskStatus>();
    for (const s of sorted) {
      const c = byId.get(s.taskIdentifier);
      if (!c) {
        out.unknown++;
        continue;
      }
      const seenMs = ms(c.site_updated_at);
      if (s.lastUpdatedMs === seenMs && (s.versionId ?? null) === c.site_version) {
        out.unchanged++;
        continue;
      }
      const known = new Set(c.site_statuses ?? []);
      // 'requested' is what tc-alerts wrote: it never moves a Task back (a cancel not yet delivered, say).
      const reached = s.status !== 'requested';
      if (s.lastUpdatedMs < seenMs) {
        if (reached && !known.has(s.status)) events.push(eventOf(s));
        continue;
      }
      if (reached && s.status !== c.status) events.push(eventOf(s));
      latest.set(s.taskIdentifier, s);
      c.status = reached ? s.status : c.status;
      c.site_updated_at = new Date(s.lastUpdatedMs);
      c.site_version = s.versionId ?? null;
      known.add(s.status);
      c.site_statuses = [...known];
    }
    const rows = [...latest.values()];
    if (rows.length) {
      const col = <T>(f: (s: SiteTaskStatus) => T) => rows.map(f);
      await q.query(
        `UPDATE task_record r SET
           status = CASE WHEN u.status = 'requested' THEN r.status ELSE u.status END,
           status_at = CASE WHEN u.status = 'requested' OR u.status = r.status THEN r.status_at ELSE u.at END,
           completed_at = CASE WHEN u.status = 'completed' THEN COALESCE(r.completed_at, u.at) ELSE r.completed_at END,
           first_activity_at = CASE WHEN u.status = ANY($8::text[]) THEN LEAST(COALESCE(r.first_activity_at, u.at), u.at)
                                    ELSE r.first_activity_at END,
           business_status = u.code, owner_ref = u.owner, site_version = u.version, site_updated_at = u.updated
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
           AS u(id, status, at, code, owner, version, updated)
         WHERE r.task_identifier = u.id`,
        [
          col((s) => s.taskIdentifier),
          col((s) => s.status),
          col((s) => new Date(s.atMs).toISOString()),
          col((s) => s.businessStatus),
          col((s) => s.ownerRef),
          col((s) => s.versionId),
          col((s) => new Date(s.lastUpdatedMs).toISOString()),
          [...ACTIVITY],
        ],
      );
    }
    // Earlier statuses of the batch's Tasks also count as activity (first contact) when they arrive late.
    const late = events.filter((e) => ACTIVITY.has(e.status));
    if (late.length)
      await q.query(
        `UPDATE task_record r SET first_activity_at = LEAST(COALESCE(r.first_activity_at, u.at), u.at),
           completed_at = CASE WHEN u.status = 'completed' THEN LEAST(COALESCE(r.completed_at, u.at), u.at) ELSE r.completed_at END
         FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(id, status, at) WHERE r.task_identifier = u.id`,
        [late.map((e) => e.id), late.map((e) => e.status), late.map((e) => new Date(e.at).toISOString())],
      );
    if (events.length) {
      const r = await q.query(
        `INSERT INTO task_lifecycle (task_identifier, status, at, source, business_status, read_at)
         SELECT u.id, u.status, u.at, 'site', u.code, $5::timestamptz
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS u(id, status, at, code)
         ON CONFLICT DO NOTHING`,
        [
          events.map((e) => e.id),
          events.map((e) => e.status),
          events.map((e) => new Date(e.at).toISOString()),
          events.map((e) => e.code),
          new Date(readAtMs).toISOString(),
        ],
      );
      out.changes += r.rowCount;
    }
  });
  return out;
}

function eventOf(s: SiteTaskStatus) {
  return { id: s.taskIdentifier, status: s.status, at: s.atMs, code: s.businessStatus };
}

export interface Cursor {
  siteId: string;
  mode: 'subscription' | 'poll' | 'off';
  cursorAt: string | null;
  subscriptionId: string | null;
}

export async function loadCursor(q: Queryable, siteId: string): Promise<Cursor | undefined> {
  const r = await q.query<{ mode: Cursor['mode']; cursor_at: string | null; subscription_id: string | null }>(
    `SELECT mode, cursor_at, subscription_id FROM readback_cursor WHERE site_id = $1`,
    [siteId],
  );
  const row = r.rows[0];
  return row && { siteId, mode: row.mode, cursorAt: row.cursor_at, subscriptionId: row.subscription_id };
}

/** Stores the site's mode and Subscription (null keeps the stored one); the cursor only ever moves forward. */
export async function saveCursor(q: Queryable, c: Cursor, nowMs: number, polled = false): Promise<void> {
  await q.query(
    `INSERT INTO readback_cursor (site_id, mode, cursor_at, subscription_id, polled_at, updated_at)
     VALUES ($1, $2, $3, $4, CASE WHEN $6 THEN $5::timestamptz END, $5::timestamptz)
     ON CONFLICT (site_id) DO UPDATE SET mode = EXCLUDED.mode,
       subscription_id = COALESCE(EXCLUDED.subscription_id, readback_cursor.subscription_id),
       cursor_at = CASE WHEN readback_cursor.cursor_at IS NULL OR EXCLUDED.cursor_at IS NULL THEN COALESCE(EXCLUDED.cursor_at, readback_cursor.cursor_at)
                        WHEN EXCLUDED.cursor_at::timestamptz > readback_cursor.cursor_at::timestamptz THEN EXCLUDED.cursor_at
                        ELSE readback_cursor.cursor_at END,
       polled_at = COALESCE(EXCLUDED.polled_at, readback_cursor.polled_at), updated_at = EXCLUDED.updated_at`,
    [c.siteId, c.mode, c.cursorAt, c.subscriptionId, new Date(nowMs).toISOString(), polled],
  );
}
