#!/usr/bin/env bash
# Acting-on-behalf benchmark: POST /v1/access/check and POST /introspect of delegated tokens,
# with a large registry, against a release `procura serve` pinned like bench/oauth.sh.
#
#   bench/acting.sh                                   # SQLite, 1,000,000 persons, 10,000 then 300,000 delegations
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/acting.sh
#   BENCH_PERSONS=5000 BENCH_DELEGATIONS=2000 BENCH_SECONDS=2 bench/acting.sh   # short (bench/all.sh)
#
# The seeding step is benches/acting_seed.rs (persons imported with import_csv, delegations
# inserted in batches, delegated tokens minted through the token-exchange code with the
# server's keys; see its header). The registry grows between the sizes: persons are imported
# once, then delegations are added up to each size, and the server is restarted for each.
#
# Settings (environment): BENCH_PERSONS (1000000), BENCH_DELEGATIONS (the sizes, space
# separated: "10000 300000"), BENCH_TOKENS (2000), BENCH_PAIRS (20000), BENCH_SECONDS (20,
# after BENCH_WARMUP, 5, unmeasured),
# BENCH_CONNECTIONS (32), BENCH_PORT (18183), BENCH_CORES (0), BENCH_WORKERS (number of
# BENCH_CORES), BENCH_WRK_CORES (the other cores), BENCH_DATABASE_URL (an admin URL: a scratch
# database is created there and dropped), BENCH_PERF (a directory: a perf profile of the
# server per endpoint and size, see bench/lib.sh).
#
# Enforced: every response is 2xx, the answers match what the seed expects (share of
# "allowed":true / "active":true), idle RSS < 50 MB, RSS under load < 200 MB, the audit chain
# verifies at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
procura="${CARGO_TARGET_DIR:-target}/release/procura"

persons=${BENCH_PERSONS:-1000000}
sizes=${BENCH_DELEGATIONS:-10000 300000}
seconds=${BENCH_SECONDS:-20}
warmup=${BENCH_WARMUP:-5}
connections=${BENCH_CONNECTIONS:-32}
port=${BENCH_PORT:-18183}
cores=${BENCH_CORES:-0}
idle_limit_kb=$((50 * 1024))
load_limit_kb=$((200 * 1024))

