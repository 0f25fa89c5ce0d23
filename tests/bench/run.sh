#!/usr/bin/env bash
# The service against its ceiling: each SCIM operation driven over HTTP by wrk, and the SQL the
# service issues for it driven by pgbench in the same run, at the same concurrency. The ratio
# service/pgbench is the figure to track; absolute numbers on a shared machine are not.
#
#   bash tests/bench/run.sh [--members 1000,100000] [--seconds 10] [--concurrency 1,8,32]
#                           [--ops get_id,patch_profile,...] [--pool N] [--out DIR]
#                           [--database scim_demo]
#
# Needs PostgreSQL on DATABASE_URL or 127.0.0.1:5432 (user postgres, as for `demo`), and wrk,
# pgbench, psql, gnuplot and python3 (installed with apt-get when run as root on Debian/Ubuntu).
# For each member count N it starts the release build's `demo` (`--features dev`: a scratch
# database, `scim_demo` or --database, with the app fixture, the migrations, an org, a token
# and a licence), seeds the org with N members by SQL, and measures every operation at every
# concurrency.
# Results: OUT/results.tsv, OUT/table.md, OUT/benchmarks.png, and the table on stdout
# (OUT: target/bench).
# Operations: get_id username_found username_missing work_email page_end page_cursor
# create_new create_adopt patch_profile deactivate (also measures reactivate) delete.
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=tests/bench

members=1000,100000
seconds=10
concurrency=1,8,32
reads=get_id,username_found,username_missing,work_email,page_end,page_cursor
writes=create_new,create_adopt,patch_profile,deactivate,reactivate,delete
ops=$reads,$writes
pool=
out=target/bench
database=scim_demo
while (($#)); do
  case $1 in
    --members) members=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    --pool) pool=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --database) database=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
# People a write consumes (adopted, deactivated, deleted) come from a pool seeded before each
# run and removed after it, so the org holds N members plus one pool, never the sum of all
# runs'. Sized for 2,000 requests a second, well above what one org's writes reach here; a run
# that outpaces it shows non-2xx answers (service) or aborted clients (pgbench).
pool=${pool:-$((seconds * 2000))}

# --- tools ------------------------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v pgbench >/dev/null || need+=(postgresql-contrib)
command -v psql >/dev/null || need+=(postgresql-client)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing ${need[*]}..."
    apt-get install -y -qq "${need[@]}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
  else
    echo "missing: ${need[*]} (Debian/Ubuntu packages; pgbench ships with postgresql-contrib)" >&2
    exit 1
  fi
fi

# `demo` lives behind the dev feature; the hot paths are the same code as the plain release.
cargo build --release --features dev --locked --quiet
binary=target/release/scim-sidecar

