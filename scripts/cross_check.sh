#!/usr/bin/env bash
# Checks that the crates the next front ends build on compile for Windows and
# macOS (docs/architecture.md, "Dependencies"), and that the Windows front end
# and the CLI with its Windows launcher lint clean for Windows: `cargo clippy -D warnings`
# (a `cargo check` that also lints the code only those targets compile) of
# each crate below, for each target below. Installs the rustup targets and the
# Debian packages it needs if they are missing.
#
#   scripts/cross_check.sh
#
# To check one more crate, add its name to `crates`; memscope-recorder is
# checked as soon as it is a member of the workspace.
#
# zstd-sys (under memscope-format) compiles zstd's C sources in its build
# script. For Windows that takes gcc-mingw-w64-x86-64. For macOS there is no C
# cross compiler on Linux, and none is needed: nothing is linked by a check,
# so zstd-sys is pointed (ZSTD_SYS_USE_PKG_CONFIG) at a stand-in libzstd.pc in
# a temporary directory and compiles nothing; its Rust code is checked as
# usual.
set -euo pipefail

crates=(memscope-format memscope-platform)
targets=(x86_64-pc-windows-gnu aarch64-apple-darwin)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# A rustup installation may not be on PATH in a non-login shell.
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

if cargo metadata --no-deps --format-version 1 | grep -q '"name":"memscope-recorder"'; then
    crates+=(memscope-recorder)
fi

installed="$(rustup target list --installed)"
for target in "${targets[@]}"; do
    if ! grep -qx "$target" <<<"$installed"; then
        rustup target add "$target"
    fi
done
bash scripts/ensure_packages.sh gcc-mingw-w64-x86-64 pkg-config

stand_in="$(mktemp -d /tmp/memscope-cross.XXXXXX)"
trap 'rm -rf "$stand_in"' EXIT
cat >"$stand_in/libzstd.pc" <<'EOF'
Name: libzstd
Description: stand-in for cross checks: cargo check links nothing
Version: 1.5.7
Libs: -lzstd
Cflags:
EOF

packages=()
for crate in "${crates[@]}"; do
    packages+=(-p "$crate")
done

# Built for Windows only: the Windows front end (memscope_windows.dll) and the CLI
# with its launcher (cmd/launch_windows.rs).
windows_packages=(-p memscope-preload-windows -p memscope)

for target in "${targets[@]}"; do
    echo "== ${crates[*]} for $target" >&2
    case "$target" in
        *-windows-*)
            cargo clippy --target "$target" "${packages[@]}" "${windows_packages[@]}" -- -D warnings
            ;;
        *-apple-darwin)
            env ZSTD_SYS_USE_PKG_CONFIG=1 \
                "PKG_CONFIG_ALLOW_CROSS_${target//-/_}=1" \
                "PKG_CONFIG_LIBDIR_${target//-/_}=$stand_in" \
                cargo clippy --target "$target" "${packages[@]}" -- -D warnings
            ;;
    esac
done
echo "cross check passed: ${crates[*]} on ${targets[*]}" >&2
