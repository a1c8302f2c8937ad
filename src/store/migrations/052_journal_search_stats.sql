-- Journal search (issue 15): a key's hash decides its kind, but the planner multiplies the two selectivities, so it
-- took a site's keys (a sixth of the journal) for a few thousand rows and drove "site + failed" or
-- "site + sender + dead-lettered" from them. With the dependency known it estimates a site's keys right and
-- starts from the narrower index (figures in docs/journal.md, bench:journal).
CREATE STATISTICS IF NOT EXISTS journal_key_kind_hash (dependencies, mcv) ON kind, hash FROM journal_key;
ANALYZE journal_key;
