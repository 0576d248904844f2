#!/usr/bin/env bash
# CIE OpenID Connect interoperability: a federation procura did not write — a trust anchor, an
# intermediate and a CIE-profile OpenID provider, all from the `spid-cie-oidc` Python package
# (PyPI, pinned below; the Django project around its apps is tests/cie-federation/) — started
# on loopback, then the ignored test `cie_interop` logs in through it end to end (a tampered
# ID token, a provider outside the trust anchor, an expired entity statement and a wrong `iss`
# refused; the encrypted userinfo read).
#
#   scripts/cie-federation.sh            # install if needed, start the peers, run the test, stop
#   scripts/cie-federation.sh start      # start the peers and wait (Ctrl-C stops them); prints
#                                        # the env file the test reads (CIE_FEDERATION=…)
#
# Settings (environment):
#   CIE_VENV             where spid-cie-oidc is installed (default .venv-cie, reused when it has 1.6.3)
#   CIE_DATABASES        "sqlite" (default) or "sqlite postgres": the databases the test runs on
#                        (postgres uses TEST_DATABASE_URL, default the local server)
#   KEEP=1               keep the work directory (databases, logs) and print where it is
#
# Logs of the peers in ${CARGO_TARGET_DIR:-target}/cie-federation/. Nothing here needs the network
# once the venv is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PKG_VERSION=1.6.3
venv=${CIE_VENV:-$root/.venv-cie}
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
out=$target_dir/cie-federation
project=$root/tests/cie-federation
mode=${1:-test}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
step() { printf '\n--- %s\n' "$*"; }

if ! command -v python3 >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv curl
fi

# --- spid-cie-oidc in its own venv, with the dependency versions it was last seen to work with.
py=$venv/bin/python
if [ "$("$py" -c 'import importlib.metadata as m; print(m.version("spid-cie-oidc"))' 2>/dev/null || true)" != "$PKG_VERSION" ]; then
  step "installing spid-cie-oidc $PKG_VERSION into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
    python3 -m venv "$venv"
  fi
  constraints=$(mktemp)
  cat >"$constraints" <<'PINS'
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
asgiref==3.13.0
attrs==26.1.0
certifi==2026.10.19.post1
cffi==2.1.1
charset_normalizer==3.5.3
cryptography==50.0.2
cryptojwt==1.11.0
djagger==1.1.4
Django==4.2.30
djangorestframework==3.17.2
dnspython==2.9.2
email-validator==2.4.0
frozenlist==1.8.0
idna==3.20
multidict==7.2.1
propcache==0.5.4
pycparser==3.12
pydantic==1.10.27
pytz==2026.6
requests==2.34.2
sqlparse==0.6.1
typing_extensions==4.16.0
urllib3==2.8.0
yarl==1.25.1
PINS
  "$py" -m pip install --quiet --disable-pip-version-check -c "$constraints" "spid-cie-oidc==$PKG_VERSION"
  rm -f "$constraints"
fi

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ta_port=$(free_port); int_port=$(free_port); op_backend_port=$(free_port); op_public_port=$(free_port)
ta=http://127.0.0.1:$ta_port
inter=http://127.0.0.1:$int_port
# The provider's public address is a tampering proxy in the test, in front of the Django OP.
op=http://127.0.0.1:$op_public_port/oidc/op
password=oidcuser-$(date +%s)

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"
rm -f "$out"/*.log

manage() { # role manage.py-arguments...
  local role=$1 extra
  shift
  case "$role" in ta) extra=$ta/extra-op ;; intermediate) extra=$inter/extra-op ;; op) extra=$op ;; esac
  (cd "$project" && CIE_ROLE=$role CIE_DB=$work/$role.sqlite3 CIE_TA=$ta CIE_INT=$inter CIE_OP=$op \
    CIE_EXTRA_OP=$extra CIE_OUT=$work CIE_USER_PASSWORD=$password "$py" manage.py "$@")
}

step "the federation: databases (migrated once, copied), entities"
manage op migrate --noinput >"$out/migrate.log" 2>&1 || { cat "$out/migrate.log"; exit 1; }
cp "$work/op.sqlite3" "$work/intermediate.sqlite3"
cp "$work/op.sqlite3" "$work/ta.sqlite3"
for role in op intermediate ta; do
  manage "$role" setup_federation >>"$out/setup.log" 2>&1 || { cat "$out/setup.log"; exit 1; }
done

step "starting the trust anchor ($ta), the intermediate ($inter), the provider ($op via :$op_backend_port)"
start() { # role port
  manage "$1" runserver "127.0.0.1:$2" --noreload >"$out/$1.log" 2>&1 &
  pids+=($!)
}
start ta "$ta_port"
start intermediate "$int_port"
start op "$op_backend_port"
wait_for() { # url [host header]
  for _ in $(seq 1 100); do
    if curl -sf ${2:+-H "Host: $2"} "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "no answer from $1; the logs:" >&2
  tail -n 30 "$out"/*.log >&2
  exit 1
}
wait_for "$ta/.well-known/openid-federation"
wait_for "$inter/.well-known/openid-federation"
wait_for "http://127.0.0.1:$op_backend_port/oidc/op/.well-known/openid-federation" "127.0.0.1:$op_public_port"

# Onboarding procura at the intermediate, once the test knows procura's address and keys.
cat >"$work/register-procura" <<SH
#!/usr/bin/env bash
set -euo pipefail
cd "$project"
CIE_ROLE=intermediate CIE_DB=$work/intermediate.sqlite3 CIE_TA=$ta CIE_INT=$inter CIE_OP=$op \
  CIE_EXTRA_OP=$inter/extra-op CIE_OUT=$work CIE_USER_PASSWORD=x \
  "$py" manage.py add_descendant --sub "\$1" --jwks-file "\$2"
SH
chmod +x "$work/register-procura"
env_file=$out/env.json
cat >"$env_file" <<JSON
{
  "trust_anchor": "$ta",
  "intermediate": "$inter",
  "provider": "$op",
  "rogue_provider": "$ta/extra-op",
  "expiring_provider": "$inter/extra-op",
  "trust_anchor_jwks": "$work/ta.jwks.json",
  "op_backend_port": $op_backend_port,
  "op_public_port": $op_public_port,
  "user": "mario",
  "password": "$password",
  "register": "$work/register-procura"
}
JSON

if [ "$mode" = start ]; then
  echo "federation up; CIE_FEDERATION=$env_file (Ctrl-C stops it)"
  wait
  exit 0
fi

status=0
for db in ${CIE_DATABASES:-sqlite}; do
  step "cie_interop on $db"
  if [ "$db" = postgres ]; then
    db_url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  else
    db_url=
  fi
  CIE_FEDERATION=$env_file TEST_DATABASE_URL=$db_url \
    cargo test --locked --test api cie_interop -- --ignored --nocapture 2>&1 | tee "$out/test-$db.log" \
    || status=1
  grep -q "test result: ok. 1 passed" "$out/test-$db.log" || status=1
done
if [ "$status" -ne 0 ]; then
  echo "(the peers' logs are in $out)"
  tail -n 40 "$out/op.log"
fi
exit "$status"
