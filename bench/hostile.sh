#!/usr/bin/env bash
# Memory and slow-client limits under hostile load (issue 12, items 4 and 5): a `procura serve`
# on a throwaway database gets, at once, a burst of maximum-size, oversized, chunked and
# multipart bodies and huge headers on every operation of openapi.yaml and hundreds of stalled
# connections from several loopback addresses; then a short schemathesis run over openapi.yaml.
# Its peak resident memory (VmHWM in /proc/PID/status) must stay at or under 200 MB, every
# stalled connection must be closed (or refused) in time, and /healthz must answer meanwhile.
#
#   bench/hostile.sh                       # release build, SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/hostile.sh
#   BENCH_PROFILE=debug bench/hostile.sh   # the debug binary (no release build needed)
#
# Settings (environment): BENCH_PORT (18187), BENCH_STALLED (300), BENCH_ADDRESSES (4 source
# addresses 127.0.0.2...: 75 connections each, over the default limit of 64 per address),
# BENCH_ROUNDS (2 bursts of bodies), BENCH_CONCURRENCY (32), BENCH_SCHEMATHESIS_SECONDS (60;
# 0 skips it; installed with pip into target/bench-venv the first time, skipped when that
# fails), BENCH_PROCURA (a binary to run instead, e.g. an older build).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
port=${BENCH_PORT:-18187}
stalled=${BENCH_STALLED:-300}
addresses=${BENCH_ADDRESSES:-4}
rounds=${BENCH_ROUNDS:-2}
concurrency=${BENCH_CONCURRENCY:-32}
st_seconds=${BENCH_SCHEMATHESIS_SECONDS:-60}
limit_kb=$((200 * 1024))
# The defaults of server.body_limit_bytes and server.body_idle_timeout_ms (the stalled bodies
# must be closed within three times the latter).
body_limit=262144
body_idle_ms=5000

bench_procura

bench_database hostile
# Every core, as in production: the slow clients and the bursts are handled side by side.
bench_serve "$port" "$(nproc)" "0-$(($(nproc) - 1))"

status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
threads() { awk '$1 == "Threads:" {print $2}' "/proc/$pid/status"; }
report() { printf '  %-28s VmRSS %4d MB, VmHWM %4d MB, %s threads\n' "$1" "$(($(status_kb VmRSS) / 1024))" "$(($(status_kb VmHWM) / 1024))" "$(threads)"; }

printf '\nprocura hostile-load benchmark: %s, %s\n' "$backend" "$procura"
sleep 1
report "idle"
status=0

printf '\n%s stalled connections and %s bursts of hostile bodies at once\n' "$stalled" "$rounds"
python3 bench/hostile.py stalled "$port" "$stalled" "$addresses" $((body_idle_ms / 1000 * 3)) >"$work/stalled.out" 2>&1 &
stalled_pid=$!
for round in $(seq 1 "$rounds"); do
  python3 bench/hostile.py bodies "$port" "$body_limit" "$concurrency" || status=1
  report "after burst $round"
done
wait "$stalled_pid" || status=1
cat "$work/stalled.out"
report "after the stalled ones"

if [ "$st_seconds" -gt 0 ]; then
  venv=${CARGO_TARGET_DIR:-target}/bench-venv
  if [ ! -x "$venv/bin/st" ]; then
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==4.32.5"; } >"$work/pip.log" 2>&1 || true
  fi
  if [ -x "$venv/bin/st" ]; then
    printf '\nschemathesis over openapi.yaml for %s s (not_a_server_error)\n' "$st_seconds"
    st_rc=0
    "$venv/bin/st" run openapi.yaml --url "http://127.0.0.1:$port" --max-time "$st_seconds" \
      --workers 8 --checks not_a_server_error --request-timeout 30 \
      >"$work/st.out" 2>&1 || st_rc=$?
    grep -E "passed|failed|error" "$work/st.out" | tail -n 5 | sed 's/^/  /' || true
    # A server error found fails the benchmark. (Schemathesis also exits non-zero for its own
    # runtime errors, e.g. a Hypothesis failure on one operation: those are listed, not failed.)
    cp "$work/st.out" "${CARGO_TARGET_DIR:-target}/hostile-schemathesis.out" 2>/dev/null || true
    if grep -qE "[0-9]+ (failed|failures?)([^a-z]|$)" "$work/st.out"; then
      echo "FAIL: schemathesis found server errors (target/hostile-schemathesis.out):"
      grep -E -A20 "^_+ .* _+$" "$work/st.out" | head -n 60 | sed 's/^/  /'
      status=1
    elif [ "$st_rc" -ne 0 ]; then
      echo "  (schemathesis exited with $st_rc for its own errors; target/hostile-schemathesis.out)"
    fi
    report "after schemathesis"
  else
    printf '\nschemathesis not installable here (see pip); skipped\n'
  fi
fi

peak_kb=$(status_kb VmHWM)
printf '\npeak RSS (VmHWM): %d MB (limit 200 MB)\n' "$((peak_kb / 1024))"
[ "$peak_kb" -le "$limit_kb" ] || { echo "FAIL: peak RSS over 200 MB"; status=1; }
kill -0 "$pid" 2>/dev/null || { echo "FAIL: procura is gone"; cat "$work/serve.log"; status=1; }
exit $status
