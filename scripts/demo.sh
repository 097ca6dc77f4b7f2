#!/usr/bin/env bash
# A first look at memscope: installs the few Debian packages it needs (if
# missing), builds the release binaries, and traces a small Python program,
# printing memscope's text report.
#
#   scripts/demo.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/ensure_packages.sh gcc python3

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

echo "== building memscope (cargo build --release)" >&2
cargo build --release

# Debian's interpreter rather than a version manager's shim script, so that
# the traced process is Python itself.
python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3)"

out="$(mktemp -d /tmp/memscope-demo.XXXXXX)"
echo "== target/release/memscope run --output $out/demo.msl -- python3 -c '...'" >&2
echo "   (the program's own output first, then memscope's report on stderr)" >&2
status=0
target/release/memscope run --output "$out/demo.msl" -- "$python" -c '
cache = {}
for i in range(50000):
    cache[i % 5000] = ("entry-%d " % i) * (i % 7 + 1)
kept = [bytearray(4096) for _ in range(64)]
print("python done:", len(cache), "keys,", sum(len(b) for b in kept), "bytes kept")
' || status=$?

echo >&2
echo "== the trace is $out/demo.msl; analyze it again with:" >&2
echo "   target/release/memscope analyze $out/demo.msl --format json" >&2
exit "$status"
