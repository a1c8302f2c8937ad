-- Delivery outbox: written in the same transaction as the care state; per-site workers deliver from it.
-- This table is a PHI store (the request carries the roster identity the site receives): never logged.
CREATE TABLE IF NOT EXISTS delivery_outbox (
  id BIGSERIAL PRIMARY KEY,
  site_id TEXT NOT NULL,
  visit_key TEXT NOT NULL,
  task_identifier TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('create', 'update', 'cancel')),
  request JSONB NOT NULL,                 -- the DeliveryRequest
  message_id TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'delivered', 'dead', 'unroutable', 'held')),
  attempts INT NOT NULL DEFAULT 0,        -- attempts since the item was (re)queued
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  claimed_by TEXT,                        -- worker holding the item; the lease ends at claimed_until
  claimed_until TIMESTAMPTZ,
  result TEXT,                            -- created | updated | unchanged | cancelled | entered-in-error | already-closed | not-at-site | coalesced
  coalesced_into BIGINT,                  -- a later item for the same Task carried this one's content
  last_error JSONB,                       -- {status, reason, outcome}: the server's OperationOutcome is kept here only
  last_attempt_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at TIMESTAMPTZ,
  UNIQUE (message_id, task_identifier, action)
);
CREATE INDEX IF NOT EXISTS delivery_outbox_due ON delivery_outbox (site_id, status, next_attempt_at, id);
CREATE INDEX IF NOT EXISTS delivery_outbox_visit ON delivery_outbox (site_id, visit_key, id);
CREATE INDEX IF NOT EXISTS delivery_outbox_status ON delivery_outbox (status, site_id);

-- Per-site delivery state shared by every worker: a hold (401/403/404: a person must fix the site, then retry)
-- and a not-before time (429 Retry-After, a site that is down) so no worker hammers a site that asked for a pause.
CREATE TABLE IF NOT EXISTS delivery_site_state (
  site_id TEXT PRIMARY KEY,
  held BOOLEAN NOT NULL DEFAULT false,
  hold_status INT,
  hold_reason TEXT,
  held_at TIMESTAMPTZ,
  not_before TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
