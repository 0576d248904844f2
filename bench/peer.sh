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
#
# Settings: BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_CORES (server core, 0),
# BENCH_WRK_CORES (1), BENCH_PORT (18193; the peer uses the next port).
# Enforced: every answer 2xx, procura's RSS under load < 200 MB, the audit chain verifies after.
set -euo pipefail
cd "$(dirname "$0")/.."
PEER_VERSION=9.13.3
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
core=${BENCH_CORES:-0}
wrk_cores=${BENCH_WRK_CORES:-1}
port=${BENCH_PORT:-18193}
peer_port=$((port + 1))
secret=bench-peer-secret-not-a-real-one-0123456789

if [ -n "${BENCH_PROCURA:-}" ]; then
  procura=$BENCH_PROCURA
else
  cargo build --release --locked --quiet --bin procura
  procura="${CARGO_TARGET_DIR:-target}/release/procura"
fi
command -v wrk >/dev/null || {
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
}
peer_dir="${CARGO_TARGET_DIR:-target}/bench-peer"
mkdir -p "$peer_dir"
if [ "$(node -p "try{require('./$peer_dir/node_modules/oidc-provider/package.json').version}catch{''}")" != "$PEER_VERSION" ]; then
  echo '{"private":true,"type":"module"}' >"$peer_dir/package.json"
  (cd "$peer_dir" && npm install --no-audit --no-fund --silent "oidc-provider@$PEER_VERSION")
fi
cp bench/peer/provider.mjs "$peer_dir/provider.mjs"

work=$(mktemp -d)
db_created="" pid="" peer_pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null || true
  if [ -n "$db_created" ]; then psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db_created WITH (FORCE)" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  db_created="procura_peer_$$"
  psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE $db_created" >/dev/null
  db_url="${BENCH_DATABASE_URL%/*}/$db_created"
  backend=postgres
else
  db_url="sqlite://$work/procura.db"
  backend=sqlite
fi

# wrk -s script: a POST with a fixed body and Basic credentials.
lua() { # file content-type basic body
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "$2"
wrk.headers["Authorization"] = "Basic $3"
wrk.body = '$4'
LUA
}
rps=() p99=()
measure() { # name lua url pid -> sets last_rps last_p99, checks 2xx
  local out="$work/wrk-${1//[^a-z]/_}.out"
  taskset -c "$wrk_cores" wrk -t1 -c"$connections" -d2s -s "$2" "$3" >/dev/null
  taskset -c "$wrk_cores" wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$2" "$3" >"$out" &
  local wrk_pid=$! peak=0 now
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(awk '/^VmRSS/ {print $2}' "/proc/$4/status"); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.25
  done
  wait "$wrk_pid"
  last_rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  last_p99=$(awk '$1 == "99%" {print $2}' "$out")
  last_rss=$((peak / 1024))
  if grep -q 'Non-2xx' "$out"; then echo "FAIL: $1"; cat "$out"; exit 1; fi
  grep 'Socket errors' "$out" | sed 's/^ */  (wrk: /; s/$/)/' || true
  printf '%-34s %10s req/s  p99 %9s  peak RSS %4s MB\n' "$1" "$last_rps" "$last_p99" "$last_rss"
}

echo "peer: oidc-provider $PEER_VERSION on node $(node --version); procura $backend ($procura)"
echo "server on core $core (procura: 1 worker), wrk on core $wrk_cores, $connections connections, ${seconds}s each; load: $(uptime | sed 's/.*load/load/')"
basic=$(printf 'bench:%s' "$secret" | base64 -w0)
(cd "$peer_dir" && PORT=$peer_port PEER_SECRET=$secret exec taskset -c "$core" node provider.mjs) >"$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$peer_port/.well-known/openid-configuration" && break; sleep 0.1; done
peer_token=$(curl -sf -u "bench:$secret" -d grant_type=client_credentials -d scope=inps:read "http://127.0.0.1:$peer_port/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$peer_token" ] || { cat "$work/peer.log"; exit 1; }
lua "$work/peer-intro.lua" application/x-www-form-urlencoded "$basic" "token=$peer_token"
lua "$work/peer-cc.lua" application/x-www-form-urlencoded "$basic" "grant_type=client_credentials&scope=inps:read&resource=urn:bench:jwt"
measure "peer: introspection" "$work/peer-intro.lua" "http://127.0.0.1:$peer_port/token/introspection" "$peer_pid"
peer_intro=$last_rps
measure "peer: client_credentials (ES256 JWT)" "$work/peer-cc.lua" "http://127.0.0.1:$peer_port/token" "$peer_pid"
peer_cc=$last_rps
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true; peer_pid=""

export PROCURA_DATABASE__URL="$db_url" PROCURA_KEYS__DIR="$work/keys" PROCURA_LOG__FILTER=warn
"$procura" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }
"$procura" clients add --id bench --name Bench --type basic --scope "inps:read access:check" \
  --grant client_credentials >"$work/client.out" 2>&1 || { cat "$work/client.out"; exit 1; }
psecret=$(sed -n 's/^.*client_secret: *//p' "$work/client.out" | head -n 1)
pbasic=$(printf 'bench:%s' "$psecret" | base64 -w0)
PROCURA_SERVER__BIND="127.0.0.1:$port" PROCURA_SERVER__WORKERS=1 taskset -c "$core" "$procura" serve >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
token=$(curl -sf -u "bench:$psecret" -d grant_type=client_credentials -d scope=inps:read "http://127.0.0.1:$port/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { cat "$work/serve.log"; exit 1; }
lua "$work/intro.lua" application/x-www-form-urlencoded "$pbasic" "token=$token"
lua "$work/cc.lua" application/x-www-form-urlencoded "$pbasic" "grant_type=client_credentials&scope=inps:read"
# A "no" answer: the lookup and the audit record (two valid codici fiscali, no delegation).
lua "$work/check.lua" application/json "$pbasic" '{"actor":"RSSMRA85T10A562S","subject":"BNCLCU70C15F205J","scope":"inps:read"}'
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
measure "procura: POST /v1/access/check" "$work/check.lua" "http://127.0.0.1:$port/v1/access/check" "$pid"
check_line="access check ÷ peer introspection: $(ratio "$last_rps" "$peer_intro")  (p99 $last_p99)"
measure "procura: introspection" "$work/intro.lua" "http://127.0.0.1:$port/introspect" "$pid"
intro_line="introspection ÷ peer introspection: $(ratio "$last_rps" "$peer_intro")  (p99 $last_p99)"
measure "procura: client_credentials (ES256 JWT)" "$work/cc.lua" "http://127.0.0.1:$port/token" "$pid"
cc_line="client_credentials ÷ peer: $(ratio "$last_rps" "$peer_cc")  (p99 $last_p99)"
[ "$last_rss" -lt 200 ] || { echo "FAIL: procura RSS reached 200 MB"; exit 1; }
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
"$procura" audit verify | tail -n 1
echo
echo "ratios ($backend):"
printf '  %s\n' "$check_line" "$intro_line" "$cc_line"
