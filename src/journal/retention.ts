import type { Queryable } from '../store/db.ts';

/** How long each class is kept: raw message bytes (PHI) and the metadata rows (ids, codes, keyed hashes). */
export interface RetentionPolicy {
  rawDays: number;
  metadataDays: number;
}

/** TC_JOURNAL_RAW_DAYS (default 30) and TC_JOURNAL_METADATA_DAYS (default 400). */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): RetentionPolicy {
  const num = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) && Number(v) >= 0 ? Number(v) : d);
  return { rawDays: num(env.TC_JOURNAL_RAW_DAYS, 30), metadataDays: num(env.TC_JOURNAL_METADATA_DAYS, 400) };
}

const DAY = 86_400_000;
const BATCH = 5_000;

/**
 * Enforces the policy: raw bytes older than rawDays are erased (the row stays, marked purged); rows older than
 * metadataDays are deleted with their search keys and delivery attempts. In batches, so a large purge never holds
 * long locks. Returns the counts.
 */
export async function enforceRetention(
  db: Queryable,
  policy: RetentionPolicy,
  now: number = Date.now(),
): Promise<{ rawPurged: number; rowsDeleted: number }> {
  let rawPurged = 0;
  let rowsDeleted = 0;
  const rawCut = new Date(now - policy.rawDays * DAY).toISOString();
  const rowCut = new Date(now - policy.metadataDays * DAY).toISOString();
  for (;;) {
    const r = await db.query(
      `UPDATE journal_message SET raw_enc = NULL, raw_purged_at = now()
        WHERE id IN (SELECT id FROM journal_message WHERE raw_enc IS NOT NULL AND received_at < $1 LIMIT ${BATCH})`,
      [rawCut],
    );
    rawPurged += r.rowCount;
    if (r.rowCount < BATCH) break;
  }
  for (;;) {
    const r = await db.query<{ n: string | number }>(
      `WITH gone AS (
         DELETE FROM journal_message
          WHERE id IN (SELECT id FROM journal_message WHERE received_at < $1 LIMIT ${BATCH})
          RETURNING id, message_id),
       keys AS (DELETE FROM journal_key WHERE message_row IN (SELECT id FROM gone)),
       attempts AS (DELETE FROM journal_delivery_attempt WHERE message_id IN (SELECT message_id FROM gone))
       SELECT count(*) AS n FROM gone`,
      [rowCut],
    );
    const n = Number(r.rows[0]?.n ?? 0);
    rowsDeleted += n;
    if (n < BATCH) break;
  }
  return { rawPurged, rowsDeleted };
}

/** The retention job: now and every intervalMs (default hourly). Errors wait for the next round. */
export function startRetentionJob(
  db: Queryable,
  policy: RetentionPolicy,
  intervalMs = 3_600_000,
  onRun?: (r: { rawPurged: number; rowsDeleted: number }) => void,
): { stop(): void } {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      onRun?.(await enforceRetention(db, policy));
    } catch {
      // database unavailable: the next round purges
    } finally {
      busy = false;
    }
  };
  void tick();
  const t = setInterval(() => void tick(), intervalMs);
  t.unref();
  return { stop: () => clearInterval(t) };
}
