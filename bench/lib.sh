# Scaffolding shared by the load scripts (sourced, not run): the procura binary, wrk, a
# throwaway database and work directory cleaned up on exit, clients, the server, and wrk runs
# with the server's resident memory sampled meanwhile.
#
# A script sets `set -euo pipefail`, cds to the repository, sources this file, then calls
# bench_database PREFIX (and the others as it needs). Variables it then has: procura, work,
# backend (sqlite | postgres), db_url, pid (the server, once bench_serve ran).

# "0-2,5" -> "0 1 2 5"
bench_expand_cpus() {
  local part out=()
  for part in ${1//,/ }; do
    if [[ $part == *-* ]]; then out+=($(seq "${part%-*}" "${part#*-}")); else out+=("$part"); fi
  done
  echo "${out[@]}"
}

# The cores not in the taskset list $1, comma-separated (every core when none is left).
bench_other_cores() {
  local mine rest=() c
  mine=" $(bench_expand_cpus "$1") "
  for c in $(seq 0 $(($(nproc) - 1))); do
    [[ $mine == *" $c "* ]] || rest+=("$c")
  done
  if [ ${#rest[@]} -gt 0 ]; then (IFS=,; echo "${rest[*]}"); else seq -s, 0 $(($(nproc) - 1)); fi
}

# Sets `procura`: BENCH_PROCURA as given (no build), else target/$BENCH_PROFILE/procura
# (release by default), built first unless BENCH_NO_BUILD is set.
bench_procura() {
  local profile=${BENCH_PROFILE:-release}
  if [ -n "${BENCH_PROCURA:-}" ]; then
    procura=$BENCH_PROCURA
    return
  fi
  procura="${CARGO_TARGET_DIR:-target}/$profile/procura"
  [ -n "${BENCH_NO_BUILD:-}" ] && return
  if [ "$profile" = release ]; then
    cargo build --release --locked --quiet --bin procura
  else
    cargo build --locked --quiet --bin procura
  fi
}

bench_need_wrk() {
  command -v wrk >/dev/null && return
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
}

# A work directory and a throwaway database: SQLite in the work directory, or, with
# BENCH_DATABASE_URL (an admin URL), a PostgreSQL database procura_PREFIX_PID created there.
# Everything is removed on exit, and the processes in `pid`, `peer_pid` and `bench_pids`
# are stopped. Exports procura's database and keys settings and a quiet log.
bench_database() {
  work=$(mktemp -d)
  db_created="" pid="" peer_pid=""
  bench_pids=()
  trap bench_cleanup EXIT
  if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    db_created="procura_$1_$$"
    psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE $db_created" >/dev/null
    db_url="${BENCH_DATABASE_URL%/*}/$db_created"
    backend=postgres
  else
    db_url="sqlite://$work/procura.db"
    backend=sqlite
  fi
  export PROCURA_DATABASE__URL="$db_url" PROCURA_KEYS__DIR="$work/keys" PROCURA_LOG__FILTER=warn
}

bench_cleanup() {
  local p
  for p in "${bench_pids[@]}" "$pid" "$peer_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  if [ -n "$db_created" ]; then
    psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db_created WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$work"
}

bench_migrate() {
  "$procura" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }
}

# bench_add_client ID NAME SCOPE GRANT [more options] -> prints the secret (basic clients).
bench_add_client() {
  "$procura" clients add --id "$1" --name "$2" --type basic --scope "$3" --grant "$4" "${@:5}" \
    >"$work/client-$1.out" 2>&1 || { cat "$work/client-$1.out" >&2; exit 1; }
  sed -n 's/^.*client_secret: *//p' "$work/client-$1.out" | head -n 1
}

# bench_basic ID SECRET -> the Authorization: Basic value (ids and generated secrets need no
# URL encoding).
bench_basic() { printf '%s:%s' "$1" "$2" | base64 -w0; }

# bench_serve PORT WORKERS CORES [more env assignments]: starts `procura serve` pinned to
# CORES with its log in $work/serve.log, sets `pid`, waits for /readyz.
bench_serve() {
  local port=$1 workers=$2 cores=$3
  shift 3
  env "$@" PROCURA_SERVER__BIND="127.0.0.1:$port" PROCURA_SERVER__WORKERS="$workers" \
    taskset -c "$cores" "$procura" serve >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "FAIL: procura did not start"; cat "$work/serve.log"; exit 1; }
}

bench_stop_server() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  pid=""
}

# bench_rss_kb PID -> VmRSS in KiB (0 when the process is gone).
bench_rss_kb() {
  local kb
  kb=$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null) || true
  echo "${kb:-0}"
}

# With BENCH_PERF set (a directory): `perf record -e cpu-clock -g` of PID for SECONDS, into
# BENCH_PERF/NAME.data, and its `perf report --stdio` into NAME.txt; hardware counters are not
# available on these VMs. bench_perf_start NAME PID SECONDS, then bench_perf_wait once the load
# is over.
bench_perf_start() {
  bench_perf_pid="" bench_perf_file=""
  [ -n "${BENCH_PERF:-}" ] || return 0
  mkdir -p "$BENCH_PERF"
  bench_perf_file="$BENCH_PERF/${1//[^a-zA-Z0-9-]/_}"
  perf record -q -e cpu-clock -g -p "$2" -o "$bench_perf_file.data" -- sleep "$3" >/dev/null 2>&1 &
  bench_perf_pid=$!
}
bench_perf_wait() {
  [ -n "${bench_perf_pid:-}" ] || return 0
  wait "$bench_perf_pid" || true
  perf report --stdio -i "$bench_perf_file.data" >"$bench_perf_file.txt" 2>/dev/null || true
}

# bench_wrk OUT PID CORES [wrk arguments]: runs wrk pinned to CORES into OUT while sampling
# PID's RSS every quarter second; sets bench_peak_kb. Fails (exit) when wrk does.
bench_wrk() {
  local out=$1 watched=$2 cores=$3 now wrk_pid
  shift 3
  taskset -c "$cores" wrk "$@" >"$out" 2>&1 &
  wrk_pid=$!
  bench_peak_kb=0
  while kill -0 "$wrk_pid" 2>/dev/null; do
    now=$(bench_rss_kb "$watched"); [ "$now" -gt "$bench_peak_kb" ] && bench_peak_kb=$now
    sleep 0.25
  done
  wait "$wrk_pid" || { echo "FAIL: wrk"; cat "$out"; exit 1; }
}

# Figures of a wrk --latency output: bench_rps OUT, bench_p50 OUT, bench_p99 OUT,
# bench_non2xx OUT (0 when none).
bench_rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
bench_p50() { awk '$1 == "50%" {print $2}' "$1"; }
bench_p99() { awk '$1 == "99%" {print $2}' "$1"; }
bench_non2xx() { awk '/Non-2xx/ {n = $NF} END {print n + 0}' "$1"; }

# bench_lua_post FILE CONTENT-TYPE BASIC BODY: a wrk script posting one fixed body with Basic
# credentials.
bench_lua_post() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "$2"
wrk.headers["Authorization"] = "Basic $3"
wrk.body = '$4'
LUA
}

# bench_ratio A B -> A / B with two decimals.
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

bench_load() { uptime | sed 's/.*load/load/'; }

# Stops the server and verifies the audit chain; exits non-zero when it does not verify.
bench_audit_verify() {
  bench_stop_server
  "$procura" audit verify >"$work/verify.out" 2>&1 || { echo "FAIL: the audit chain does not verify"; cat "$work/verify.out"; exit 1; }
  tail -n 1 "$work/verify.out"
}
