#!/usr/bin/env bash
# Differential tests of procura's exclusive c14n and XML signatures against libxml2 (through lxml)
# and xmlsec1: hundreds of generated documents per run, seeded; a failure prints the seed that
# reproduces it (scripts/spid_differential.py says what is generated and compared).
#
#   scripts/spid-differential.sh                       # a fresh random seed, 400 c14n + 60 signed cases
#   SPID_DIFF_SEED=1234 scripts/spid-differential.sh   # that seed again
#   SPID_DIFF_ONLY=17 SPID_DIFF_SEED=1234 scripts/spid-differential.sh   # one case of it
#
# Settings (environment): SPID_DIFF_SEED, SPID_DIFF_C14N (400), SPID_DIFF_SIGNED (60), SPID_DIFF_ONLY,
# SPID_VENV (.venv-spid: the conformance venv, which has lxml; created with lxml alone if missing).
# Work files in ${CARGO_TARGET_DIR:-target}/spid-differential/ (failing documents in failed/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
LXML_VERSION=6.1.3
venv=${SPID_VENV:-$root/.venv-spid}
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! "$venv/bin/python" -c 'import lxml' >/dev/null 2>&1; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "lxml==$LXML_VERSION"
fi

cargo build --locked --quiet --example spid_xmltool
args=()
[ -n "${SPID_DIFF_SEED:-}" ] && args+=(--seed "$SPID_DIFF_SEED")
[ -n "${SPID_DIFF_ONLY:-}" ] && args+=(--only "$SPID_DIFF_ONLY")
"$venv/bin/python" scripts/spid_differential.py "$target_dir/debug/examples/spid_xmltool" \
  "$target_dir/spid-differential" --c14n "${SPID_DIFF_C14N:-400}" --signed "${SPID_DIFF_SIGNED:-60}" "${args[@]}"
