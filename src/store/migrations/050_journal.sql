-- Message journal (issue 15): every consumed message, the rejected, ignored and dead-lettered ones too, written in
-- the transaction of the state it produced (a dead letter: before its offset is committed). Raw bytes are
-- AES-256-GCM encrypted (key by file, src/journal/keys.ts); search keys (MRN, DCN, visit number, participant)
-- are HMAC keyed hashes, so neither the table nor its indexes hold PHI in the clear.
CREATE TABLE IF NOT EXISTS journal_message (
  id BIGSERIAL PRIMARY KEY,               -- cursor order (newest first)
  message_id TEXT NOT NULL UNIQUE,        -- message_outcome.message_id (topic/partition/offset, file#index, ...)
  source_id TEXT NOT NULL,                -- the consumed message it came in
  parent_id TEXT,                         -- reprocess, edit-and-resend, dead-letter retry, review: the original
  origin TEXT NOT NULL DEFAULT 'consumed',-- consumed | reprocess | resend | retry | review
  sender TEXT,                            -- MSH-3^MSH-4 (application and facility names, not PHI)
  profile_id TEXT,
  facility_key TEXT,
  control_id TEXT,
  event TEXT,
  status TEXT NOT NULL,                   -- converted | ignored | rejected | dead-lettered | review | planned
  delivery TEXT,                          -- pending | delivered | failed (kept up to date from the outbox)
  outcome TEXT,                           -- the pipeline's outcome or the dead letter's code
  detail TEXT,                            -- short code, never PHI
  error JSONB,                            -- {code, stage, reason}: reasons name segment and field only
  participant_id TEXT,
  message_time TIMESTAMPTZ,
  event_time TIMESTAMPTZ,
  received_at TIMESTAMPTZ NOT NULL DEFAULT date_trunc('milliseconds', now()), -- ms: the cursor carries it
  match JSONB,                            -- status, score, tier, field reasons, candidate ids and scores
  intents JSONB NOT NULL DEFAULT '[]',    -- planned intents: action, site, Task identifier, rule, reason
  sites TEXT[] NOT NULL DEFAULT '{}',
  raw_enc BYTEA,                          -- 1 | iv(12) | tag(16) | ciphertext; NULL once purged by retention
  key_id TEXT,
  raw_size INT,
  raw_purged_at TIMESTAMPTZ
);
-- Every search lists newest first by (received_at, id): each filter has an index in that order, so a page is a
-- range scan whatever the filter, and the cursor is the last (received_at, id) shown.
CREATE INDEX IF NOT EXISTS journal_message_received ON journal_message (received_at, id);
CREATE INDEX IF NOT EXISTS journal_message_status ON journal_message (status, received_at, id);
CREATE INDEX IF NOT EXISTS journal_message_delivery ON journal_message (delivery, received_at, id) WHERE delivery IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_message_sender ON journal_message (sender, received_at, id);
CREATE INDEX IF NOT EXISTS journal_message_event ON journal_message (event, received_at, id);
CREATE INDEX IF NOT EXISTS journal_message_control ON journal_message (control_id, received_at, id);
CREATE INDEX IF NOT EXISTS journal_message_parent ON journal_message (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS journal_message_raw ON journal_message (received_at) WHERE raw_enc IS NOT NULL;

-- Search keys: kind m (MRN, any PID-3), d (DCN), v (visit number), p (participant), s (site); hash = HMAC-SHA256.
CREATE TABLE IF NOT EXISTS journal_key (
  kind CHAR(1) NOT NULL,
  hash BYTEA NOT NULL,
  received_at TIMESTAMPTZ NOT NULL,       -- the message's, so a key's messages come newest first from the index
  message_row BIGINT NOT NULL,
  PRIMARY KEY (kind, hash, received_at, message_row)
);
CREATE INDEX IF NOT EXISTS journal_key_row ON journal_key (message_row);

-- Every delivery attempt of every Task, with the site's answer (the OperationOutcome stays in this PHI store).
-- Filled by a trigger on the outbox, so each attempt is recorded in the transaction that records it there.
CREATE TABLE IF NOT EXISTS journal_delivery_attempt (
  id BIGSERIAL PRIMARY KEY,
  outbox_id BIGINT NOT NULL,
  message_id TEXT NOT NULL,
  task_identifier TEXT NOT NULL,
  site_id TEXT NOT NULL,
  action TEXT NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  status TEXT NOT NULL,                   -- pending (retry) | delivered | dead | unroutable | held
  result TEXT,
  attempts INT NOT NULL,
  error JSONB                             -- {status, reason, outcome}
);
CREATE INDEX IF NOT EXISTS journal_delivery_attempt_message ON journal_delivery_attempt (message_id, id);
CREATE INDEX IF NOT EXISTS journal_delivery_attempt_at ON journal_delivery_attempt (at);

CREATE OR REPLACE FUNCTION journal_record_delivery() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status NOT IN ('unroutable', 'held') THEN RETURN NEW; END IF;
  ELSIF NEW.last_attempt_at IS NOT DISTINCT FROM OLD.last_attempt_at AND NEW.status = OLD.status THEN
    RETURN NEW;
  END IF;
  INSERT INTO journal_delivery_attempt (outbox_id, message_id, task_identifier, site_id, action, at, status, result,
                                        attempts, error)
  VALUES (NEW.id, NEW.message_id, NEW.task_identifier, NEW.site_id, NEW.action, COALESCE(NEW.last_attempt_at, now()),
          NEW.status, NEW.result, NEW.attempts, NEW.last_error);
  IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
    UPDATE journal_message j SET delivery = (
      SELECT CASE WHEN bool_or(o.status IN ('dead', 'unroutable')) THEN 'failed'
                  WHEN bool_and(o.status = 'delivered') THEN 'delivered' ELSE 'pending' END
        FROM delivery_outbox o WHERE o.message_id = NEW.message_id)
     WHERE j.message_id = NEW.message_id;
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS journal_delivery_update ON delivery_outbox;
CREATE TRIGGER journal_delivery_update AFTER UPDATE ON delivery_outbox
  FOR EACH ROW EXECUTE FUNCTION journal_record_delivery();
DROP TRIGGER IF EXISTS journal_delivery_insert ON delivery_outbox;
CREATE TRIGGER journal_delivery_insert AFTER INSERT ON delivery_outbox
  FOR EACH ROW EXECUTE FUNCTION journal_record_delivery();
