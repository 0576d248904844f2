#!/usr/bin/env bash
# Fuzzes what procura parses from the network with cargo-fuzz (libFuzzer), each target for a fixed time.
#
#   fuzz/run.sh                          # every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh spid_response
#
# The machines have only the stable toolchain: cargo-fuzz's -Z flags are accepted through RUSTC_BOOTSTRAP.
# No sanitizer by default (the targets are safe Rust, and ASan halves the executions per second);
# FUZZ_SANITIZER=address turns it on. New inputs go to fuzz/corpus/<target> (kept between runs, not
# committed), the hand-written seeds are in fuzz/seeds/<target>, a crash is saved under fuzz/artifacts/<target>
# and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(spid_response)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
