#!/usr/bin/env bash
# Fuzzes what procura parses from the network with libFuzzer, each target for a fixed time.
#
#   fuzz/run.sh                          # every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh spid_response
#
# Slowness is a finding too: inputs go up to the request body limit (-max_len=262144, at once:
# -len_control=0) and any input that takes more than FUZZ_TIMEOUT seconds (1) fails the run, like
# a crash. fuzz/spid.dict gives
# libFuzzer the XML, namespace, XML-DSig and SAML tokens it would otherwise have to guess.
#
# The target is built with plain cargo and the coverage flags cargo-fuzz passes (`-s none`: no
# sanitizer; the targets are safe Rust, and ASan halves the executions per second), on the stable
# toolchain: nothing to install first. FUZZ_SANITIZER=address turns ASan on (through
# RUSTC_BOOTSTRAP, for -Zsanitizer). New inputs go to fuzz/corpus/<target> (kept between runs, not
# committed), the hand-written seeds are in fuzz/seeds/<target>; a crash, a timeout or an input
# over the memory limit is saved under fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
timeout=${FUZZ_TIMEOUT:-1}
sanitizer=${FUZZ_SANITIZER:-none}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(spid_response)

host=$(rustc -vV | sed -n 's/^host: //p')
flags=(-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing)
case "$sanitizer" in
  none) ;;
  address) flags+=(-Zsanitizer=address); export RUSTC_BOOTSTRAP=1 ;;
  *) echo "FUZZ_SANITIZER must be none or address" >&2; exit 2 ;;
esac
# --target: the flags reach the fuzzed code, not build scripts and proc macros.
RUSTFLAGS="${flags[*]}" cargo build --release --locked --quiet --target "$host" --bins

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  "target/$host/release/$target" "corpus/$target" "${seeds[@]}" \
    -dict=spid.dict -max_len=262144 -len_control=0 -timeout="$timeout" -rss_limit_mb=2048 \
    -max_total_time="$seconds" -artifact_prefix="artifacts/$target/" -print_final_stats=1
done
