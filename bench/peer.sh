#!/usr/bin/env bash
# procura beside a mainstream provider, in one run and the same conditions (issue 13): Node's
# oidc-provider (pinned, from npm, installed under target/bench-peer — nothing of it is kept in
# the repository; bench/peer/provider.mjs is only its configuration) and procura each get one
# core (taskset, procura with one worker), wrk runs on the other core with 32 keep-alive
# connections, a warm-up, then BENCH_SECONDS per request. Printed: requests/s and p99 of each,
# and procura's figures as ratios to the peer's introspection / client_credentials.
#
#   bench/peer.sh                                                  # SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/peer.sh
#   BENCH_PROCURA=target/debug/procura bench/peer.sh               # another binary (no build)
#   BENCH_PROFILE=debug BENCH_SECONDS=2 BENCH_WARMUP=1 bench/peer.sh   # CI: faults only
#
# Settings: BENCH_SECONDS (10), BENCH_WARMUP (2 s), BENCH_CONNECTIONS (32), BENCH_CORES (server
# core, 0), BENCH_WRK_CORES (1), BENCH_PORT (18193; the peer uses the next port),
# BENCH_PROFILE (release; debug uses the debug binary, and says its figures mean nothing),
# BENCH_PERF (a directory: `perf record -e cpu-clock -g` of procura during each measured run,
# one <request>.data file and its report <request>.txt each).
# Enforced: the peer starts and issues a token, every answer 2xx, procura's RSS under load
# < 200 MB, the audit chain verifies after. The ratios are printed, never enforced.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PEER_VERSION=9.13.3
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
connections=${BENCH_CONNECTIONS:-32}
core=${BENCH_CORES:-0}
wrk_cores=${BENCH_WRK_CORES:-1}
port=${BENCH_PORT:-18193}
peer_port=$((port + 1))
secret=bench-peer-secret-not-a-real-one-0123456789

bench_procura
bench_need_wrk
peer_dir="${CARGO_TARGET_DIR:-target}/bench-peer"
mkdir -p "$peer_dir"
if [ "$(node -p "try{require('./$peer_dir/node_modules/oidc-provider/package.json').version}catch{''}")" != "$PEER_VERSION" ]; then
  echo '{"private":true,"type":"module"}' >"$peer_dir/package.json"
  (cd "$peer_dir" && npm install --no-audit --no-fund --silent "oidc-provider@$PEER_VERSION")
fi
cp bench/peer/provider.mjs "$peer_dir/provider.mjs"

bench_database peer

measure() { # name lua url pid -> sets last_rps last_p99 last_rss, checks 2xx
  local out="$work/wrk-${1//[^a-z]/_}.out"
  bench_wrk "$out.warm" "$4" "$wrk_cores" -t1 -c"$connections" -d"${warmup}s" -s "$2" "$3"
  if [ "$4" = "$pid" ]; then bench_perf_start "${1#procura: }" "$pid" "$seconds"; else bench_perf_pid=""; fi
  bench_wrk "$out" "$4" "$wrk_cores" -t1 -c"$connections" -d"${seconds}s" --latency -s "$2" "$3"
  bench_perf_wait
  last_rps=$(bench_rps "$out")
  last_p99=$(bench_p99 "$out")
  last_rss=$((bench_peak_kb / 1024))
  if [ "$(bench_non2xx "$out.warm")" -gt 0 ] || [ "$(bench_non2xx "$out")" -gt 0 ]; then
    echo "FAIL: $1 (answers not 2xx)"; cat "$out.warm" "$out"
    [ -n "$pid" ] && { echo "procura's log (warnings and errors):"; tail -n 30 "$work/serve.log"; }
    exit 1
  fi
  grep 'Socket errors' "$out" | sed 's/^ */  (wrk: /; s/$/)/' || true
  printf '%-40s %10s req/s  p99 %9s  peak RSS %4s MB\n' "$1" "$last_rps" "$last_p99" "$last_rss"
}

