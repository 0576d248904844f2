#!/usr/bin/env bash
# Runs procura on http://127.0.0.1:8080 with an embedded SQLite database under ./data/;
# development keys are created under ./keys/ on first run. Extra arguments go to `serve`.
# With --demo first, `procura demo` loads fictitious people, clients and delegations and
# prints their initial PINs and what to try, before the service starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
if [[ "${1:-}" == "--demo" ]]; then
  shift
  cargo run --release --locked -- demo
fi
exec cargo run --release --locked -- serve "$@"
