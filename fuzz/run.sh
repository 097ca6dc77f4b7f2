#!/usr/bin/env bash
# Time-bounded fuzzing of the trace reader and analyzer, on stable Rust: the
# proptest mutator of tests/tests/integration/survive_fuzz.rs against the real
# `memscope analyze` under `prlimit --as=2G`.
#
#   fuzz/run.sh [SECONDS] [SEED]     # default 300 s, seed from the clock
#
# A failing input is kept in target/fuzz-findings/; the seed printed on
# failure (SURV_FUZZ_SEED) reproduces the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export SURV_FUZZ_SECONDS="${1:-300}"
if [ -n "${2:-}" ]; then export SURV_FUZZ_SEED="$2"; fi
cargo build --release
cargo test --release -p memscope-tests --test integration -- survive_fuzz:: --nocapture
