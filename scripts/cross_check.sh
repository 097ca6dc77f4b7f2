#!/usr/bin/env bash
# Checks that the crates the front ends build on compile for Windows, that the
# Windows front end and the CLI with its Windows launcher lint clean there, and
# that everything the macOS build contains compiles and lints clean for both
# Apple targets (docs/architecture.md, "Dependencies"; docs/macos.md): `cargo check`
# and `cargo clippy -D warnings` (a check that also lints the code only those
# targets compile) of each crate below, for each target below. Installs the
# rustup targets and the Debian packages it needs if they are missing.
#
#   scripts/cross_check.sh
#
# To check one more crate, add its name to `crates` (Windows) or
# `apple_crates` (macOS); memscope-recorder is checked for Windows as soon as
# it is a member of the workspace.
#
# zstd-sys (under memscope-format) compiles zstd's C sources in its build
# script. For Windows that takes gcc-mingw-w64-x86-64. Apple targets do not use
# it: the format crate takes the pure-Rust ruzstd there (format/src/zstd_rust.rs),
# so neither a check here nor a real build on a Mac needs a C toolchain for zstd.
#
# One third-party build script still compiles C for the analyzer on Apple
# targets: signal-hook's (extended siginfo: a small C file that includes
# <signal.h> from the SDK; Xcode's clang compiles it on a Mac). Nothing is
# linked by a check, so here the C compiler for Apple targets is a stand-in
# that writes an empty Mach-O object of the target's architecture with
# Debian's clang.
set -euo pipefail

crates=(memscope-format memscope-platform)
# Built for Windows only: the Windows front end (memscope_windows.dll) and the CLI
# with its launcher (cmd/launch_windows.rs).
windows_crates=(memscope-preload-windows memscope)
apple_crates=(memscope-format memscope-platform memscope-recorder memscope-preload-macos memscope)
targets=(x86_64-pc-windows-gnu aarch64-apple-darwin x86_64-apple-darwin)

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
bash scripts/ensure_packages.sh gcc-mingw-w64-x86-64 clang

stand_in="$(mktemp -d /tmp/memscope-cross.XXXXXX)"
trap 'rm -rf "$stand_in"' EXIT
# The stand-in C compiler for Apple targets (see above): whatever it is asked
# to compile, it writes an empty object where the build script wants it
# (`-o FILE`, `-oFILE`, or `-FoFILE` when the cc crate took it for MSVC).
cat >"$stand_in/apple-cc" <<'EOF'
#!/usr/bin/env bash
out=""
prev=""
for a in "$@"; do
    [ "$prev" = "-o" ] && out="$a"
    case "$a" in -o?*) out="${a#-o}" ;; -Fo?*) out="${a#-Fo}" ;; esac
    prev="$a"
done
[ -n "$out" ] || exit 0
exec clang -target "$MEMSCOPE_STAND_IN_TRIPLE" -c -x c /dev/null -o "$out"
EOF
chmod +x "$stand_in/apple-cc"

packages=()
for crate in "${crates[@]}"; do
    packages+=(-p "$crate")
done
windows_packages=()
for crate in "${windows_crates[@]}"; do
    windows_packages+=(-p "$crate")
done
apple_packages=()
for crate in "${apple_crates[@]}"; do
    apple_packages+=(-p "$crate")
done

for target in "${targets[@]}"; do
    case "$target" in
        *-apple-darwin)
            echo "== ${apple_crates[*]} for $target" >&2
            triple="${target%%-*}-apple-macos11"
            triple="${triple/aarch64/arm64}"
            export "CC_${target//-/_}=$stand_in/apple-cc" MEMSCOPE_STAND_IN_TRIPLE="$triple"
            cargo check --target "$target" "${apple_packages[@]}"
            cargo clippy --target "$target" "${apple_packages[@]}" -- -D warnings
            unset "CC_${target//-/_}" MEMSCOPE_STAND_IN_TRIPLE
            ;;
        *)
            echo "== ${crates[*]} ${windows_crates[*]} for $target" >&2
            cargo clippy --target "$target" "${packages[@]}" "${windows_packages[@]}" -- -D warnings
            ;;
    esac
done
echo "cross check passed: ${crates[*]} ${windows_crates[*]} on x86_64-pc-windows-gnu;" \
    "${apple_crates[*]} on aarch64-apple-darwin and x86_64-apple-darwin" >&2