profile_note=""
if [[ $procura == */debug/* ]]; then
  profile_note=" — DEBUG binary: the figures and ratios below mean nothing, this run only checks for faults"
fi
echo "peer: oidc-provider $PEER_VERSION on node $(node --version); procura $backend ($procura)$profile_note"
echo "server on core $core (procura: 1 worker), wrk on core $wrk_cores, $connections connections, ${warmup}s warm-up then ${seconds}s each; $(bench_load)"
basic=$(bench_basic bench "$secret")
(cd "$peer_dir" && PORT=$peer_port PEER_SECRET=$secret exec taskset -c "$core" node provider.mjs) >"$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$peer_port/.well-known/openid-configuration" && break; sleep 0.1; done
peer_token=$(curl -sf -u "bench:$secret" -d grant_type=client_credentials -d scope=inps:read "http://127.0.0.1:$peer_port/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p') || true
[ -n "$peer_token" ] || { echo "FAIL: the peer did not start or issued no token"; cat "$work/peer.log"; exit 1; }
curl -sf -u "bench:$secret" --data "token=$peer_token" "http://127.0.0.1:$peer_port/token/introspection" | grep -q '"active":true' \
  || { echo "FAIL: the peer's token does not introspect as active"; cat "$work/peer.log"; exit 1; }
bench_lua_post "$work/peer-intro.lua" application/x-www-form-urlencoded "$basic" "token=$peer_token"
bench_lua_post "$work/peer-cc.lua" application/x-www-form-urlencoded "$basic" "grant_type=client_credentials&scope=inps:read&resource=urn:bench:jwt"
measure "peer: introspection" "$work/peer-intro.lua" "http://127.0.0.1:$peer_port/token/introspection" "$peer_pid"
peer_intro=$last_rps
measure "peer: client_credentials (ES256 JWT)" "$work/peer-cc.lua" "http://127.0.0.1:$peer_port/token" "$peer_pid"
peer_cc=$last_rps
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; peer_pid=""

bench_migrate
psecret=$(bench_add_client bench Bench "inps:read access:check" client_credentials)
pbasic=$(bench_basic bench "$psecret")
bench_serve "$port" 1 "$core"
token=$(curl -sf -u "bench:$psecret" -d grant_type=client_credentials -d scope=inps:read "http://127.0.0.1:$port/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p') || true
[ -n "$token" ] || { echo "FAIL: procura issued no token"; cat "$work/serve.log"; exit 1; }
curl -sf -u "bench:$psecret" --data "token=$token" "http://127.0.0.1:$port/introspect" | grep -q '"active":true' \
  || { echo "FAIL: procura's token does not introspect as active"; cat "$work/serve.log"; exit 1; }
bench_lua_post "$work/intro.lua" application/x-www-form-urlencoded "$pbasic" "token=$token"
bench_lua_post "$work/cc.lua" application/x-www-form-urlencoded "$pbasic" "grant_type=client_credentials&scope=inps:read"
# A "no" answer: the lookup and the audit record (two valid codici fiscali, no delegation).
bench_lua_post "$work/check.lua" application/json "$pbasic" '{"actor":"RSSMRA85T10A562S","subject":"BNCLCU70C15F205J","scope":"inps:read"}'
peak_rss=0
measure "procura: POST /v1/access/check" "$work/check.lua" "http://127.0.0.1:$port/v1/access/check" "$pid"
check_line="access check ÷ peer introspection: $(bench_ratio "$last_rps" "$peer_intro")  (p99 $last_p99)"
peak_rss=$last_rss
measure "procura: introspection" "$work/intro.lua" "http://127.0.0.1:$port/introspect" "$pid"
intro_line="introspection ÷ peer introspection: $(bench_ratio "$last_rps" "$peer_intro")  (p99 $last_p99)"
[ "$last_rss" -gt "$peak_rss" ] && peak_rss=$last_rss
measure "procura: client_credentials (ES256 JWT)" "$work/cc.lua" "http://127.0.0.1:$port/token" "$pid"
cc_line="client_credentials ÷ peer: $(bench_ratio "$last_rps" "$peer_cc")  (p99 $last_p99)"
[ "$last_rss" -gt "$peak_rss" ] && peak_rss=$last_rss
[ "$peak_rss" -lt 200 ] || { echo "FAIL: procura RSS reached 200 MB"; exit 1; }
kill -0 "$pid" 2>/dev/null || { echo "FAIL: procura is gone"; cat "$work/serve.log"; exit 1; }
bench_audit_verify
echo
echo "ratios ($backend, peak RSS $peak_rss MB)${profile_note:+ (debug binary: not figures)}:"
printf '  %s\n' "$check_line" "$intro_line" "$cc_line"
