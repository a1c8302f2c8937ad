-- Enrolled-participant roster. `tc-alerts roster load` replaces it atomically in one transaction and bumps
-- the version, so a running engine sees the new version and swaps its match index. Rows are PHI.
CREATE TABLE IF NOT EXISTS roster_participant (
  participant_id TEXT PRIMARY KEY,
  data JSONB NOT NULL                     -- the Participant (src/roster/types.ts)
);
CREATE TABLE IF NOT EXISTS roster_version (
  version BIGINT PRIMARY KEY,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  source TEXT,                            -- file name or format, never contents
  participants INTEGER NOT NULL,
  enrollments INTEGER NOT NULL
);
