#!/usr/bin/env bash
# Persons-import benchmark (benches/persons_import.rs): one import_csv of a generated CSV,
# first pass all inserts, second pass all updates, on SQLite and (if reachable) PostgreSQL.
#
#   bench/persons_import.sh                     # 1,000,000 rows
#   BENCH_ROWS=20000 bench/persons_import.sh    # quick check
#   BENCH_DATABASE_URL=postgres://user@host:5432/postgres bench/persons_import.sh
#   BENCH_DATABASE_URL= bench/persons_import.sh # SQLite only
#
# BENCH_DATABASE_URL is an admin URL: the benchmark creates a throwaway database there and
# drops it at the end. Left unset, a PostgreSQL answering on 127.0.0.1:5432 is used as
# postgres://postgres@127.0.0.1:5432/postgres. Runs under `nice`: it is CPU-bound for minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BENCH_DATABASE_URL+set}" ]; then
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    export BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
  fi
fi

exec nice -n 10 cargo bench --locked --bench persons_import
