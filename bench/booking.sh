#!/usr/bin/env bash
# The booking routes anyone can reach, under their worst inputs: throughput, latency and memory
# of a release `procura serve`.
#
#   bench/booking.sh                      # SQLite, 10 s per case
#   BENCH_SECONDS=3 bench/booking.sh      # shorter (bench/all.sh)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/booking.sh
#
# The desk is the costliest one the rules allow: open every day 00:00-23:59 with 8-minute
# slots (179 a day) and 100 operators on duty for 60 days. Cases:
#   - the month calendar and a day's free slots (the most a look-up computes);
#   - the same guest hold sent over and over (one booking, then a refusal per request, each a
#     write transaction: the race of identical requests);
#   - a body at the size limit (a 250 KB desk id) and JSON nested 100,000 deep;
#   - with the default per-address limits (a second server on the same database), the
#     calendar and the guest hold flooded from one address: refused before any work.
# It fails if RSS reaches 200 MB or a case answers with a status it should not.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
procura="${CARGO_TARGET_DIR:-target}/release/procura"
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
port=${BENCH_PORT:-18191}
limited_port=$((port + 1))
load_limit_kb=$((200 * 1024))

bench_need_wrk
cargo build --release --locked --quiet --bins --benches
bench_database booking

if [ "$backend" = postgres ]; then
  sql() { psql "$db_url" -qAt -v ON_ERROR_STOP=1 -c "$1"; }
  seed_operators="INSERT INTO operators (id, codice_fiscale, display_name, roles, office, active, created_at, updated_at, disabled_at)
    SELECT 'op' || n, 'op' || n, 'op' || n, 'sportello', NULL, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL
    FROM generate_series(1, 100) AS n"
  seed_duty="INSERT INTO desk_duty (desk_id, day, operator_id)
    SELECT 'bench-desk', CAST(CURRENT_DATE + d AS DATE), 'op' || o
    FROM generate_series(0, 59) AS d, generate_series(1, 100) AS o"
else
  sql() { sqlite3 -bail "$work/procura.db" ".timeout 5000" "$1"; }
  seed_operators="WITH RECURSIVE o(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM o WHERE n < 100)
    INSERT INTO operators (id, codice_fiscale, display_name, roles, office, active, created_at, updated_at, disabled_at)
    SELECT 'op' || n, 'op' || n, 'op' || n, 'sportello', NULL, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, NULL FROM o"
  seed_duty="WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 59),
                        o(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM o WHERE n < 100)
    INSERT INTO desk_duty (desk_id, day, operator_id)
    SELECT 'bench-desk', date('now', '+' || d.n || ' days'), 'op' || o.n FROM d, o"
fi

start() { # port, extra env...
  local p=$1; shift
  # The database, keys and log settings are bench_database's exports.
  env PROCURA_SERVER__BIND="127.0.0.1:$p" "$@" "$procura" serve >>"$work/serve.log" 2>&1 &
  bench_pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && return; sleep 0.1; done
  cat "$work/serve.log"; exit 1
}
start "$port" PROCURA_BOOKING__GUEST_REQUESTS_PER_MINUTE_PER_ADDRESS=0 \
  PROCURA_BOOKING__CALENDAR_REQUESTS_PER_MINUTE_PER_ADDRESS=0
pid=${bench_pids[0]}

