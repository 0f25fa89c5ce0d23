#!/usr/bin/env bash
# Large groups cost what small ones do: the service's answer times on a group of M members
# against the same operations on a group of 100 members, measured in the same run.
#
#   bash tests/bench/groups.sh [--members 100000] [--small 100] [--add 1000] [--rounds 30]
#                              [--profile release|debug]
#
# Operations (each timed over one kept-alive connection, median of --rounds):
#   list_no_members  GET /Groups?filter=displayName eq "…"&excludedAttributes=members
#   get_no_members   GET /Groups/{id}?excludedAttributes=members
#   (reads are timed 5 × --rounds times)
#   add_members      PATCH /Groups/{id}?excludedAttributes=members adding --add members in one
#                    operation (one transaction); each round's members are removed again by
#                    an untimed PATCH before the next round
#   remove_members   that removing PATCH, timed too (Entra's Remove with a value array)
# Prints a Markdown table with both medians and the ratio large/small, the figure to track.
# Needs PostgreSQL as tests/bench/run.sh does (DATABASE_URL or 127.0.0.1:5432, user postgres),
# psql and python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=tests/bench

members=100000
small=100
add=1000
rounds=30
profile=release
while (($#)); do
  case $1 in
    --members) members=$2; shift 2 ;;
    --small) small=$2; shift 2 ;;
    --add) add=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ $profile == release ]]; then
  cargo build --release --features dev --locked --quiet
  binary=target/release/scim-sidecar
else
  cargo build --features dev --locked --quiet
  binary=target/debug/scim-sidecar
fi

admin_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_url=$(sed -E 's#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/scim_demo#' <<<"$admin_url")
sql() { psql "$db_url" -v ON_ERROR_STOP=1 -Atq "$@"; }

log=$(mktemp)
service=
cleanup() {
  [[ -n $service ]] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
  rm -f "$log"
}
trap cleanup EXIT

SCIM__SERVER__RATE_LIMIT_PER_SECOND=0 SCIM__LOG__FILTER=warn \
  SCIM__PROVISIONING__DEPROVISION_MODE=deactivate DATABASE_URL=$admin_url \
  "$binary" demo --listen 127.0.0.1:0 --seats $((members + add + 1000)) >"$log" 2>&1 &
service=$!
deadline=$((SECONDS + 120))
until grep -q 'Bearer token:' "$log"; do
  if ! kill -0 "$service" 2>/dev/null || ((SECONDS > deadline)); then
    cat "$log" >&2
    echo "demo did not start" >&2
    exit 1
  fi
  sleep 0.2
done
base=$(grep -o 'http://[0-9.:]*/scim/v2' "$log" | head -1)
token=$(grep -o 'sbscim_[0-9a-zA-Z_]*' "$log" | head -1)
org=$(sed -nE 's/.*Org: *([0-9]+).*/\1/p' "$log" | head -1)

echo "seeding $members members, $add more to add, and groups of $members and $small..." >&2
for ((lo = 1; lo <= members; lo += 50000)); do
  hi=$((lo + 49999 < members ? lo + 49999 : members))
  sql -v org="$org" -v prefix=m -v from="$lo" -v to="$hi" -v access=0 -f $bench/seed.sql
done
sql -v org="$org" -v prefix=n -v from=1 -v to="$add" -v access=0 -f $bench/seed.sql
sql <<SQL
INSERT INTO scim_sidecar.groups (org_id, id, display_name, created_at, updated_at)
VALUES ($org, gen_random_uuid(), 'bench-large', now(), now()),
       ($org, gen_random_uuid(), 'bench-small', now(), now());
INSERT INTO scim_sidecar.group_member (org_id, group_id, user_id)
SELECT $org, g.id, 'm' || i
FROM scim_sidecar.groups AS g
CROSS JOIN LATERAL generate_series(1, CASE g.display_name WHEN 'bench-large' THEN $members ELSE $small END) AS i
WHERE g.org_id = $org;
ANALYZE scim_sidecar.groups;
ANALYZE scim_sidecar.group_member;
SQL
large=$(sql -c "SELECT id FROM scim_sidecar.groups WHERE display_name = 'bench-large'")
small_id=$(sql -c "SELECT id FROM scim_sidecar.groups WHERE display_name = 'bench-small'")

python3 - "$base" "$token" "$large" "$small_id" "$add" "$rounds" "$members" "$small" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse

base, token, large, small, add, rounds, members, small_n = sys.argv[1:]
add, rounds = int(add), int(rounds)
url = urllib.parse.urlsplit(base)
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

def call(method, path, body=None, expect=(200,)):
    start = time.perf_counter()
    conn.request(method, url.path + path, body=body and json.dumps(body), headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status not in expect:
        sys.exit(f"{method} {path}: {response.status}")
    return elapsed

def patch(group, op):
    ids = [{"$ref": None, "value": f"n{i}"} for i in range(1, add + 1)]
    return call("PATCH", f"/Groups/{group}?excludedAttributes=members", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": "members", "value": ids}],
    }, expect=(200, 204))

OPS = ("list_no_members", "get_no_members", "add_members", "remove_members")

def reads(group, name, out):
    q = urllib.parse.quote(f'displayName eq "{name}"')
    out["list_no_members"].append(call("GET", f"/Groups?filter={q}&excludedAttributes=members"))
    out["get_no_members"].append(call("GET", f"/Groups/{group}?excludedAttributes=members"))

def writes(group, out):
    out["add_members"].append(patch(group, "Add"))
    out["remove_members"].append(patch(group, "Remove"))

# Reads first, then writes (whose dead rows wake autovacuum); within each phase the groups
# alternate, so that whatever else the machine does weighs on both alike.
runs = {"small": {op: [] for op in OPS}, "large": {op: [] for op in OPS}}
scratch = {op: [] for op in OPS}
for _ in range(5):
    reads(small, "bench-small", scratch)
    reads(large, "bench-large", scratch)
for _ in range(rounds * 5):
    reads(small, "bench-small", runs["small"])
    reads(large, "bench-large", runs["large"])
writes(small, scratch)
writes(large, scratch)
for _ in range(rounds):
    writes(small, runs["small"])
    writes(large, runs["large"])
small_t = {op: statistics.median(v) for op, v in runs["small"].items()}
large_t = {op: statistics.median(v) for op, v in runs["large"].items()}
print(f"| operation | {small_n} members (ms) | {members} members (ms) | ratio |")
print("|---|---|---|---|")
for op in small_t:
    print(f"| {op} | {small_t[op]:.2f} | {large_t[op]:.2f} | {large_t[op] / small_t[op]:.2f} |")
PY
