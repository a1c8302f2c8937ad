-- Matching that learns (issue 13). Owned by src/store/match-repo.ts.
-- Weights learned at each roster load: u from the roster, m by EM over candidate pairs, the thresholds.
-- Field and level names with numbers only, never values.
CREATE TABLE IF NOT EXISTS roster_weights (
  version BIGINT PRIMARY KEY,
  learned_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  weights JSONB NOT NULL
);
-- Recent ADT identities, kept N days (default 30; `roster load --late-days`): the demographics a roster load
-- learns m from, and for the messages that had no match (or no enrollment on the date) the raw HL7, so a later
-- roster load that enrolls the person plans them (late enrollment). A PHI store like the message journal.
CREATE TABLE IF NOT EXISTS match_recent_adt (
  message_id TEXT PRIMARY KEY,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  outcome TEXT NOT NULL,
  match_status TEXT,
  person_key TEXT,
  input JSONB NOT NULL,                   -- the MatchInput (Patient demographics and DCN candidates)
  raw_message BYTEA,                      -- only while unmatched
  sender_profile_id TEXT,
  replanned_version BIGINT                -- the roster version whose load planned it
);
CREATE INDEX IF NOT EXISTS match_recent_adt_received ON match_recent_adt (received_at);
-- Review queue by person: the ADT identity of each item, its scores and field-by-field reasons.
ALTER TABLE review_item ADD COLUMN IF NOT EXISTS person_key TEXT;
ALTER TABLE review_item ADD COLUMN IF NOT EXISTS reasons JSONB;
ALTER TABLE review_item ADD COLUMN IF NOT EXISTS score DOUBLE PRECISION;
CREATE INDEX IF NOT EXISTS review_item_person ON review_item (person_key, status);
