#!/usr/bin/env bash
# Installs the front-end packages of package-lock.json into node_modules/ with `npm ci`:
# Bootstrap Italia (its stylesheet, Titillium Web fonts and icons, which procura serves at
# fingerprinted /static/ URLs) and axe-core (injected into every page by the browser tests).
# Only when node_modules is missing or older than the lockfile; Node.js and npm come from
# Debian when missing. node_modules/ is never committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v npm >/dev/null 2>&1; then
  echo "procura: installing Node.js and npm (front-end packages)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi

stamp=node_modules/.procura-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/bootstrap-italia/dist/css/bootstrap-italia.min.css ] \
   || [ ! -f node_modules/axe-core/axe.min.js ] \
   || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "procura: installing the front-end packages (npm ci)" >&2
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
