#!/usr/bin/env bash
# The access check while PIN logins saturate the argon2 pool (issue 13): POST /v1/access/check
# measured alone, then while other connections keep posting right PINs to the citizen login
# form (POST /pin/login), every one of them an argon2id verification (19 MiB, t = 2) on the
# hasher's pool — whose width is the server's cores, so one here. procura runs on one core
# with one worker (like bench/peer.sh), both wrk on the other core.
#
#   bench/pin_saturation.sh                                                 # SQLite
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/pin_saturation.sh
#   BENCH_PROCURA=path/to/procura bench/pin_saturation.sh                   # no build
#
# The PIN logins: BENCH_PIN_PERSONS (32) persons imported, each given an initial PIN with
# `procura pin set`; one browser's login flow posts codice fiscale and PIN of each in turn. An
# initial PIN is right but must be changed, so each login is a full verification answered with
# the change form (200), it never counts towards a lockout and it can be repeated; the
# per-address limit (pin.attempts_per_minute_per_address) is raised for the benchmark.
# The access check: a "no" answer (lookup and audit record), as in bench/peer.sh.
#
# Settings: BENCH_SECONDS (10), BENCH_CONNECTIONS (32, access check), BENCH_PIN_CONNECTIONS
# (8: enough to keep the pool's queue full), BENCH_CORES (server core, 0), BENCH_WRK_CORES
# (the other cores), BENCH_PORT (18195).
# Printed: access check alone and under the PIN load (req/s, p99), their ratio (goal >= 0.4,
# reported, not enforced), PIN logins/s alone and under the mix, peak RSS.
# Enforced: every answer 2xx, peak RSS < 200 MB, the audit chain verifies after.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
seconds=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
pin_connections=${BENCH_PIN_CONNECTIONS:-8}
persons=${BENCH_PIN_PERSONS:-32}
core=${BENCH_CORES:-0}
wrk_cores=${BENCH_WRK_CORES:-$(bench_other_cores "$core")}
port=${BENCH_PORT:-18195}
base="http://127.0.0.1:$port"

bench_procura
bench_need_wrk
bench_database pin
bench_migrate

# Persons with valid codici fiscali (six letters from the row number, born 10 December 1985,
# male, in A562), imported, then an initial PIN each.
python3 - "$persons" >"$work/persons.csv" <<'PY'
import sys
ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
def value(c, odd):
    i = int(c) if c.isdigit() else ord(c) - 65
    return ODD[i] if odd else i
print("codice_fiscale,cognome,nome,data_nascita,sesso,indirizzo,cap,comune,provincia")
for n in range(int(sys.argv[1])):
    letters, k = "", n * 7919 + 123457
    for _ in range(6):
        letters += chr(65 + k % 26)
        k //= 26
    fifteen = letters + "85T10A562"
    check = chr(65 + sum(value(c, i % 2 == 0) for i, c in enumerate(fifteen)) % 26)
    print(f"{fifteen}{check},Rossi,Mario,1985-12-10,M,Via Roma 1,00100,Roma,RM")
PY
"$procura" persons import "$work/persons.csv" >"$work/import.out" 2>&1 || { cat "$work/import.out"; exit 1; }
: >"$work/pins.txt"
for code in $(tail -n +2 "$work/persons.csv" | cut -d, -f1); do
  "$procura" pin set "$code" >"$work/pin.out" 2>&1 || { cat "$work/pin.out"; exit 1; }
  echo "$code $(sed -n 's/^initial PIN of .*: //p' "$work/pin.out")" >>"$work/pins.txt"
done

check_secret=$(bench_add_client bench-checker "Bench checker" access:check client_credentials)
bench_add_client bench-web "Bench web" "openid inps:read" authorization_code \
  --redirect-uri http://127.0.0.1/callback >/dev/null
bench_serve "$port" 1 "$core" PROCURA_PIN__ATTEMPTS_PER_MINUTE_PER_ADDRESS=1000000

# One browser's login flow: /authorize (with PKCE) -> the login page, its flow id and CSRF token.
verifier=bench-verifier-0123456789-0123456789-0123456789
challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
login=$(curl -s -c "$work/jar" -o /dev/null -w '%{redirect_url}' \
  "$base/authorize?response_type=code&client_id=bench-web&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=openid%20inps%3Aread&state=s&code_challenge=$challenge&code_challenge_method=S256")