# The worst desk the rules allow, staffed for 60 days.
sql "INSERT INTO desks (id, name, office, kind, time_zone, opening, slot_minutes, guest_booking, location, active, created_at, updated_at)
     VALUES ('bench-desk', 'SERVIZI VELOCI', 'BENCH', 'in_person', 'Europe/Rome',
             'mon 00:00-23:59; tue 00:00-23:59; wed 00:00-23:59; thu 00:00-23:59; fri 00:00-23:59; sat 00:00-23:59; sun 00:00-23:59',
             8, TRUE, NULL, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
sql "$seed_operators"
sql "$seed_duty"
echo "seeded: $(sql "SELECT COUNT(*) FROM desk_duty") duty rows"

tomorrow=$(date -u -d tomorrow +%F)
month=$(date -u +%Y-%m)
slot=$(curl -sf "http://127.0.0.1:$port/v1/desks/bench-desk/slots?date=$tomorrow" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["slots"][100]["starts_at"]); assert len(d["slots"]) == 179, len(d["slots"])')

cat >"$work/hold.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"desk_id": "bench-desk", "starts_at": "$slot", "codice_fiscale": "RSSMRA85T10A562S"}'
LUA
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
big = '{"desk_id": "' + "x" * 250_000 + '", "starts_at": "2030-01-01T08:00:00Z", "codice_fiscale": "RSSMRA85T10A562S"}'
deep = "[" * 100_000
for name, body in [("big", big), ("deep", deep)]:
    open(f"{work}/{name}.json", "w").write(body)
    open(f"{work}/{name}.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{work}/{name}.json"); wrk.body = f:read("*a"); f:close()\n')
PY

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
idle_kb=$(rss "$pid")
peak_kb=$idle_kb
printf '\nprocura booking routes without login: %s, %s connections, %s s per case\n' "$backend" "$connections" "$seconds"
printf '%-44s %10s %9s %9s %8s  %s\n' case requests/s p50 p99 "peak RSS" "statuses"
run() { # name, allowed statuses ("409 201"), server pid, wrk args...
  local name=$1 allowed=$2 server=$3; shift 3
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/status.lua" "$@" >"$work/wrk.out" 2>&1 &
  local wrk_pid=$! case_peak=0 now
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(rss "$server"); [ "$now" -gt "$case_peak" ] && case_peak=$now
    sleep 0.25
  done
  wait "$wrk_pid" || { cat "$work/wrk.out"; exit 1; }
  [ "$case_peak" -gt "$peak_kb" ] && peak_kb=$case_peak
  local rps p50 p99 statuses
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
  statuses=$(awk '/^status/ {printf "%s ", $2}' "$work/wrk.out")
  printf '%-44s %10s %9s %9s %5s MB  %s\n' "$name" "$rps" "$p50" "$p99" "$((case_peak / 1024))" "$statuses"
  awk -v ok=" $allowed " '/^status/ { split($2, s, "="); if (index(ok, " " s[1] " ") == 0) bad = 1 } END { exit bad }' "$work/wrk.out" ||
    { echo "FAIL: a status other than $allowed"; cat "$work/wrk.out"; exit 1; }
}
# How many responses of `status` the last case had.
count() { awk -v s="$1" '/^status/ { split($2, x, "="); if (x[1] == s) n = x[2] } END { print n + 0 }' "$work/wrk.out"; }
# wrk's lua: count responses per status, then print them (the request script is chained in).
mk() { # name of the request script ('' for GET)
  { [ -n "$1" ] && cat "$work/$1.lua"; cat <<'LUA'
counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() counts = {} end
function response(status) counts[status] = (counts[status] or 0) + 1 end
function done()
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("status %d=%d\n", k, v)) end
end
LUA
  } >"$work/status.lua"
}
base="http://127.0.0.1:$port"
mk ""; run "GET calendar (31 days x 179 slots)" "200" "$pid" "$base/v1/desks/bench-desk/calendar?month=$month"
mk ""; run "GET slots (179 slots, 100 places)" 200 "$pid" "$base/v1/desks/bench-desk/slots?date=$tomorrow"
mk hold; run "POST guest hold, identical requests" "409 201" "$pid" "$base/v1/guest-bookings"
mk big; run "POST guest hold, 250 KB desk id" 404 "$pid" "$base/v1/guest-bookings"
mk deep; run "POST guest hold, JSON nested 100,000 deep" 422 "$pid" "$base/v1/guest-bookings"

start "$limited_port"
limited=${bench_pids[1]}
lbase="http://127.0.0.1:$limited_port"
mk ""; run "GET calendar, one address, default limit" "429 200" "$limited" "$lbase/v1/desks/bench-desk/calendar?month=$month"
# 120 at once, then 2 a second.
[ "$(count 200)" -le $((120 + 2 * seconds + 2)) ] || { echo "FAIL: the calendar limit let $(count 200) through"; exit 1; }
mk hold; run "POST guest hold, one address, default limit" "429 409" "$limited" "$lbase/v1/guest-bookings"
[ "$(count 409)" -le $((10 + seconds / 6 + 2)) ] || { echo "FAIL: the guest limit let $(count 409) through"; exit 1; }

held=$(sql "SELECT COUNT(*) FROM bookings")
printf '\nbookings written: %s (one per distinct person and desk type)\n' "$held"
printf 'RSS: idle %d MB, peak under load %d MB (limit: 200 MB)\n' "$((idle_kb / 1024))" "$((peak_kb / 1024))"
[ "$held" -le 1 ] || { echo "FAIL: identical requests wrote more than one booking"; exit 1; }
[ "$peak_kb" -lt "$load_limit_kb" ] || { echo "FAIL: RSS under load reached 200 MB"; exit 1; }
