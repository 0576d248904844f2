#!/usr/bin/env bash
# Installs what building procura needs on Debian/Ubuntu, only when missing:
# a C toolchain (aws-lc), libpq (PostgreSQL client), libsqlite3, OpenSSL (libssl-dev: the CNS
# listener and certificate validation, and josekit for the CIE relying party's JWE; the openssl
# command answers OCSP in the CNS tests), the Rust toolchain, and
# for the notification tests poppler-utils (pdftotext reads the letter PDFs) and Python's
# aiosmtpd (a real SMTP server on loopback); then the front-end packages (scripts/assets.sh).
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(build-essential pkg-config libpq-dev libsqlite3-dev libssl-dev openssl ca-certificates curl poppler-utils python3 python3-pip xmlsec1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "procura: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "procura: installing the Rust toolchain with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi

if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  echo "procura: installing aiosmtpd (Python) for the e-mail tests" >&2
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd
fi

# The front-end packages procura serves (Bootstrap Italia), from package-lock.json.
bash "$(dirname "${BASH_SOURCE[0]}")/assets.sh"
