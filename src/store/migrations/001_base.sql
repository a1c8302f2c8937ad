-- Base: processed-message journal. One row per consumed message (topic/partition/offset), written in the
-- same transaction as the state it produced, so a redelivered message is recognised and not applied twice.
CREATE TABLE IF NOT EXISTS message_outcome (
  message_id TEXT PRIMARY KEY,            -- topic/partition/offset, or file#index for dry runs
  control_id TEXT,
  event TEXT,
  facility_key TEXT,
  visit_hash TEXT,                        -- hashed visit key, never the raw visit number
  participant_id TEXT,
  outcome TEXT NOT NULL,                  -- processed | ignored | review | stale | planned | rejected
  detail JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS message_outcome_created ON message_outcome (created_at);
