#!/usr/bin/env bash
# OAuth endpoint benchmark: client_credentials issuance at POST /token and POST /introspect,
# against a release `procura serve` pinned to one core, driven by wrk on loopback.
#
#   bench/oauth.sh                          # SQLite, 1 core (1 worker), 20 s per endpoint
#   BENCH_SECONDS=3 bench/oauth.sh          # shorter (bench/all.sh)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/oauth.sh
#   BENCH_CORES=0-1 bench/oauth.sh          # server on cores 0 and 1, 2 workers
#
# Settings (environment): BENCH_SECONDS (20), BENCH_CONNECTIONS (32), BENCH_PORT (18182),
# BENCH_CORES (0: the cores procura runs on, a taskset list), BENCH_WORKERS (number of
# BENCH_CORES), BENCH_WRK_CORES (the other cores; every core when none is left),
# BENCH_PERF=<dir> (a profile of the server for each endpoint into <dir>, see bench/lib.sh).
#
# Aim (from the issue, reported, not enforced: it depends on the machine): 10,000 token
# issuances/s and 20,000 introspections/s on one core. Enforced: every response is 2xx,
# idle RSS < 50 MB, RSS under load < 200 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
# The release binary, wherever cargo puts it.
procura="${CARGO_TARGET_DIR:-target}/release/procura"

seconds=${BENCH_SECONDS:-20}
connections=${BENCH_CONNECTIONS:-32}
port=${BENCH_PORT:-18182}
cores=${BENCH_CORES:-0}
idle_limit_kb=$((50 * 1024))
load_limit_kb=$((200 * 1024))

server_cpus=($(bench_expand_cpus "$cores"))
workers=${BENCH_WORKERS:-${#server_cpus[@]}}
wrk_cores=${BENCH_WRK_CORES:-$(bench_other_cores "$cores")}
wrk_threads=$(bench_expand_cpus "$wrk_cores" | wc -w)

bench_need_wrk
cargo build --release --locked --quiet --bins --benches
bench_database oauth
base="http://127.0.0.1:$port"

# Clients, registered before the server starts: a service obtaining tokens, and a resource
# server introspecting them. Both client_secret_basic.
bench_migrate
service_secret=$(bench_add_client bench-service "Bench service" "inps:read inps:apply" client_credentials)
rs_secret=$(bench_add_client bench-resource-server "Bench resource server" "inps:read inps:apply" client_credentials)
[ -n "$service_secret" ] && [ -n "$rs_secret" ] || { echo "no client_secret printed"; cat "$work"/client-*.out; exit 1; }
service_basic=$(bench_basic bench-service "$service_secret")
rs_basic=$(bench_basic bench-resource-server "$rs_secret")

bench_serve "$port" "$workers" "$cores"

# One token by hand, to introspect and to check both endpoints answer as they should.
status=$(curl -s -o "$work/token.json" -w '%{http_code}' -H "Authorization: Basic $service_basic" \
  --data 'grant_type=client_credentials&scope=inps:read' "$base/token")
access_token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$work/token.json")
[ "$status" = 200 ] && [ -n "$access_token" ] || { echo "POST /token: HTTP $status"; cat "$work/token.json"; exit 1; }
status=$(curl -s -o "$work/introspect.json" -w '%{http_code}' -H "Authorization: Basic $rs_basic" \
  --data "token=$access_token" "$base/introspect")
[ "$status" = 200 ] && grep -q '"active":true' "$work/introspect.json" \
  || { echo "POST /introspect: HTTP $status, expected \"active\":true"; cat "$work/introspect.json"; exit 1; }

cat >"$work/token.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $service_basic"
wrk.body = "grant_type=client_credentials&scope=inps:read"
LUA
cat >"$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $rs_basic"
wrk.body = "token=$access_token"
LUA

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
sleep 2
idle_kb=$(rss)
peak_kb=$idle_kb

printf '\nprocura OAuth benchmark: %s, server on core(s) %s with %s worker(s), wrk on core(s) %s (%s threads), %s connections, %s s per endpoint\n' \
  "$backend" "$cores" "$workers" "$wrk_cores" "$wrk_threads" "$connections" "$seconds"
printf '%-42s %12s %10s %10s %10s %12s\n' endpoint requests/s p50 p99 "peak RSS" "aim (1 core)"
failed=0
run() {
  local name=$1 aim=$2 slug=$3; shift 3
  taskset -c "$wrk_cores" wrk -t"$wrk_threads" -c"$connections" -d"${seconds}s" --latency "$@" >"$work/wrk.out" 2>&1 &
  local wrk_pid=$! endpoint_peak=0 now
  # The profile leaves out wrk's first second (connections opening).
  [ -z "${BENCH_PERF:-}" ] || sleep 1
  bench_perf_start "$backend-$slug" "$pid" $((seconds > 4 ? seconds - 2 : 2))
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$endpoint_peak" ] && endpoint_peak=$now
    sleep 0.25
  done
  wait "$wrk_pid"
  bench_perf_wait
  [ "$endpoint_peak" -gt "$peak_kb" ] && peak_kb=$endpoint_peak
  local rps p50 p99 non2xx errors
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
  errors=$(grep 'Socket errors' "$work/wrk.out" || true)
  printf '%-42s %12s %10s %10s %7s MB %12s\n' "$name" "$rps" "$p50" "$p99" "$((endpoint_peak / 1024))" "$aim/s"
  if [ -n "$non2xx" ]; then echo "  FAIL: $non2xx responses were not 2xx"; cat "$work/wrk.out"; failed=1; fi
  if [ -n "$errors" ]; then echo "  FAIL: $errors"; cat "$work/wrk.out"; failed=1; fi
}
run "POST /token (client_credentials)" 10000 token -s "$work/token.lua" "$base/token"
run "POST /introspect (active access token)" 20000 introspect -s "$work/introspect.lua" "$base/introspect"

sleep 2
after_kb=$(rss)
printf '\nRSS: idle %d MB, peak under load %d MB, idle again %d MB (limits: idle < 50 MB, load < 200 MB)\n' \
  "$((idle_kb / 1024))" "$((peak_kb / 1024))" "$((after_kb / 1024))"
[ -z "${BENCH_PERF:-}" ] || echo "perf profiles: $BENCH_PERF/$backend-{token,introspect}.{data,txt}"
[ "$idle_kb" -lt "$idle_limit_kb" ] || { echo "FAIL: idle RSS is over 50 MB"; failed=1; }
[ "$after_kb" -lt "$idle_limit_kb" ] || { echo "FAIL: idle RSS after the load is over 50 MB"; failed=1; }
[ "$peak_kb" -lt "$load_limit_kb" ] || { echo "FAIL: RSS under load reached 200 MB"; failed=1; }
exit $failed
