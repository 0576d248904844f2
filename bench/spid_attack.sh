#!/usr/bin/env bash
# Hostile SAML against a release `procura serve`: what each anonymous SPID input costs, and whether
# an attack on /spid/acs and /spid/slo starves the rest of the service.
#
#   bench/spid_attack.sh                    # both parts
#   bench/spid_attack.sh replay             # each hostile request once, timed (issue 11's table)
#   bench/spid_attack.sh isolation          # introspection p99 alone, then under the attack
#   BENCH_SECONDS=3 bench/spid_attack.sh    # shorter (bench/all.sh)
#
# The hostile requests come from bench/spid_hostile.py (namespace floods, a long PrefixList, deep
# nesting, many attributes, long names, many siblings, large base64 text, DEFLATE bombs, a form of
# repeated keys), sized to the 256 KiB body limit. The Single Logout messages name a known IdP.
#
# replay: each request once with curl (at most BENCH_MAX_TIME s, 60 by default), its status and
# time; fails when one takes longer than BENCH_REPLAY_LIMIT_MS (500: the round trip over loopback
# with a 256 KiB body included) or answers 5xx.
# isolation: introspection p99 with wrk alone (BENCH_SECONDS), then the same while
# BENCH_ATTACKERS (16) connections send the hostile requests to /spid/acs and /spid/slo without
# pause. Fails when the p99 under attack is more than BENCH_ISOLATION_FACTOR (2) times the p99
# alone, plus 1 ms of slack for timer noise on a shared machine.
#
# As bench/oauth.sh does, the server runs on BENCH_CORES (core 0) with one worker per core and wrk on
# the other cores, so that the load generators do not take the server's CPU.
#
# Settings (environment): BENCH_SECONDS (10), BENCH_PORT (18183), BENCH_ATTACKERS (16),
# BENCH_CONNECTIONS (8, introspection), BENCH_CORES (0), BENCH_SPID_NICE (the configured default),
# BENCH_DATABASE_URL (PostgreSQL instead of SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
procura="${CARGO_TARGET_DIR:-target}/release/procura"
mode=${1:-all}
seconds=${BENCH_SECONDS:-10}
port=${BENCH_PORT:-18183}
attackers=${BENCH_ATTACKERS:-16}
connections=${BENCH_CONNECTIONS:-8}
max_time=${BENCH_MAX_TIME:-60}
replay_limit_ms=${BENCH_REPLAY_LIMIT_MS:-500}
factor=${BENCH_ISOLATION_FACTOR:-2}
cores=${BENCH_CORES:-0}
idp=https://idp.hostile.example

server_cpus=($(bench_expand_cpus "$cores"))
wrk_cores=$(bench_other_cores "$cores")

bench_need_wrk
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --locked --quiet --bins --benches
bench_database spid_attack
base="http://127.0.0.1:$port"

# A known IdP (its entityID is what the Single Logout messages name); its key signs nothing here.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=idp.hostile.example" \
  -keyout "$work/idp.key" -out "$work/idp.crt" 2>/dev/null
cert=$(sed '/-----/d' "$work/idp.crt" | tr -d '\n')
cat >"$work/idp.xml" <<XML
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="$idp">
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">
<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$cert</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="$idp/slo"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="$idp/sso"/>
</md:IDPSSODescriptor>
</md:EntityDescriptor>
XML
python3 bench/spid_hostile.py "$work/requests" "$idp"

while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^PROCURA_' || true)
cat >"$work/procura.toml" <<TOML
[server]
bind = "127.0.0.1:$port"
workers = ${#server_cpus[@]}
[database]
url = "$db_url"
[keys]
dir = "$work/keys"
[log]
filter = "warn"
[oauth]
issuer = "$base"
[login]
methods = ["pin", "spid"]
[spid]
idp_metadata = ["$work/idp.xml"]
TOML
[ -z "${BENCH_SPID_NICE:-}" ] || echo "workers_nice = $BENCH_SPID_NICE" >>"$work/procura.toml"
"$procura" --config "$work/procura.toml" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }

start() {
  taskset -c "$cores" "$procura" --config "$work/procura.toml" serve >>"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do curl -sf "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "$base/readyz" >/dev/null || { tail -n 30 "$work/serve.log"; exit 1; }
}
restart() {
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
  start
}
start
failed=0

