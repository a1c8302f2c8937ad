-- PHI kept outside the journal is sealed like the journal's raw messages (AES-256-GCM with the key file's key,
-- src/store/seal.ts): the review queue's raw HL7, and the recent ADT identities' raw HL7 and demographics. Before
-- this they were plaintext, so a reader of the database had the hospitals' messages the journal encrypts.
-- key_id names the key that sealed the row's bytes; NULL marks a row written before this migration (plaintext),
-- which the engine seals at its next start (sealLegacyRows).
ALTER TABLE review_item ADD COLUMN IF NOT EXISTS key_id TEXT;
ALTER TABLE match_recent_adt ADD COLUMN IF NOT EXISTS key_id TEXT;
ALTER TABLE match_recent_adt ADD COLUMN IF NOT EXISTS input_sealed BYTEA;
ALTER TABLE match_recent_adt ALTER COLUMN input DROP NOT NULL;
