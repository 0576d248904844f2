#!/usr/bin/env bash
# SPID conformance: AgID's spid-sp-test (SP metadata, AuthnRequest, and every Response case) against a
# local `procura serve`, with a fake identity provider whose key pair is made fresh for each run.
#
#   scripts/spid-conformance.sh                 # full suite with the HTTP-Redirect binding, then the
#                                               # AuthnRequest checks again with HTTP-POST
#   SPID_BINDING=post scripts/spid-conformance.sh   # full suite with HTTP-POST (quick pass: redirect)
#   SPID_PROFILE=cie-sp-public scripts/spid-conformance.sh   # CIE SAML (scripts/cie-saml-conformance.sh)
#
# Settings (environment):
#   SPID_PROFILE        spid-sp-public (default): procura's SPID service provider (/spid/…);
#                       cie-sp-public: its CIE SAML service provider (/cie/saml/…), same engine
#   SPID_BINDING        redirect (default) or post: the binding of the full run
#   SPID_OTHER_BINDING  1 (default): also run the AuthnRequest checks with the other binding; 0: don't
#   SPID_TESTS          only these Response cases, e.g. "1 8 xsw1" (debugging: not a conformance run)
#   SPID_VENV           where spid-sp-test is installed (default .venv-spid, reused when it has 1.2.18)
#   SPID_BUILD          release (default) or debug: which procura binary is built and run
#   SPID_PROCURA        run this procura binary instead of building one
#   KEEP=1              keep the work directory (configuration, IdP keys, logs) and print where it is
#
# Results in ${CARGO_TARGET_DIR:-target}/spid-conformance/ (cie-saml-conformance/ for CIE): report.json (the full run), report-authn-<binding>.json
# (the quick pass), serve.log, summary.txt. Exits non-zero when any check failed, when a family of checks did not
# run, or when fewer Response cases ran than the suite has (spid-sp-test itself can stop early and exit 0).
# Nothing here needs the network once the venv is installed: the IdP is fake and never contacted, and
# spid-sp-test runs without -p (which would look the IPA code up online).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SST_VERSION=1.2.18
profile=${SPID_PROFILE:-spid-sp-public}
case "$profile" in
  spid-sp-public) sp_path=/spid; out_name=spid-conformance ;;
  cie-sp-public) sp_path=/cie/saml; out_name=cie-saml-conformance ;;
  *) echo "SPID_PROFILE must be spid-sp-public or cie-sp-public" >&2; exit 2 ;;
esac
binding=${SPID_BINDING:-redirect}
case "$binding" in redirect) other=post ;; post) other=redirect ;; *) echo "SPID_BINDING must be redirect or post" >&2; exit 2 ;; esac
build=${SPID_BUILD:-release}
# With dev-dependencies in the build (benches, tests), the dependencies get the same features as
# in `cargo test`/`cargo bench`, so nothing is compiled a second time.
case "$build" in release) build_flag="--release --bins --benches" ;; debug) build_flag="--bins --tests" ;; *) echo "SPID_BUILD must be release or debug" >&2; exit 2 ;; esac
venv=${SPID_VENV:-$root/.venv-spid}
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir=$root/$target_dir ;; esac
out=$target_dir/$out_name
procura=${SPID_PROCURA:-$target_dir/$build/procura}
# The fake IdP: spid-sp-test's default entityID; its SSO endpoint is {entityID}/samlsso.
idp_entity_id=https://localhost:8443

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
step() { printf '\n--- %s\n' "$*"; }

# --- tools: xmlsec1 (spid-sp-test signs and verifies with it), openssl, curl, python3 with venv
missing=()
command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- spid-sp-test in its own venv, with the dependency versions it was last seen to pass with
# (a newer pysaml2 or cryptography must not change the verdict between two runs of the same code).
sst=$venv/bin/spid_sp_test
if [ "$("$sst" --version 2>/dev/null || true)" != "$SST_VERSION" ]; then
  step "installing spid-sp-test $SST_VERSION into $venv"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv
    python3 -m venv "$venv"
  fi
  constraints=$(mktemp)
  cat >"$constraints" <<'PINS'
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
cryptography==50.0.2
defusedxml==0.7.1
elementpath==4.8.0
idna==3.20
iso3166==2.0.2
Jinja2==3.1.6
lxml==6.1.3
MarkupSafe==3.0.4
packaging==21.2
pycparser==3.12
pyOpenSSL==26.4.0
pyparsing==2.4.7
pysaml2==7.5.5
python-dateutil==4.0.0
requests==2.34.2
ruamel.yaml==0.17.19
spid-compliant-certificates==0.5.5
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
xmlschema==2.5.1
PINS
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$constraints" "spid-sp-test==$SST_VERSION"
  rm -f "$constraints"
  [ "$("$sst" --version 2>/dev/null)" = "$SST_VERSION" ] || { echo "spid-sp-test did not install" >&2; exit 1; }
