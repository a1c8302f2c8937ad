-- Review queue (issue 3): `possible` patient matches wait here for a person's decision.
-- Candidate ids and scores only, never demographics. raw_message keeps the original HL7 bytes so the
-- message can be planned again after the decision: this table is a PHI store like the message journal.
CREATE TABLE IF NOT EXISTS review_item (
  message_id TEXT PRIMARY KEY,
  candidates JSONB NOT NULL,
  raw_message BYTEA NOT NULL,
  sender_profile_id TEXT,
  event TEXT,
  facility_key TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  decision TEXT,
  decided_at TIMESTAMPTZ,
  decided_by TEXT
);
CREATE INDEX IF NOT EXISTS review_item_status ON review_item (status, created_at);
