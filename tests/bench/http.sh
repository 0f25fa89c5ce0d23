#!/usr/bin/env bash
# HTTP benchmark of the SCIM hot paths, reported as ratios against /healthz measured in the
# same run (shared machines are noisy; absolute numbers are not comparable across runs).
#
#   bash tests/bench/http.sh [seconds per scenario, default 10] [users to seed, default 2000]
#
# Needs wrk (Debian/Ubuntu: apt-get install wrk) and what `demo` needs (PostgreSQL). It runs the
# release build's `demo` on a free port, seeds users through the API, then loads each scenario
# with 2 threads and 32 connections.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
users=${2:-2000}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cargo build --release --features dev --quiet
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
target/release/scim-sidecar demo --listen "127.0.0.1:$port" --seats $((users + 10)) >"$log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 100); do grep -q 'sbscim_' "$log" && break; sleep 0.2; done
token=$(grep -o 'sbscim_[0-9a-f]*' "$log" | head -1)
base="http://127.0.0.1:$port/scim/v2"
auth="Authorization: Bearer $token"

echo "seeding $users users..."
seq 1 "$users" | xargs -P 8 -I{} curl -sf -o /dev/null -H "$auth" -H 'content-type: application/scim+json' \
  -d '{"userName":"bench{}@example.com","externalId":"ext{}","name":{"givenName":"Bench","familyName":"User {}"}}' \
  "$base/Users"
id=$(curl -sf -H "$auth" "$base/Users?filter=userName%20eq%20%22bench7%40example.com%22" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Resources"][0]["id"])')

patch=$(mktemp --suffix .lua)
cat >"$patch" <<LUA
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/scim+json"
wrk.body = '{"Operations":[{"op":"replace","path":"title","value":"Engineer"}]}'
LUA

rate() { wrk -t2 -c32 -d"${duration}s" "$@" | awk '/Requests\/sec/ {print $2}'; }
baseline=$(rate "http://127.0.0.1:$port/healthz")
printf '%-44s %10s %8s\n' scenario 'req/s' 'ratio'
printf '%-44s %10.0f %8.2f\n' 'GET /healthz (baseline)' "$baseline" 1
report() {
  local name=$1; shift
  local value; value=$(rate -H "$auth" "$@")
  printf '%-44s %10.0f %8.2f\n' "$name" "$value" "$(echo "$value / $baseline" | bc -l)"
}
report 'GET /ServiceProviderConfig (auth, no query)' "$base/ServiceProviderConfig"
report 'GET /Users/{id}' "$base/Users/$id"
report 'GET /Users?filter=userName eq' "$base/Users?filter=userName%20eq%20%22bench42%40example.com%22"
report 'GET /Users?filter=externalId eq' "$base/Users?filter=externalId%20eq%20%22ext42%22"
report 'GET /Users?count=100' "$base/Users?count=100"
report 'PATCH /Users/{id} (no-op replace)' -s "$patch" "$base/Users/$id"
rm -f "$patch"