fi

# --- procura
if [ -z "${SPID_PROCURA:-}" ]; then
  step "building procura ($build)"
  cargo build $build_flag --locked --quiet --bin procura
fi

# --- work directory, the fake IdP
work=$(mktemp -d)
pid=""
stop_procura() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
  fi
}
cleanup() {
  stop_procura
  if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/idp" "$work/keys" "$out"
rm -f "$out"/report* "$out/certificate.json" "$out/summary.txt" "$out/serve.log"

step "fake IdP: fresh RSA-2048 key pair, metadata"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
  -subj "/C=IT/L=Roma/O=spid-sp-test fake IdP/CN=localhost" \
  -keyout "$work/idp/private.key" -out "$work/idp/public.cert" 2>/dev/null
# spid-sp-test reads both at import time: the metadata it prints and the Responses it signs must agree.
export IDP_CERT_PATH=$work/idp IDP_ENTITYID=$idp_entity_id
"$sst" --idp-metadata >"$work/idp/metadata.xml" 2>"$work/idp/metadata.err" \
  || { cat "$work/idp/metadata.err" >&2; exit 1; }
grep -q "entityID=\"$idp_entity_id\"" "$work/idp/metadata.xml" \
  || { echo "spid-sp-test --idp-metadata printed no IdP metadata" >&2; cat "$work/idp/metadata.xml" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

# Only the file below configures procura: a PROCURA_* variable from the caller's shell would override it.
while IFS= read -r v; do unset "$v"; done < <(compgen -e | grep '^PROCURA_' || true)

write_config() { # binding
  if [ "$profile" = cie-sp-public ]; then write_cie_config "$1"; return; fi
  cat >"$work/procura.toml" <<TOML
[server]
bind = "127.0.0.1:$port"

[database]
url = "sqlite://$work/procura.db"

[keys]
dir = "$work/keys"

[log]
filter = "info"

[oauth]
issuer = "$base"

[login]
methods = ["pin", "spid"]

[spid]
certificate = "$work/keys/spid-sp.crt"
private_key = "$work/keys/spid-sp.key"
generate_if_missing = true
idp_metadata = ["$work/idp/metadata.xml"]
binding = "$1"
TOML
}

# CIE SAML: the SPID engine with the CIE profile, the fake IdP as the CIE IdP; the signing
# pair is the (generated) SPID one, as by default.
write_cie_config() { # binding
  cat >"$work/procura.toml" <<TOML
[server]
bind = "127.0.0.1:$port"

[database]
url = "sqlite://$work/procura.db"

[keys]
dir = "$work/keys"

[log]
filter = "info"

[oauth]
issuer = "$base"

[login]
methods = ["pin", "cie"]

[spid]
certificate = "$work/keys/spid-sp.crt"
private_key = "$work/keys/spid-sp.key"
generate_if_missing = true

[cie]
protocols = ["saml"]

[cie.saml]
idp_metadata = ["$work/idp/metadata.xml"]
binding = "$1"
TOML
}

start_procura() { # binding
  write_config "$1"
  "$procura" --config "$work/procura.toml" serve >>"$out/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! curl -sf "$base/healthz" >/dev/null 2>&1; then
    echo "procura did not come up on $base; its log:" >&2
    tail -n 50 "$out/serve.log" >&2
    exit 1
  fi
}

run_suite() { # binding report [extra spid_sp_test arguments...]
  local b=$1 report=$2 log
  shift 2
  log=${report%.json}.log
  start_procura "$b"
  curl -sf "$base$sp_path/metadata" -o "${report%.json}.metadata.xml" || true
  # spid-sp-test's exit status is not the verdict (see the summary below); a hung SP must not hang CI.
  timeout 1200 "$sst" --metadata-url "$base$sp_path/metadata" \
    --authn-url "$base$sp_path/login?idp=$idp_entity_id" \
    --extra -pr "$profile" -d ERROR -rf json -o "$report" "$@" >"$log" 2>&1 || true
  grep '^Spid QA:' "$log" || { echo "spid-sp-test printed no summary; its last lines:"; tail -n 20 "$log"; }
  stop_procura
}

expected_cases() {
  if [ -n "${SPID_TESTS:-}" ]; then
    set -f; set -- $SPID_TESTS; set +f; echo $#
  else
    # cie-sp-public leaves out cases 70 and 71 (the CIE IdP's Assertion Issuer has no Format)
    "$venv/bin/python" -c 'import sys; from spid_sp_test.responses.settings import RESPONSE_TESTS
skip = {"70", "71"} if sys.argv[1] == "cie-sp-public" else set()
print(len([t for t in RESPONSE_TESTS if t not in skip]))' "$profile"
  fi
}

response_args=(-tr)
if [ -n "${SPID_TESTS:-}" ]; then set -f; response_args+=(-tn $SPID_TESTS); set +f; fi

step "spid-sp-test ($profile): metadata, AuthnRequest ($binding binding), Responses"
run_suite "$binding" "$out/report.json" "${response_args[@]}"
passes=("$binding:$out/report.json:full")
if [ "${SPID_OTHER_BINDING:-1}" = 1 ]; then
  step "spid-sp-test: AuthnRequest ($other binding)"
  run_suite "$other" "$out/report-authn-$other.json"
  passes+=("$other:$out/report-authn-$other.json:authn")
fi

# spid-sp-test checks the SP certificate against Avviso 29 v3 only with -p (which also goes online):
# the same offline validator, on the signing certificate of the metadata just served.
step "SP certificate (Avviso 29 v3)"
"$venv/bin/python" -W ignore - "$out/report.metadata.xml" "$out/certificate.json" <<'PY'
import json, re, sys, tempfile
from lxml import etree
from spid_sp_test.compliant_certificates import check_certificate

metadata, report = sys.argv[1], sys.argv[2]
ns = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
results = []
try:
    certs = etree.parse(metadata).xpath(
        "/md:EntityDescriptor/md:SPSSODescriptor/md:KeyDescriptor[@use='signing']"
        "/ds:KeyInfo/ds:X509Data/ds:X509Certificate/text()", namespaces=ns)
    if not certs:
        raise ValueError("no signing certificate in the metadata")
    for text in certs:
        with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
            pem.write("-----BEGIN CERTIFICATE-----\n" + re.sub(r"\s", "", text) + "\n-----END CERTIFICATE-----\n")
            pem.flush()
            results += check_certificate(pem.name, "public")
except Exception as e:
    results.append({"result": "failure", "description": f"could not check the SP certificate: {e}", "value": ""})
with open(report, "w") as f:
    json.dump({"test": {"sp": {"certificate": {"spid-compliant-certificates": [
        {"test": r["description"], "value": str(r["value"]), "result": r["result"], "method": "", "test_id": ""}
        for r in results]}}}}, f, indent=2)
PY
passes+=("sp-certificate:$out/certificate.json:certificate")

step "summary"
set +e
CONFORMANCE_NAME=$out_name python3 - "$(expected_cases)" "${passes[@]}" <<'PY' | tee "$out/summary.txt"
import json, os, re, sys

expected_cases = int(sys.argv[1])
passed = failed = 0
problems = []

def short(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

for spec in sys.argv[2:]:
    binding, path, kind = spec.split(":", 2)
    # what each pass must contain: the full one every family, the quick one the AuthnRequest checks
    wanted = {"full": ["metadata", "authnrequest", "response"], "authn": ["authnrequest"],
              "certificate": ["certificate"]}[kind]
    print(f"{binding} binding ({path}):" if kind != "certificate" else f"SP certificate ({path}):")
    try:
        with open(path) as f:
            families = json.load(f)["test"]["sp"]
    except (OSError, ValueError, KeyError) as e:
        problems.append(f"{binding}: no report ({e})")
        print(f"  no report: {e}")
        continue
    for want in wanted:
        names = [n for n in families if n.split("_")[0] == want]
        if not names:
            problems.append(f"{binding}: the {want} checks did not run")
            print(f"  {want:<20} DID NOT RUN")
            continue
        for name in names:
            results = [r for group in families[name].values() for r in group]
            ok = sum(r.get("result") == "success" for r in results)
            warn = [r for r in results if r.get("result") == "warning"]
            bad = [r for r in results if r.get("result") == "failure"]
            passed += ok + len(warn)
            failed += len(bad)
            line = f"  {name:<20} {ok + len(warn):>4} passed, {len(bad)} failed, {len(warn)} warnings"
            if want == "response":
                # one result per case: success keeps the case id, a failure only has it in its title
                ran = len(results)
                line += f" ({ran} of {expected_cases} cases ran)"
                if ran < expected_cases:
                    problems.append(f"{binding}: only {ran} of {expected_cases} Response cases ran")
            print(line)
            for r in bad:
                title = str(r.get("test", ""))
                case = re.match(r"Test \[([^\]]+)\]", title)
                ident = f"case {case.group(1)}" if case else (r.get("method") or "-")
                print(f"    FAIL [{ident}] {short(title, 200)}")
                value = short(r.get("value", ""))
                if value and value not in title:
                    print(f"         {value}")
            for r in warn:
                print(f"    warn [{r.get('method') or '-'}] {short(r.get('test', ''), 200)}")

for p in problems:
    print(f"INCOMPLETE: {p}")
if os.environ.get("SPID_TESTS"):
    print(f"(only the Response cases {os.environ['SPID_TESTS']}: not a full conformance run)")
print(f"{os.environ['CONFORMANCE_NAME']}: {passed} passed, {failed} failed")
sys.exit(1 if failed or problems else 0)
PY
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "(last lines of procura's log, all of it in $out/serve.log)"
  tail -n 30 "$out/serve.log"
fi
exit "$status"
