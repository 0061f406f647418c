#!/usr/bin/env bash
# Every test of edgegru, on a fresh Debian machine. Installs what it needs
# (Debian packages, rustup targets), then runs: format and lint checks, the
# host test suite, the aarch64 suite under qemu-user (NEON and SDOT kernels),
# the bare-metal builds, and the fuzz target's build. Skips nothing: a missing
# tool is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing system packages"
need_apt=()
for pkg in fortunes qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross valgrind pkg-config binutils-arm-none-eabi; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
rustup target add aarch64-unknown-linux-gnu thumbv6m-none-eabi thumbv7em-none-eabihf
rustup component add rustfmt clippy

# Kernel sets the host must run, so SIMD cannot silently fall back to scalar.
expect=""
if [ "$(uname -m)" = x86_64 ]; then
    grep -qw avx2 /proc/cpuinfo && expect="avx2"
    grep -qwE 'avx512_vnni|avx_vnni' /proc/cpuinfo && expect="$expect,vnni"
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p edgegru-runtime --target thumbv7em-none-eabihf -- -D warnings
cargo clippy -p edgegru-ffi --target thumbv7em-none-eabihf --no-default-features --features panic-handler -- -D warnings
cargo clippy -p edgegru-runtime --target aarch64-unknown-linux-gnu --features std --all-targets -- -D warnings

step "host tests (x86-64: scalar, AVX2 and, where present, VNNI kernels)"
EDGEGRU_EXPECT_KERNELS="$expect" cargo test --workspace --release

step "aarch64 tests under qemu-aarch64 -cpu max (scalar, NEON and SDOT kernels)"
EDGEGRU_EXPECT_KERNELS="neon,neon-dot" cargo test --release --target aarch64-unknown-linux-gnu \
    -p edgegru-runtime -p edgegru-tests --features edgegru-runtime/std

step "bare-metal builds without an allocator"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    cargo build --release -p edgegru-runtime --target "$target"
done

step "the main job: generate with the built-in model"
cargo build --release -p edgegru-trainer
target/release/edgegru generate --prompt "The meaning of life is" --max-tokens 40 --seed 1

step "C library: C99 tests (static and shared), zero heap use, valgrind, example via pkg-config"
cargo build --release -p edgegru-ffi -p edgegru-trainer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/edgegru train --corpus /usr/share/games/fortunes/art --out "$work/run" --emb 16 --hidden 32 --dense 32 \
    --seq-len 32 --batch 8 --steps 20 --threads 1 > /dev/null
target/release/edgegru export --checkpoint "$work/run" --weights int8 --sparse --out "$work/m.egru" > /dev/null
CFLAGS="-std=c99 -Wall -Wextra -Werror -pedantic"
gcc $CFLAGS -DEGRU_COUNT_MALLOC -Iffi/include tests/c/test_api.c target/release/libedgegru.a -lpthread -ldl -lm -o "$work/test_api_count"
"$work/test_api_count" "$work/m.egru"
gcc $CFLAGS -g -Iffi/include tests/c/test_api.c target/release/libedgegru.a -lpthread -ldl -lm -o "$work/test_api"
valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite -q "$work/test_api" "$work/m.egru"
gcc $CFLAGS -Iffi/include tests/c/test_api.c -Ltarget/release -ledgegru -o "$work/test_api_shared"
LD_LIBRARY_PATH=target/release "$work/test_api_shared" "$work/m.egru"
bash scripts/install-c-lib.sh "$work/prefix" > /dev/null
gcc $CFLAGS examples/c/generate.c $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs --static edgegru) -o "$work/generate"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/generate" "$work/m.egru" "The " 20 > /dev/null

step "C library for Cortex-M4F (no std, panic handler feature)"
cargo build -p edgegru-ffi --target thumbv7em-none-eabihf --no-default-features --features panic-handler --profile firmware

step "fuzz target builds"
cargo check --manifest-path runtime/fuzz/Cargo.toml

step "all tests passed"
