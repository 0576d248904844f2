#!/usr/bin/env bash
# Runs procura on http://127.0.0.1:8080 with an embedded SQLite database under ./data/;
# development keys are created under ./keys/ on first run. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
exec cargo run --release --locked -- serve "$@"