[[ $login == *"/login?flow="* ]] || { echo "FAIL: /authorize did not lead to the login page ($login)"; exit 1; }
curl -sf -b "$work/jar" -c "$work/jar" "$login" >"$work/login.html"
field() { sed -n "s/.*name=\"$1\" value=\"\([^\"]*\)\".*/\1/p" "$work/login.html" | head -n 1; }
flow=$(field flow) csrf=$(field csrf)
[ -n "$flow" ] && [ -n "$csrf" ] || { echo "FAIL: no flow or CSRF token in the login page"; exit 1; }
cookie=$(awk '{ sub(/^#HttpOnly_/, "") } !/^#/ && NF >= 7 {printf "%s%s=%s", sep, $6, $7; sep = "; "}' "$work/jar")
read -r code pin < <(head -n 1 "$work/pins.txt")
status=$(curl -s -o "$work/pin.html" -w '%{http_code}' -H "Cookie: $cookie" \
  --data-urlencode "flow=$flow" --data-urlencode "csrf=$csrf" \
  --data-urlencode "codice_fiscale=$code" --data-urlencode "pin=$pin" "$base/pin/login")
[ "$status" = 200 ] && grep -q 'new_pin' "$work/pin.html" \
  || { echo "FAIL: a right initial PIN: HTTP $status, expected the change form"; head -c 2000 "$work/pin.html"; exit 1; }

cat >"$work/pin.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "$cookie"
local counter = 0
function setup(thread) thread:set("id", counter); counter = counter + 1 end
function init(args)
  bodies = {}
  for line in io.lines("$work/pins.txt") do
    local code, pin = line:match("^(%S+) (%S+)")
    bodies[#bodies + 1] = "flow=$flow&csrf=$csrf&codice_fiscale=" .. code .. "&pin=" .. pin
  end
  i = (id * 7) % #bodies
end
function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
LUA
bench_lua_post "$work/check.lua" application/json "$(bench_basic bench-checker "$check_secret")" \
  '{"actor":"RSSMRA85T10A562S","subject":"BNCLCU70C15F205J","scope":"inps:read"}'

peak_kb=0
line() { # name out
  printf '%-44s %10s req/s  p50 %9s  p99 %9s\n' "$1" "$(bench_rps "$2")" "$(bench_p50 "$2")" "$(bench_p99 "$2")"
  [ "$(bench_non2xx "$2")" -eq 0 ] || { echo "FAIL: $1: $(bench_non2xx "$2") answers not 2xx"; cat "$2"; exit 1; }
  [ "$bench_peak_kb" -gt "$peak_kb" ] && peak_kb=$bench_peak_kb
  return 0
}

echo "procura $backend ($procura): server on core $core (1 worker, argon2 pool of 1), wrk on core(s) $wrk_cores"
echo "access check: $connections connections; PIN logins: $pin_connections connections over $persons persons; ${seconds}s each after a 2 s warm-up; $(bench_load)"
check_wrk=(-t1 -c"$connections" --latency -s "$work/check.lua" "$base/v1/access/check")
bench_wrk "$work/warm.out" "$pid" "$wrk_cores" "${check_wrk[@]:0:2}" -d2s "${check_wrk[@]:2}"
bench_wrk "$work/alone.out" "$pid" "$wrk_cores" -d"${seconds}s" "${check_wrk[@]}"
line "POST /v1/access/check alone" "$work/alone.out"
bench_wrk "$work/pin-alone.out" "$pid" "$wrk_cores" -t1 -c"$pin_connections" -d"${seconds}s" --latency -s "$work/pin.lua" "$base/pin/login"
line "POST /pin/login alone (argon2 pool's pace)" "$work/pin-alone.out"

# The PIN load starts two seconds before the measured window and ends two seconds after it.
taskset -c "$wrk_cores" wrk -t1 -c"$pin_connections" -d"$((seconds + 4))s" --latency -s "$work/pin.lua" \
  "$base/pin/login" >"$work/pin-mix.out" 2>&1 &
pin_wrk=$!
bench_pids+=("$pin_wrk")
sleep 2
bench_wrk "$work/mix.out" "$pid" "$wrk_cores" -d"${seconds}s" "${check_wrk[@]}"
line "POST /v1/access/check under the PIN load" "$work/mix.out"
wait "$pin_wrk" || { echo "FAIL: wrk (PIN logins)"; cat "$work/pin-mix.out"; exit 1; }
line "POST /pin/login meanwhile (whole window)" "$work/pin-mix.out"
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
[ "$hwm_kb" -gt "$peak_kb" ] && peak_kb=$hwm_kb

echo
echo "access check under PIN load ÷ alone ($backend): $(bench_ratio "$(bench_rps "$work/mix.out")" "$(bench_rps "$work/alone.out")")  (goal >= 0.4)"
echo "peak RSS (VmHWM): $((peak_kb / 1024)) MB (limit 200 MB)"
[ "$peak_kb" -lt $((200 * 1024)) ] || { echo "FAIL: procura RSS reached 200 MB"; exit 1; }
bench_audit_verify
