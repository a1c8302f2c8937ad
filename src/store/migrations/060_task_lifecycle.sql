-- Task lifecycle for follow-up compliance (issue 16). One row per planned Task with the facts the compliance
-- report groups and measures by (typed, no JSON, no free text), and one row per status the Task reached, with
-- its time: requested and cancelled from the planner, accepted / in-progress / completed / failed / rejected /
-- cancelled from the site (read back), escalations from the overdue sweep.
CREATE TABLE IF NOT EXISTS task_record (
  task_identifier TEXT PRIMARY KEY,
  participant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  program TEXT NOT NULL CHECK (program IN ('PCHH', 'CMHC')),
  rule_id TEXT NOT NULL,
  code TEXT NOT NULL,
  measure TEXT,                          -- TCM-CONTACT, TCM-VISIT, FUH, FUM, FUA, FUI, ED-FU, PCR, ...
  measure_days INTEGER,                  -- 7 / 30 for the follow-up measures
  complexity TEXT CHECK (complexity IN ('high', 'moderate')),
  visit_hash TEXT NOT NULL,              -- hash of the visit key (never the visit number)
  anchor_at TIMESTAMPTZ NOT NULL,        -- admission or discharge the window runs from
  due_at TIMESTAMPTZ NOT NULL,
  priority TEXT NOT NULL CHECK (priority IN ('routine', 'urgent', 'asap', 'stat')),
  status TEXT NOT NULL CHECK (status IN ('requested', 'received', 'accepted', 'in-progress', 'on-hold',
    'completed', 'failed', 'rejected', 'cancelled', 'entered-in-error')),
  status_at TIMESTAMPTZ NOT NULL,
  completed_at TIMESTAMPTZ,
  first_activity_at TIMESTAMPTZ,         -- first accepted / in-progress / completed at the site
  escalated_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS task_record_anchor ON task_record (anchor_at, site_id);
CREATE INDEX IF NOT EXISTS task_record_open_due ON task_record (site_id, due_at)
  WHERE status IN ('requested', 'received', 'accepted', 'in-progress', 'on-hold');

CREATE TABLE IF NOT EXISTS task_lifecycle (
  task_identifier TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('requested', 'received', 'accepted', 'in-progress', 'on-hold',
    'completed', 'failed', 'rejected', 'cancelled', 'entered-in-error', 'escalated')),
  at TIMESTAMPTZ NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('planner', 'site', 'sweep')),
  PRIMARY KEY (task_identifier, status, at)
);
