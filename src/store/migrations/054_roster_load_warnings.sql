-- Console roster page (issue 15): each roster version keeps its load's warnings (line or location, participant id,
-- code, message: the importers' messages never carry a value) and how many rows were rejected, so the console shows
-- the last load's warnings without the CLI's output. At most 500 are kept; warning_count has them all.
ALTER TABLE roster_version ADD COLUMN IF NOT EXISTS warnings JSONB NOT NULL DEFAULT '[]';
ALTER TABLE roster_version ADD COLUMN IF NOT EXISTS warning_count INT NOT NULL DEFAULT 0;
ALTER TABLE roster_version ADD COLUMN IF NOT EXISTS rejected INT NOT NULL DEFAULT 0;
