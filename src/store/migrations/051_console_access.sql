-- Console access (issue 15): local users (scrypt hashes), sessions (only a hash of the token is stored), and the
-- audit log of every PHI view, search, export and action. The audit log is append-only: a trigger refuses any
-- UPDATE or DELETE, so neither the console nor a mistaken statement can rewrite it.
CREATE TABLE IF NOT EXISTS console_user (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,            -- scrypt$N$r$p$salt$hash (base64)
  role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'reviewer', 'admin')),
  disabled BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS console_session (
  token_hash TEXT PRIMARY KEY,
  username TEXT NOT NULL REFERENCES console_user (username) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  ip TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT now(),
  username TEXT,
  role TEXT,
  action TEXT NOT NULL,                   -- sign-in | search | view | export | reprocess | resend | retry | resolve | ...
  target TEXT,                            -- message id, site id, review item: ids only
  detail JSONB,                           -- filter kinds (never the searched values), result counts, outcomes
  ip TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at, id);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
