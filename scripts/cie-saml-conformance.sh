#!/usr/bin/env bash
# CIE SAML conformance: spid-sp-test's `cie-sp-public` profile (CIE metadata, AuthnRequest, and
# the Response cases but 70 and 71) against procura's CIE SAML service provider (/cie/saml/…).
# The same script, venv and settings as the SPID run (scripts/spid-conformance.sh), with
# SPID_PROFILE=cie-sp-public; results in ${CARGO_TARGET_DIR:-target}/cie-saml-conformance/.
#
#   scripts/cie-saml-conformance.sh
#   SPID_BUILD=debug scripts/cie-saml-conformance.sh
set -euo pipefail
SPID_PROFILE=cie-sp-public exec "$(dirname "$0")/spid-conformance.sh" "$@"
