# Sourced by .ci/fuzz-openapi and .ci/container-check (not run on its own): a scratch database
# laid out as the app lays it out, with one org whose "License" row grants `scim`, so that the
# release binary can be served exactly as in production (no `dev` feature, no `demo`).

# A server on which databases may be created: DATABASE_URL, else the local PostgreSQL.
ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# No NOTICE for a DROP … IF EXISTS of a database that is not there.
export PGOPTIONS='-c client_min_messages=warning'
PIP_ARGS=(--quiet --disable-pip-version-check)

log() { printf '\n== %s\n' "$*"; }

# Prints the URL of database $1 on the same server as ADMIN_URL.
database_url() { sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/$1#" <<<"$ADMIN_URL"; }

# Returns 1, with the reason on stderr, when no database can be created here.
can_create_databases() {
  if ! command -v psql >/dev/null 2>&1; then
    echo "psql is not installed (Debian: apt-get install postgresql-client)" >&2
    return 1
  fi
  if ! psql "$ADMIN_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
    # Without user and password.
    echo "no PostgreSQL answers at $(sed -E 's#//[^@/]*@#//#' <<<"$ADMIN_URL") (set DATABASE_URL)" >&2
    return 1
  fi
}

# Recreates database $1 with the app's tables (the test fixture) and an org licensed for SCIM.
# Sets SCRATCH_URL and SCRATCH_ORG.
create_scratch_database() {
  local name=$1
  psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -Atq \
    -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
  SCRATCH_URL=$(database_url "$name")
  psql "$SCRATCH_URL" -v ON_ERROR_STOP=1 -q -f tests/fixtures/app-schema.sql >/dev/null
  SCRATCH_ORG=$(psql "$SCRATCH_URL" -v ON_ERROR_STOP=1 -Atq <<'SQL'
WITH org AS (
  INSERT INTO "Org" (name, "updatedAt") VALUES ('CI Org', now()) RETURNING id
), license AS (
  INSERT INTO "License" (id, "orgId", "activationCode", entitlements, status, "lastSyncAt", "updatedAt")
  SELECT 'ci', id, 'ci', ARRAY['scim'], 'active', now(), now() FROM org
)
SELECT id FROM org;
SQL
  )
}

drop_scratch_database() {
  psql "$ADMIN_URL" -Atq -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true
}

# A TCP port nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to $2 seconds (default 30) for URL $1 to answer 200.
wait_for_200() {
  local deadline=$((SECONDS + ${2:-30}))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; do
    if ((SECONDS > deadline)); then
      echo "$1 did not answer 200 within ${2:-30} s" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Python tools from PyPI, pinned, in a virtual environment under target/ (created when missing).
CI_VENV=target/ci/venv
ensure_python_tool() {
  local package=$1 version=$2
  if [ "$("$CI_VENV/bin/python" -m pip show "$package" 2>/dev/null | sed -n 's/^Version: //p')" = "$version" ]; then
    return 0
  fi
  if [ ! -x "$CI_VENV/bin/python" ]; then
    python3 -m venv "$CI_VENV" || return 1
  fi
  echo "installing $package $version from PyPI into $CI_VENV"
  "$CI_VENV/bin/python" -m pip install "${PIP_ARGS[@]}" "$package==$version"
}
