-- Delivery outbox: written in the same transaction as the care state; per-site workers deliver from it.
CREATE TABLE IF NOT EXISTS delivery_outbox (
  id BIGSERIAL PRIMARY KEY,
  site_id TEXT NOT NULL,
  visit_key TEXT NOT NULL,
  task_identifier TEXT NOT NULL,
  action TEXT NOT NULL,                   -- create | update | cancel
  request JSONB NOT NULL,                 -- the DeliveryRequest (PHI: this table is a PHI store, never logged)
  message_id TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | dead | unroutable | held
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  result TEXT,                            -- created | updated | cancelled | entered-in-error | already-closed | unchanged
  last_error JSONB,                       -- {status, reason, outcome}: the server's OperationOutcome is kept here only
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at TIMESTAMPTZ,
  UNIQUE (message_id, task_identifier, action)
);
CREATE INDEX IF NOT EXISTS delivery_outbox_due ON delivery_outbox (site_id, status, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS delivery_outbox_visit ON delivery_outbox (site_id, visit_key, id);
