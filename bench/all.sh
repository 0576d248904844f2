#!/usr/bin/env bash
# Every benchmark in its short form, one after the other — what CI ran until the release build
# no longer fitted CI's 30 minutes on two cores. Needs PostgreSQL for the second runs:
#
#   bench/all.sh                      # PG_ADMIN_URL defaults to the local server
#
# Each step fails on its own limits (worst-case SAML above 100 ms of CPU, RSS over 50 MB idle or
# 200 MB under load, ...). About 10 minutes for the release build, 4 to 5 for the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_ADMIN_URL=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
step() { printf '\n=== %s (%ss)\n' "$1" "$SECONDS"; }

step "release build (binary and benchmarks at once)"
cargo build --release --locked --quiet --bins --benches
step "SPID Response validation"
BENCH_SECONDS=1 cargo bench --locked --bench spid_acs
step "CNS certificate validation"
BENCH_SECONDS=1 cargo bench --locked --bench cns_validate
step "SPID worst-case inputs: CPU per call, fails above 100 ms"
BENCH_SECONDS=0.1 cargo bench --locked --bench spid_worst_case
step "SPID attack: hostile requests replayed, introspection isolated"
BENCH_SECONDS=3 BENCH_ISOLATION_FACTOR=3 bench/spid_attack.sh
step "persons import"
BENCH_ROWS=20000 BENCH_DATABASE_URL="$PG_ADMIN_URL" cargo bench --locked --bench persons_import
step "audit append"
BENCH_SECONDS=1 BENCH_DATABASE_URL="$PG_ADMIN_URL" cargo bench --locked --bench audit_append
step "load: throughput and memory limits"
BENCH_SECONDS=3 bench/load.sh
BENCH_SECONDS=3 BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/load.sh
step "OAuth: /token and /introspect on one core, memory limits"
BENCH_SECONDS=3 bench/oauth.sh
BENCH_SECONDS=3 BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/oauth.sh
step "acting on behalf: /v1/access/check and delegated-token /introspect"
BENCH_PERSONS=5000 BENCH_DELEGATIONS="2000" BENCH_SECONDS=2 BENCH_WARMUP=1 bench/acting.sh
BENCH_PERSONS=5000 BENCH_DELEGATIONS="2000" BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/acting.sh
step "beside a peer: oidc-provider (npm, pinned) and procura on one core each, ratios"
BENCH_SECONDS=5 BENCH_PROCURA=target/release/procura bench/peer.sh
BENCH_SECONDS=5 BENCH_PROCURA=target/release/procura BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/peer.sh
step "access check while PIN logins saturate the argon2 pool: ratio to the check alone"
BENCH_SECONDS=3 BENCH_PROCURA=target/release/procura bench/pin_saturation.sh
BENCH_SECONDS=3 BENCH_PROCURA=target/release/procura BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/pin_saturation.sh
step "booking routes without login: worst inputs, rate limits, memory"
BENCH_SECONDS=2 bench/booking.sh
BENCH_SECONDS=2 BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/booking.sh
step "hostile load: stalled connections, maximum-size and chunked bodies, schemathesis; peak RSS"
BENCH_SCHEMATHESIS_SECONDS=30 bench/hostile.sh
BENCH_SCHEMATHESIS_SECONDS=30 BENCH_DATABASE_URL="$PG_ADMIN_URL" bench/hostile.sh
step "done"