replay() {
  printf '\nreplay: each hostile request once (release build, %s)\n' "$(basename "${db_url%%:*}")"
  printf '%-28s %-5s %-10s %9s %7s %10s\n' request method path bytes status time_ms
  while IFS=$'\t' read -r name method path file; do
    local size out status time_s ms
    size=$(stat -c %s "$file")
    if [ "$method" = POST ]; then
      out=$(curl -s -o /dev/null -m "$max_time" -w '%{http_code} %{time_total}' \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "@$file" "$base$path" || true)
    else
      out=$(curl -s -o /dev/null -m "$max_time" -w '%{http_code} %{time_total}' "$base$path?$(cat "$file")" || true)
    fi
    status=${out%% *}; time_s=${out#* }
    ms=$(awk -v t="$time_s" 'BEGIN { printf "%.1f", t * 1000 }')
    if [ "$status" = 000 ]; then
      printf '%-28s %-5s %-10s %9s %7s %10s\n' "$name" "$method" "$path" "$size" "none" "> ${max_time}000"
      failed=1
      restart # the server may still be busy with it
      continue
    fi
    printf '%-28s %-5s %-10s %9s %7s %10s\n' "$name" "$method" "$path" "$size" "$status" "$ms"
    if [ "${status:0:1}" = 5 ]; then echo "  FAIL: $status"; failed=1; fi
    if awk -v m="$ms" -v l="$replay_limit_ms" 'BEGIN { exit !(m > l) }'; then
      echo "  FAIL: over $replay_limit_ms ms"; failed=1
    fi
  done <"$work/requests/requests.tsv"
}

# --- isolation: an introspecting resource server, with and without the attack
isolation() {
  local secret basic token p99_alone p99_attack rps_alone rps_attack
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
  "$procura" --config "$work/procura.toml" clients add --id bench-rs --name "Bench RS" --type basic \
    --scope "inps:read" --grant client_credentials >"$work/client.out" 2>&1 || { cat "$work/client.out"; exit 1; }
  secret=$(sed -n 's/^.*client_secret: *//p' "$work/client.out" | head -n 1)
  start
  basic=$(printf '%s:%s' bench-rs "$secret" | base64 -w0)
  token=$(curl -s -H "Authorization: Basic $basic" --data 'grant_type=client_credentials&scope=inps:read' "$base/token" \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || { echo "no access token"; exit 1; }
  cat >"$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
wrk.body = "token=$token"
LUA
  # The attack: every hostile request in turn, on each connection, without pause. (Built in
  # init(): wrk.format at load time would leave out the Host header, and actix answers 400.)
  {
    echo 'local requests = {}'
    echo 'local threads = {}'
    echo 'setup = function(thread) table.insert(threads, thread) end'
    echo 'init = function(args)'
    echo '  busy, failed = 0, 0'
    while IFS=$'\t' read -r name method path file; do
      if [ "$method" = POST ]; then
        printf 'table.insert(requests, wrk.format("POST", "%s", {["Content-Type"] = "application/x-www-form-urlencoded"}, io.open("%s", "rb"):read("*a")))\n' "$path" "$file"
      else
        printf 'table.insert(requests, wrk.format("GET", "%s?" .. io.open("%s", "rb"):read("*a")))\n' "$path" "$file"
      fi
    done <"$work/requests/requests.tsv"
    echo 'end'
    echo 'local i = 0'
    echo 'request = function() i = i % #requests + 1; return requests[i] end'
    # Every answer is a refusal: a 4xx, or 503 when the SPID queue is full (counted apart).
    echo 'response = function(status) if status == 503 then busy = busy + 1 elseif status < 400 or status >= 500 then failed = failed + 1 end end'
    echo 'done = function() local b, f = 0, 0; for _, t in ipairs(threads) do b = b + t:get("busy"); f = f + t:get("failed") end; io.write(string.format("answered 503: %d, not a refusal: %d\n", b, f)) end'
  } >"$work/attack.lua"

  introspect() {
    taskset -c "$wrk_cores" wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$work/introspect.lua" \
      "$base/introspect" >"$work/introspect.out" 2>&1
    awk '$1 == "99%" {print $2}' "$work/introspect.out"
  }
  to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v / 1000; else if (v ~ /ms$/) printf "%.3f", v + 0; else printf "%.3f", v * 1000 }'; }
  p99_alone=$(to_ms "$(introspect)")
  rps_alone=$(awk '/Requests\/sec/ {print $2}' "$work/introspect.out")
  taskset -c "$wrk_cores" wrk -t1 -c"$attackers" -d"$((seconds + 4))s" --timeout 60s --latency -s "$work/attack.lua" "$base/" \
    >"$work/attack.out" 2>&1 &
  local attack_pid=$!
  sleep 2
  p99_attack=$(to_ms "$(introspect)")
  rps_attack=$(awk '/Requests\/sec/ {print $2}' "$work/introspect.out")
  wait "$attack_pid" || true
  local attack_rps non2xx shed
  attack_rps=$(awk '/Requests\/sec/ {print $2}' "$work/attack.out")
  printf '\nisolation: server on core(s) %s, wrk on %s; POST /introspect, %s connection(s), %s s; attack: %s connections on /spid/acs and /spid/slo\n' \
    "$cores" "$wrk_cores" "$connections" "$seconds" "$attackers"
  printf '  alone:        p99 %8s ms  %10s req/s\n' "$p99_alone" "$rps_alone"
  printf '  under attack: p99 %8s ms  %10s req/s   (attack: %s hostile req/s answered, p50 %s, max %s)\n' \
    "$p99_attack" "$rps_attack" "$attack_rps" "$(awk '$1 == "50%" {print $2}' "$work/attack.out")" \
    "$(awk '$1 == "Latency" {print $4}' "$work/attack.out")"
  shed=$(sed -n 's/^answered 503: //p' "$work/attack.out")
  printf '  attack answers: 503 (SPID queue full): %s\n' "$shed"
  case "$shed" in *"not a refusal: 0") ;; *) echo "  FAIL: an attacking request was not refused"; failed=1 ;; esac
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/introspect.out")
  if [ -n "$non2xx" ]; then echo "  FAIL: $non2xx introspections were not 2xx"; failed=1; fi
  if awk -v a="$p99_attack" -v b="$p99_alone" -v f="$factor" 'BEGIN { exit !(a > f * b + 1) }'; then
    echo "  FAIL: p99 under attack is more than ${factor}x the p99 alone (+1 ms)"; failed=1
  fi
}

case "$mode" in
  replay) replay ;;
  isolation) isolation ;;
  all) replay; isolation ;;
  *) echo "usage: $0 [replay|isolation|all]" >&2; exit 2 ;;
esac
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
printf '\nserver peak RSS: %d MB\n' "$((rss / 1024))"
exit $failed
