-- Task status read back from the sites (issue 16): the last site version seen per Task, its businessStatus code
-- and owner reference (codes and references only, no free text), the businessStatus with each lifecycle row, and
-- per site the read-back cursor (the site server's own meta.lastUpdated, kept verbatim) and Subscription.
ALTER TABLE task_record ADD COLUMN IF NOT EXISTS business_status TEXT;
ALTER TABLE task_record ADD COLUMN IF NOT EXISTS owner_ref TEXT;
ALTER TABLE task_record ADD COLUMN IF NOT EXISTS site_version TEXT;
ALTER TABLE task_record ADD COLUMN IF NOT EXISTS site_updated_at TIMESTAMPTZ;
ALTER TABLE task_lifecycle ADD COLUMN IF NOT EXISTS business_status TEXT;
-- When tc-alerts stored the row (read-back lag = read_at - the site's change).
ALTER TABLE task_lifecycle ADD COLUMN IF NOT EXISTS read_at TIMESTAMPTZ;

CREATE TABLE IF NOT EXISTS readback_cursor (
  site_id TEXT PRIMARY KEY,
  mode TEXT NOT NULL CHECK (mode IN ('subscription', 'poll', 'off')),
  cursor_at TEXT,                        -- the largest meta.lastUpdated read from the site (its clock)
  subscription_id TEXT,
  polled_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL
);

-- The monthly compliance report reads one month of task_record by anchor: an index-only scan of this covering
-- index (bench:report, 1,000,000 Tasks) instead of a heap visit per Task scattered over the table.
CREATE INDEX IF NOT EXISTS task_record_report ON task_record (anchor_at)
  INCLUDE (site_id, program, measure, measure_days, complexity, status, due_at, completed_at, visit_hash);
