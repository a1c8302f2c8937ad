-- Care state (issue 4): visits, participants' recent visits and planned Tasks. PostgreSQL 15 syntax.
-- One row per participant carries the lock (SELECT ... FOR UPDATE) and an optimistic version, so two
-- engine instances handling one participant's events never decide on stale state.
CREATE TABLE IF NOT EXISTS care_participant (
  participant_id TEXT PRIMARY KEY,
  version BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Merged visit state (src/care/types.ts VisitState). visit_id is a hash of the canonical visit key.
CREATE TABLE IF NOT EXISTS care_visit (
  visit_id TEXT PRIMARY KEY,
  participant_id TEXT NOT NULL,
  status TEXT NOT NULL,
  last_event_at TIMESTAMPTZ,
  state JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS care_visit_participant ON care_visit (participant_id, last_event_at DESC);

-- Planned Tasks (src/care/types.ts PlannedTask): the requester's view, open or cancelled.
CREATE TABLE IF NOT EXISTS care_task (
  task_identifier TEXT PRIMARY KEY,
  participant_id TEXT NOT NULL,
  status TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  due_at TIMESTAMPTZ,
  record JSONB NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS care_task_participant ON care_task (participant_id, status);
