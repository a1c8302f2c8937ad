-- A consumed Kafka message may hold several HL7 messages (a batch file): their journal rows are <source>#<i>.
-- Redelivery checks look rows up by the consumed message's id; a LIKE on the primary key cannot use its index
-- under a non-C collation, so the source id gets a column and an index of its own.
ALTER TABLE message_outcome ADD COLUMN IF NOT EXISTS source_id TEXT;
UPDATE message_outcome SET source_id = split_part(message_id, '#', 1) WHERE source_id IS NULL;
CREATE INDEX IF NOT EXISTS message_outcome_source ON message_outcome (source_id);
