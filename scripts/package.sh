#!/usr/bin/env bash
# Builds a release tarball with the layout scripts/install.sh gives a prefix:
#
#   memscope-VERSION-x86_64-linux/bin/memscope
#   memscope-VERSION-x86_64-linux/lib/memscope/libmemscope.so
#   memscope-VERSION-x86_64-linux/README.md
#
# so that unpacking it anywhere (e.g. `tar -xzf ... -C ~/.local --strip-components=1`)
# gives a working `memscope run` without flags.
#
#   scripts/package.sh [--no-build] [--out DIR]   # default DIR: target/package
#
# Prints the tarball's path on stdout.
set -euo pipefail

build=1
out=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --out) [ "$#" -ge 2 ] || { echo "package.sh: --out needs a directory" >&2; exit 2; }; out="$2"; shift 2 ;;
        *) echo "package.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
out="${out:-$target/package}"

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
arch="$(uname -m)"
name="memscope-$version-$arch-linux"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
scripts/install.sh --prefix "$stage/$name" $([ "$build" -eq 1 ] || echo --no-build) >&2
cp README.md "$stage/$name/README.md"
mkdir -p "$out"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
