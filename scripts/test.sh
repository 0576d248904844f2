#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the HTTP integration tests, each test on a
# throwaway SQLite database — or on a fresh PostgreSQL database per test when
# TEST_DATABASE_URL=postgres://user@host:port/db (an admin URL that may CREATE DATABASE).
# The browser tests (tests/api/browser.rs) drive Debian's headless Chromium; screenshots land
# in target/browser-screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
bash scripts/browser-deps.sh
exec cargo test --locked "$@"
