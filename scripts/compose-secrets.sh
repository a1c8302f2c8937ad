#!/bin/sh
# Writes the secrets docker-compose.yml reads (never committed: .secrets/ is ignored): a random PostgreSQL password
# and the engine's DATABASE_URL with it. Run once before `docker compose up`; an existing file is kept.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .secrets
chmod 700 .secrets
if [ ! -s .secrets/postgres_password ]; then
  (umask 022 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > .secrets/postgres_password)
fi
if [ ! -s .secrets/database_url ]; then
  (umask 022 && printf 'postgres://tc:%s@postgres:5432/tc_alerts\n' "$(cat .secrets/postgres_password)" > .secrets/database_url)
fi
echo "secrets in .secrets/: postgres_password, database_url"