admin_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_url=$(sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\\1/$database#" <<<"$admin_url")
psql "$admin_url" -Atqc 'select 1' >/dev/null || {
  echo "no PostgreSQL at ${admin_url%%@*}@…: set DATABASE_URL (the private cluster demo can start is not supported here)" >&2
  exit 1
}
sql() { psql "$db_url" -v ON_ERROR_STOP=1 -Atq "$@"; }
# The service's encryption key for this run: `page_cursor` signs its cursor with it.
encryption_key=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
# `demo` drops and recreates its database: two runs (or a demo) on one database break each other.
for pid in $(pgrep -f "scim-sidecar demo" || true); do
  other=$(ps -o args= -p "$pid" | sed -nE 's/.*--database[ =]([^ ]+).*/\1/p') || continue
  if [[ ${other:-scim_demo} == "$database" ]]; then
    echo "a 'scim-sidecar demo' (pid $pid) uses the $database database: pass --database <another name>" >&2
    exit 1
  fi
done

mkdir -p "$out"
results=$out/results.tsv
printf 'members\top\tconcurrency\tservice_rps\tservice_p50_ms\tservice_p99_ms\tservice_non2xx\tpeak_rss_kib\tpgbench_tps\tpgbench_p50_ms\tpgbench_p99_ms\tratio\n' >"$results"

service=
log=$(mktemp)
work=$(mktemp -d)
cleanup() {
  [[ -n $service ]] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
  rm -rf "$log" "$work"
}
trap cleanup EXIT

# --- one member count -------------------------------------------------------------------------

start_service() {
  local n=$1
  # No per-token rate limit (the benchmark is one token at full speed), warnings only (a log
  # line per request would be measured too), and deactivation rather than removal: the mode
  # beside an app with its own SCIM release.
  SCIM__SERVER__RATE_LIMIT_PER_SECOND=0 SCIM__LOG__FILTER=warn \
    SCIM__PROVISIONING__DEPROVISION_MODE=deactivate DATABASE_URL=$admin_url \
    SOURCEBOT_ENCRYPTION_KEY=$encryption_key \
    "$binary" demo --users 0 --database "$database" --listen 127.0.0.1:0 --seats $((n + 4 * pool + 100000)) >"$log" 2>&1 &
  service=$!
  local deadline=$((SECONDS + 120))
  until grep -q 'Bearer token:' "$log"; do
    if ! kill -0 "$service" 2>/dev/null || ((SECONDS > deadline)); then
      cat "$log" >&2
      echo "demo did not start" >&2
      exit 1
    fi
    sleep 0.2
  done
  base=$(grep -o 'http://[0-9.:]*/scim/v2' "$log" | head -1)
  export SCIM_BENCH_TOKEN
  SCIM_BENCH_TOKEN=$(grep -o 'sbscim_[0-9a-zA-Z_]*' "$log" | head -1)
  org=$(sed -nE 's/.*Org: *([0-9]+).*/\1/p' "$log" | head -1)
}

stop_service() {
  kill "$service" && wait "$service" 2>/dev/null || true
  service=
}

# Seeds people <prefix><from>..<prefix><to> in batches. With `show`, progress is drawn on stderr
# when it is a terminal (and nothing otherwise), then a summary line is printed, as `demo
# --users` and `migrate` do.
seed() {
  local prefix=$1 from=$2 to=$3 access=${4:-0} show=${5:-} batch=50000 lo hi started=$SECONDS
  local progress=
  [[ -n $show && -t 2 ]] && progress=1
  for ((lo = from; lo <= to; lo += batch)); do
    hi=$((lo + batch - 1 < to ? lo + batch - 1 : to))
    sql -v org="$org" -v prefix="$prefix" -v from="$lo" -v to="$hi" -v access="$access" -f $bench/seed.sql
    [[ -n $progress ]] && printf '\r\033[2Kseeding members %d/%d [%ds]' \
      $((hi - from + 1)) $((to - from + 1)) $((SECONDS - started)) >&2
  done
  [[ -n $progress ]] && printf '\r\033[2K' >&2
  [[ -n $show ]] && echo "seeded $((to - from + 1)) members in $((SECONDS - started)) s"
  return 0
}

# Waits until the service has no statement in flight: wrk stops sending at the deadline, but
# requests it already sent still run, and would write behind the next step's back.
quiesce() {
  local deadline=$((SECONDS + 60))
  until [[ $(sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                     AND application_name = 'scim-sidecar' AND state <> 'idle'") == 0 ]]; do
    ((SECONDS < deadline)) || { echo "the service is still busy after 60 s" >&2; exit 1; }
    sleep 0.2
  done
}

# Removes what a write run left: its pool, and people created by POST. Table by table with
# the foreign-key triggers off (a scratch database): a cascade from "User" would scan
# "UserToOrg" and the token tables once per person, none of them being indexed on "userId".
unseed() {
  quiesce
  sql <<SQL
SET session_replication_role = replica;
BEGIN;
CREATE TEMP TABLE gone ON COMMIT DROP AS
  SELECT id FROM public."User" WHERE id !~ '^m[0-9]+\$' AND email LIKE '%@bench.example';
DELETE FROM public."UserToOrg" WHERE "userId" IN (SELECT id FROM gone);
DELETE FROM scim_sidecar.user_profile WHERE user_id IN (SELECT id FROM gone);
DELETE FROM public."ApiKey" WHERE "createdById" IN (SELECT id FROM gone);
DELETE FROM public."OAuthToken" WHERE "userId" IN (SELECT id FROM gone);
DELETE FROM public."OAuthRefreshToken" WHERE "userId" IN (SELECT id FROM gone);
DELETE FROM public."OAuthAuthorizationCode" WHERE "userId" IN (SELECT id FROM gone);
DELETE FROM public."User" WHERE id IN (SELECT id FROM gone);
COMMIT;
SQL
}

# Peak RSS (VmHWM) of the service since the last reset; writing 5 to clear_refs resets it so
# each run reports its own peak.
reset_peak() { echo 5 >"/proc/$service/clear_refs" 2>/dev/null || true; }
peak_rss() { awk '/VmHWM/ {print $2}' "/proc/$service/status"; }

# wrk at concurrency c: prints "rps p50 p99 non2xx socket_errors".
drive_service() {
  local op=$1 c=$2 from=$3 count=$4 tag=$5 threads=$((c < 2 ? c : 2))
  SCIM_BENCH_THREADS=$threads wrk -t"$threads" -c"$c" -d"${seconds}s" --timeout 10s \
    -s $bench/scim.lua "$base" -- "$op" "$n" "$from" "$count" "$tag" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}

# pgbench at concurrency c on the op's script: prints "tps p50 p99" (latencies from its
# per-transaction log).
drive_pgbench() {
  local op=$1 c=$2 from=$3 count=$4 threads=$((c < 2 ? c : 2)) output
  rm -f "$work"/pgb*
  output=$(cd "$work" && pgbench "$db_url" -n -M prepared -c "$c" -j "$threads" -T "$seconds" \
    -l --log-prefix=pgb -D org="$org" -D n="$n" -D from="$from" -D count="$count" \
    -D clients="$c" -D k=0 -D after="$cursor_after" -f "$OLDPWD/$bench/pgbench/$op.sql" 2>&1) || true
  if grep -q 'aborted' <<<"$output"; then
    echo "  pgbench $op c=$c: $(grep -m1 -i 'abort' <<<"$output")" >&2
  fi
  local tps
  tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$output")
  cat "$work"/pgb* 2>/dev/null | awk '{print $3 / 1000}' | sort -n | awk -v tps="${tps:-0}" '
    { v[NR] = $1 }
    END { if (NR == 0) { print tps, 0, 0; exit }
          print tps, v[int((NR - 1) * 0.50) + 1], v[int((NR - 1) * 0.99) + 1] }'
}

# One run of one op: sets s_rps s_p50 s_p99 s_bad rss (service) or p_tps p_p50 p_p99 (pgbench).
run_one() {
  local runner=$1 op=$2 c=$3 from=$4 count=$5 s_sock
  if [[ $runner == service ]]; then
    reset_peak
    read -r s_rps s_p50 s_p99 s_bad s_sock < <(drive_service "$op" "$c" "$from" "$count" "n$n-c$c") || true
    s_rps=${s_rps:-0} s_p50=${s_p50:-0} s_p99=${s_p99:-0} s_bad=${s_bad:-0} s_sock=${s_sock:-0}
    rss=$(peak_rss)
    ((s_sock == 0)) || echo "  $op c=$c: $s_sock socket errors" >&2
  else
    read -r p_tps p_p50 p_p99 < <(drive_pgbench "$op" "$c" "$from" "$count") || true
    p_tps=${p_tps:-0} p_p50=${p_p50:-0} p_p99=${p_p99:-0}
  fi
}

declare -A row  # op -> the service's and pgbench's figures at the current concurrency

# Measures one op at every concurrency. Ops that consume people get a fresh pool before each
# run and lose it after; `deactivate` also measures `reactivate` on the people it deactivated.
measure() {
  local op=$1 c runner prefix= access=0 count
  case $op in
    create_adopt) prefix=a ;;
    deactivate) prefix=d; access=1 ;;
    reactivate) return 0 ;;  # measured with deactivate
    delete) prefix=x ;;
  esac
  for c in ${concurrency//,/ }; do
    row=()
    for runner in service pgbench; do
      if [[ -n $prefix ]]; then
        seed "$prefix" 1 "$pool" "$access"
        sql -c "ANALYZE"
      fi
      run_one "$runner" "$op" "$c" 1 "$pool"
      record "$op" "$runner"
      if [[ $op == deactivate ]]; then
        # Reactivate as many as this run deactivated (each thread or client walked its own
        # slice of the pool, so they are close to the first `count`).
        quiesce
        count=$(sql -c "SELECT count(*) FROM public.\"UserToOrg\" WHERE \"orgId\" = $org AND \"userId\" LIKE 'd%' AND NOT \"isActive\"")
        run_one "$runner" reactivate "$c" 1 "$((count > 0 ? count : 1))"
        record reactivate "$runner"
      fi
      # People created by POST or taken from a pool go, so every run starts from N members.
      [[ -z $prefix && $op != create_new ]] || unseed
    done
    local reported=$op
    [[ $op != deactivate ]] || reported+=" reactivate"
    for o in $reported; do
      # shellcheck disable=SC2086 # each entry is a list of figures
      report "$o" "$c" ${row[$o.service]} ${row[$o.pgbench]}
    done
  done
}

record() {
  if [[ $2 == service ]]; then
    row[$1.service]="$s_rps $s_p50 $s_p99 $s_bad $rss"
  else
    row[$1.pgbench]="$p_tps $p_p50 $p_p99"
  fi
}

# Appends one row to results.tsv and prints it.
report() {
  local op=$1 c=$2 s_rps=$3 s_p50=$4 s_p99=$5 s_bad=$6 rss=$7 p_tps=$8 p_p50=$9 p_p99=${10} ratio
  ratio=$(awk -v s="$s_rps" -v p="$p_tps" 'BEGIN { if (p > 0) printf "%.2f", s / p; else print "-" }')
  printf '%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\n' "$n" "$op" "$c" \
    "$s_rps" "$s_p50" "$s_p99" "$s_bad" "$rss" "$p_tps" "$p_p50" "$p_p99" "$ratio" | tee -a "$results" | table_row
}

table_row() {
  awk -F'\t' '{ printf "%8s  %-17s %4s  %9s %8s %8s %6s %8.1f  %9s %8s %8s  %5s\n",
    $1, $2, $3, $4, $5, $6, $7, $8 / 1024, $9, $10, $11, $12 }'
}

