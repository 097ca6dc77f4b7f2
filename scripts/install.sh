#!/usr/bin/env bash
# Installs memscope into a prefix in one command: builds the release binaries
# (unless --no-build) and copies the CLI and the tracer library to
#
#   PREFIX/bin/memscope
#   PREFIX/lib/memscope/libmemscope.so
#
# where `memscope run` finds the library without flags (next to the binary,
# then ../lib/memscope/ from it, then $MEMSCOPE_PRELOAD).
#
#   scripts/install.sh                  # into ~/.local (bin/ is usually on PATH)
#   scripts/install.sh --prefix /usr/local
#   scripts/install.sh --no-build       # install what target/release holds
#
# Honours CARGO_TARGET_DIR. Prints the installed paths; exit 1 on failure.
set -euo pipefail

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

prefix="${HOME:?HOME is not set}/.local"
build=1
while [ "$#" -gt 0 ]; do
    case "$1" in
        --prefix) [ "$#" -ge 2 ] || usage; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac

if [ "$build" -eq 1 ]; then
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck source=/dev/null
        . "$HOME/.cargo/env"
    fi
    echo "== building (cargo build --release -p memscope -p memscope-preload)" >&2
    cargo build --release -p memscope -p memscope-preload
fi

for f in memscope libmemscope.so; do
    if [ ! -f "$target/release/$f" ]; then
        echo "install.sh: $target/release/$f is missing (run without --no-build)" >&2
        exit 1
    fi
done

install -d "$prefix/bin" "$prefix/lib/memscope"
install -m 755 "$target/release/memscope" "$prefix/bin/memscope"
install -m 755 "$target/release/libmemscope.so" "$prefix/lib/memscope/libmemscope.so"
echo "installed $prefix/bin/memscope" >&2
echo "installed $prefix/lib/memscope/libmemscope.so" >&2
case ":${PATH:-}:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on PATH; add it, e.g. export PATH=\"$prefix/bin:\$PATH\"" >&2 ;;
esac