server_cpus=($(bench_expand_cpus "$cores"))
workers=${BENCH_WORKERS:-${#server_cpus[@]}}
wrk_cores=${BENCH_WRK_CORES:-$(bench_other_cores "$cores")}
wrk_threads=$(bench_expand_cpus "$wrk_cores" | wc -w)

bench_need_wrk
cargo build --release --locked --quiet --bins --benches
cargo bench --locked --quiet --bench acting_seed --no-run 2>/dev/null

bench_database acting
base="http://127.0.0.1:$port"
# The seed signs its tokens with this issuer; the server's default issuer follows its bind
# address, so both are told the same one.
export PROCURA_OAUTH__ISSUER="$base"

bench_migrate
add_client() { bench_add_client "$@"; }
# A downstream service asking the access check, a resource server introspecting, and the
# frontend the delegated tokens are issued to (the seed mints its tokens for it).
check_secret=$(add_client bench-checker "Bench checker" access:check client_credentials)
rs_secret=$(add_client bench-resource-server "Bench resource server" inps:read client_credentials)
add_client bench-frontend "Bench frontend" "openid profile inps:read inps:apply delegations:read" \
  authorization_code,refresh_token,urn:ietf:params:oauth:grant-type:token-exchange \
  --redirect-uri http://127.0.0.1/callback >/dev/null || true
grep -q client_secret "$work/client-bench-frontend.out" || { cat "$work/client-bench-frontend.out"; exit 1; }
[ -n "$check_secret" ] && [ -n "$rs_secret" ] || { echo "no client_secret printed"; cat "$work"/client-*.out; exit 1; }
check_basic=$(bench_basic bench-checker "$check_secret")
rs_basic=$(bench_basic bench-resource-server "$rs_secret")

# wrk scripts: each thread starts at its own place in the file and cycles through it, so the
# requests spread over thousands of rows; responses are counted by answer.
lua_common='
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function response(status, headers, body)
  if body:find(YES, 1, true) then yes = yes + 1 else no = no + 1 end
end
function done(summary, latency, requests)
  local y, n = 0, 0
  for _, t in ipairs(threads) do y = y + t:get("yes"); n = n + t:get("no") end
  io.write(string.format("answers: %d yes %d no\n", y, n))
end
'
cat >"$work/check.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $check_basic"
YES = '"allowed":true'
$lua_common
function init(args)
  yes, no = 0, 0
  bodies = {}
  for line in io.lines("$work/seed/pairs.txt") do
    local a, s = line:match("^(%S+) (%S+)")
    bodies[#bodies + 1] = '{"actor":"' .. a .. '","subject":"' .. s .. '","scope":"inps:read"}'
  end
  i = (id * 7919) % #bodies
end
function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
LUA
cat >"$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $rs_basic"
YES = '"active":true'
$lua_common
function init(args)
  yes, no = 0, 0
  bodies = {}
  for line in io.lines("$work/seed/tokens.txt") do
    bodies[#bodies + 1] = "token=" .. line:match("^(%S+)")
  end
  i = (id * 7919) % #bodies
end
function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
LUA

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
failed=0
results=()
run() { # name slug expected-yes-share lua url
  local name=$1 slug=$2 share=$3; shift 3
  # Unmeasured first: a server just started after the seeding has cold caches.
  taskset -c "$wrk_cores" wrk -t"$wrk_threads" -c"$connections" -d"${warmup}s" -s "$@" \
    >"$work/wrk-$slug.warm" 2>&1
  bench_perf_start "$backend-$size-$slug" "$pid" "$seconds"
  taskset -c "$wrk_cores" wrk -t"$wrk_threads" -c"$connections" -d"${seconds}s" --latency -s "$@" \
    >"$work/wrk-$slug.out" 2>&1 &
  local wrk_pid=$! endpoint_peak=0 now
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$endpoint_peak" ] && endpoint_peak=$now
    sleep 0.25
  done
  wait "$wrk_pid"
  bench_perf_wait
  [ "$endpoint_peak" -gt "$peak_kb" ] && peak_kb=$endpoint_peak
  local out="$work/wrk-$slug.out" rps p50 p99 non2xx errors yes no
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  errors=$(grep 'Socket errors' "$out" || true)
  read -r yes no < <(awk '/^answers:/ {print $2, $4}' "$out")
  local line
  line=$(printf '%-8s %9s %-34s %10s %9s %9s %8s %7s MB %6s%%' "$backend" "$size" "$name" "$rps" "$p50" "$p99" \
    "${non2xx:-0}" "$((endpoint_peak / 1024))" "$(( (yes * 100) / (yes + no > 0 ? yes + no : 1) ))")
  echo "$line"
  results+=("$line")
  if [ -n "$non2xx" ]; then echo "  FAIL: $non2xx responses were not 2xx"; cat "$out"; failed=1; fi
  if [ -n "$errors" ]; then echo "  FAIL: $errors"; cat "$out"; failed=1; fi
  # The share of positive answers must match the seed's (a few points for where wrk stopped).
  local got=$(( (yes * 100) / (yes + no > 0 ? yes + no : 1) ))
  if [ $((got - share)) -gt 3 ] || [ $((share - got)) -gt 3 ]; then
    echo "  FAIL: $got% positive answers, the seed expects $share%"; failed=1
  fi
}

header=$(printf '%-8s %9s %-34s %10s %9s %9s %8s %10s %7s' backend delegs endpoint requests/s p50 p99 non-2xx "peak RSS" "yes")
echo "procura acting-on-behalf benchmark: $backend, $persons persons, delegations: $sizes;"
echo "server on core(s) $cores with $workers worker(s), wrk on core(s) $wrk_cores ($wrk_threads threads), $connections connections, $seconds s per endpoint"
echo "load: $(uptime)"
for size in $sizes; do
  echo
  echo "== seeding up to $size delegations"
  BENCH_OUT="$work/seed" BENCH_PERSONS="$persons" BENCH_DELEGATIONS="$size" \
    cargo bench --locked --quiet --bench acting_seed 2>"$work/seed.err" | tee "$work/seed-$size.log" \
    || { cat "$work/seed.err"; exit 1; }
  [ -s "$work/seed/tokens.txt" ] || { cat "$work/seed.err"; exit 1; }
  cp "$work/seed/plans.txt" "$work/plans-$size.txt"
  pairs_yes=$(( $(grep -c ' true$' "$work/seed/pairs.txt") * 100 / $(wc -l <"$work/seed/pairs.txt") ))
  tokens_yes=$(( $(grep -c ' true$' "$work/seed/tokens.txt") * 100 / $(wc -l <"$work/seed/tokens.txt") ))

  bench_serve "$port" "$workers" "$cores"

  # By hand first: the first in-force pair is allowed, the first token active.
  read -r actor subject _ < <(grep -m1 ' true$' "$work/seed/pairs.txt")
  status=$(curl -s -o "$work/check.json" -w '%{http_code}' -H "Authorization: Basic $check_basic" \
    -H 'Content-Type: application/json' \
    --data "{\"actor\":\"$actor\",\"subject\":\"$subject\",\"scope\":\"inps:read\"}" "$base/v1/access/check")
  [ "$status" = 200 ] && grep -q '"allowed":true' "$work/check.json" \
    || { echo "POST /v1/access/check: HTTP $status, expected allowed"; cat "$work/check.json"; exit 1; }
  read -r token _ < <(grep -m1 ' true$' "$work/seed/tokens.txt")
  status=$(curl -s -o "$work/introspect.json" -w '%{http_code}' -H "Authorization: Basic $rs_basic" \
    --data "token=$token" "$base/introspect")
  [ "$status" = 200 ] && grep -q '"active":true' "$work/introspect.json" \
    || { echo "POST /introspect: HTTP $status, expected active"; cat "$work/introspect.json"; exit 1; }

  sleep 2
  idle_kb=$(rss)
  peak_kb=$idle_kb
  echo "$header"
  run "POST /v1/access/check" check "$pairs_yes" "$work/check.lua" "$base/v1/access/check"
  run "POST /introspect (delegated token)" introspect "$tokens_yes" "$work/introspect.lua" "$base/introspect"
  sleep 2
  after_kb=$(rss)
  rss_line="RSS at $size delegations: idle $((idle_kb / 1024)) MB, peak under load $((peak_kb / 1024)) MB, idle again $((after_kb / 1024)) MB"
  echo "$rss_line"
  results+=("  $rss_line")
  [ "$idle_kb" -lt "$idle_limit_kb" ] || { echo "FAIL: idle RSS is over 50 MB"; failed=1; }
  [ "$after_kb" -lt "$idle_limit_kb" ] || { echo "FAIL: idle RSS after the load is over 50 MB"; failed=1; }
  [ "$peak_kb" -lt "$load_limit_kb" ] || { echo "FAIL: RSS under load reached 200 MB"; failed=1; }
  bench_stop_server
done

echo
echo "summary ($backend, $persons persons; yes = share of allowed / active answers; load: $(uptime | sed 's/.*load/load/'))"
echo "$header"
printf '%s\n' "${results[@]}"
echo
echo "query plans at the largest size:"
cat "$work/plans-${size}.txt"
echo
bench_audit_verify
exit $failed