for n in ${members//,/ }; do
  echo "== $n members =="
  start_service "$n"
  seed m 1 "$n" 0 show
  sql -c "VACUUM ANALYZE"
  # page_cursor: the cursor a client holds after walking the org (in id order) up to the
  # member with 100 after it, so its page is the same last page as page_end's.
  cursor_after=$(sql -c "SELECT \"userId\" FROM public.\"UserToOrg\" WHERE \"orgId\" = $org
                         ORDER BY \"userId\" DESC OFFSET 100 LIMIT 1")
  export SCIM_BENCH_CURSOR
  SCIM_BENCH_CURSOR=$(python3 $bench/cursor.py "$encryption_key" "$org" "${cursor_after:-m0}" "$n")
  printf '%8s  %-17s %4s  %9s %8s %8s %6s %8s  %9s %8s %8s  %5s\n' members operation conc \
    'req/s' 'p50 ms' 'p99 ms' non2xx 'RSS MiB' 'pgb tps' 'p50 ms' 'p99 ms' ratio
  for op in ${ops//,/ }; do measure "$op"; done
  stop_service
done

gnuplot -e "results='$results'; output='$out/benchmarks.png'" $bench/plot.gp
awk -f $bench/table.awk "$results" >"$out/table.md"
echo "results: $results, $out/table.md (Markdown), plot: $out/benchmarks.png"
