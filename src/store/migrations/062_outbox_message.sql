-- The journal's trigger (050_journal.sql) recomputes a message's delivery state from its outbox rows on every
-- status change: without this index each delivered Task scanned the whole outbox.
CREATE INDEX IF NOT EXISTS delivery_outbox_message ON delivery_outbox (message_id);
