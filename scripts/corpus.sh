#!/usr/bin/env bash
# Runs the real-program corpus under libmemscope.so and prints a table:
# program, same output & status as natively, traces written by the process
# tree, inconsistencies (summed over the tree's traces), truncated traces,
# and whether the root process's counts equal valgrind's (deterministic
# programs only). The rows are defined in tests/tests/integration/survive_corpus.rs; a
# fast subset of them runs as ordinary tests.
#
#   scripts/corpus.sh                    # every row
#   CORPUS_ONLY="sqlite3,git" scripts/corpus.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure_packages.sh
cargo build --release
exec cargo test --release -p memscope-tests --test integration -- \
    --ignored --exact survive_corpus::corpus_table --nocapture --test-threads=1
