#!/usr/bin/env bash
# Start-up to ready: how long `serve` takes from exec until /readyz answers 200, on a migrated
# scratch database with a licence row and a token (the database up and reachable).
#
#   bash tests/bench/startup.sh [runs]        (default 10; builds the release binary first)
#
# Prints each run in milliseconds, then the median and the worst. Needs PostgreSQL as the CI
# scripts do (DATABASE_URL's server, else 127.0.0.1:5432 as postgres) and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

runs=${1:-10}
database=scim_bench_startup
cargo build --release --locked --quiet
binary=target/release/scim-sidecar

server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; fi
  drop_scratch_database "$database"
}
trap cleanup EXIT

reason=$(can_create_databases 2>&1) || { echo "cannot create a scratch database: $reason" >&2; exit 1; }
create_scratch_database "$database"
export DATABASE_URL=$SCRATCH_URL
SOURCEBOT_ENCRYPTION_KEY=$(openssl rand -hex 16)
export SOURCEBOT_ENCRYPTION_KEY
"$binary" migrate >/dev/null
"$binary" token create --org "$SCRATCH_ORG" --name startup >/dev/null

times=()
for _ in $(seq 1 "$runs"); do
  port=$(free_port)
  start=$(date +%s%N)
  SCIM_LISTEN=127.0.0.1:$port SCIM_METRICS_LISTEN=off SCIM__LOG__FILTER=warn \
    "$binary" serve >/dev/null 2>&1 &
  server=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    kill -0 "$server" 2>/dev/null || { echo "serve exited before it was ready" >&2; exit 1; }
    sleep 0.005
  done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  kill "$server" && wait "$server" 2>/dev/null || true
  server=
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "start-up to ready, ms: ${times[*]}"
echo "median $(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted") ms, worst $(tail -n 1 <<<"$sorted") ms"
