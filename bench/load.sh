#!/usr/bin/env bash
# Server-level load benchmark: throughput, latency and memory of a release `procura serve`.
#
#   bench/load.sh                      # SQLite, 20 s per endpoint
#   BENCH_SECONDS=5 bench/load.sh      # shorter (bench/all.sh)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/load.sh
#
# It starts procura on a throwaway database, reads its resident memory (VmRSS) at idle,
# drives each endpoint with wrk on loopback (bounded in time), samples VmRSS throughout, and
# fails if the service idles at 50 MB or more or ever reaches 200 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
# The release binary, wherever cargo puts it.
procura="${CARGO_TARGET_DIR:-target}/release/procura"

seconds=${BENCH_SECONDS:-20}
connections=${BENCH_CONNECTIONS:-64}
port=${BENCH_PORT:-18181}
idle_limit_kb=$((50 * 1024))
load_limit_kb=$((200 * 1024))

bench_need_wrk
cargo build --release --locked --quiet --bins --benches

bench_database load
bench_serve "$port" "$(nproc)" "0-$(($(nproc) - 1))"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
sleep 2
idle_kb=$(rss)
peak_kb=$idle_kb

cat >"$work/check.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"codice_fiscale": "RSSMRA85T10A562S"}'
LUA

printf '\nprocura load benchmark: %s, %s connections, %s s per endpoint, 2 wrk threads\n' "$backend" "$connections" "$seconds"
printf '%-34s %12s %10s %10s %12s\n' endpoint requests/s p50 p99 "peak RSS"
run() {
  local name=$1; shift
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" >"$work/wrk.out" 2>&1 &
  local wrk_pid=$! endpoint_peak=0 now
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$endpoint_peak" ] && endpoint_peak=$now
    sleep 0.25
  done
  wait "$wrk_pid"
  [ "$endpoint_peak" -gt "$peak_kb" ] && peak_kb=$endpoint_peak
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
  printf '%-34s %12s %10s %10s %9s MB\n' "$name" "$rps" "$p50" "$p99" "$((endpoint_peak / 1024))"
  if [ -n "$non2xx" ]; then echo "  $non2xx responses were not 2xx"; cat "$work/wrk.out"; exit 1; fi
}
run "GET /healthz" "http://127.0.0.1:$port/healthz"
run "GET /readyz (database round trip)" "http://127.0.0.1:$port/readyz"
run "POST /v1/codice-fiscale/check" -s "$work/check.lua" "http://127.0.0.1:$port/v1/codice-fiscale/check"

sleep 2
after_kb=$(rss)
printf '\nRSS: idle %d MB, peak under load %d MB, idle again %d MB (limits: idle < 50 MB, load < 200 MB)\n' \
  "$((idle_kb / 1024))" "$((peak_kb / 1024))" "$((after_kb / 1024))"
status=0
[ "$idle_kb" -lt "$idle_limit_kb" ] || { echo "FAIL: idle RSS is over 50 MB"; status=1; }
[ "$peak_kb" -lt "$load_limit_kb" ] || { echo "FAIL: RSS under load reached 200 MB"; status=1; }
exit $status
