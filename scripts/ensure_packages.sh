#!/usr/bin/env bash
# Installs the Debian packages memscope's tests, demo and benchmarks need,
# only those that are missing (so a second run does nothing). Debian 12.
#
#   scripts/ensure_packages.sh            # the default set
#   scripts/ensure_packages.sh pkg ...    # just these
set -euo pipefail

if [ "$#" -gt 0 ]; then
    wanted=("$@")
else
    wanted=(gcc g++ libc6-dev make binutils valgrind heaptrack python3 perl coreutils git sqlite3 tar gzip util-linux chromium libjemalloc2 libtcmalloc-minimal4
        # Mach-O test programs and the macOS cross check (docs/macos.md).
        clang lld llvm
        # The Windows front end's tests: mingw-w64 builds, Wine 8 runs (docs/windows.md).
        gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64-win32 wine64)
fi

missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

echo "installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "error: packages missing (${missing[*]}) and not root: install them with apt-get" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
