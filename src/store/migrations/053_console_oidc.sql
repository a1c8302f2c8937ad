-- OIDC sign-in (issue 15): a console user may be an identity of the configured issuer (issuer + subject, unique),
-- created on its first sign-in; its password hash ('oidc') verifies no password. A sign-in in flight keeps its
-- nonce, PKCE verifier and redirect URI here under the hash of its state, for ten minutes and one use.
ALTER TABLE console_user ADD COLUMN IF NOT EXISTS oidc_issuer TEXT;
ALTER TABLE console_user ADD COLUMN IF NOT EXISTS oidc_subject TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS console_user_oidc ON console_user (oidc_issuer, oidc_subject)
  WHERE oidc_subject IS NOT NULL;
CREATE TABLE IF NOT EXISTS console_oidc_pending (
  state_hash TEXT PRIMARY KEY,
  nonce TEXT NOT NULL,
  verifier TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
