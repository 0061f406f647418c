#!/usr/bin/env bash
# Builds the C SDK: a folder a firmware or host build uses with no Rust
# toolchain, in dist/edgegru-c-VERSION/ (or OUT):
#
#   include/edgegru.h, include/edgegru.hpp   the C API and the C++ wrapper
#   lib/CORE[-arm-dsp]/libedgegru.a          per core, built with its -C target-cpu
#   lib/{x86_64,aarch64}-linux/libedgegru.{a,so}
#   lib/cmake/edgegru/edgegruConfig.cmake    find_package(edgegru): edgegru::edgegru
#   lib/pkgconfig/edgegru.pc                 hosts (x86_64-linux; lib/aarch64-linux/pkgconfig too)
#   README.md (cores, flags, ABI, sizes), LICENSE-MIT, SHA256SUMS
#
#   bash scripts/c-sdk.sh [OUT]
set -euo pipefail
cd -P "$(dirname "$0")/.."
root=$PWD
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=${1:-dist/edgegru-c-$version}
case $out in /*) ;; *) out=$root/$out ;; esac
rm -rf "$out"
mkdir -p "$out/include" "$out/lib/cmake/edgegru" "$out/lib/pkgconfig"
cp ffi/include/edgegru.h ffi/include/edgegru.hpp "$out/include/"
cp LICENSE-MIT "$out/"

# core, Rust target, -C target-cpu, the C compiler's flags, float ABI, arm-dsp variant
cores="cortex-m0 thumbv6m-none-eabi cortex-m0 -mcpu=cortex-m0|-mthumb|-mfloat-abi=soft soft no
cortex-m4 thumbv7em-none-eabihf cortex-m4 -mcpu=cortex-m4|-mthumb|-mfpu=fpv4-sp-d16|-mfloat-abi=hard hard yes
cortex-m7 thumbv7em-none-eabihf cortex-m7 -mcpu=cortex-m7|-mthumb|-mfpu=fpv5-d16|-mfloat-abi=hard hard yes
cortex-m33 thumbv8m.main-none-eabihf cortex-m33 -mcpu=cortex-m33|-mthumb|-mfpu=fpv5-sp-d16|-mfloat-abi=hard hard yes
cortex-m55 thumbv8m.main-none-eabihf cortex-m55 -mcpu=cortex-m55|-mthumb|-mfloat-abi=hard hard yes"

# build_core NAME TARGET CPU FEATURES: libedgegru.a for one core into lib/NAME/.
build_core() {
    local name=$1 target=$2 cpu=$3 features=$4
    # The static library alone (not with the rlib and cdylib of the crate's
    # manifest): link-time optimization then sees that nothing reads a panic's
    # message, and the formatting machinery goes (3.6 KB on the M4F).
    RUSTFLAGS="-C target-cpu=$cpu" cargo rustc -q -p edgegru-ffi --target "$target" --no-default-features \
        --features "$features" --profile firmware --target-dir "target/c-sdk/$name" --crate-type staticlib
    mkdir -p "$out/lib/$name"
    arm-none-eabi-strip --strip-debug -o "$out/lib/$name/libedgegru.a" "target/c-sdk/$name/$target/firmware/libedgegru.a"
}

# code LIB CFLAGS MAIN MODEL: bytes of library code a firmware links: MAIN
# (with examples/c-firmware/startup.c) and MODEL as C source, the ELF's
# .text less the program's own objects'. The text firmware is
# examples/c-firmware/main.c with tiny; the classifier sdk/classifier_probe.c
# with basicmotions.
edgegru=target/release/edgegru
[ -x "$edgegru" ] || cargo build -q --release -p edgegru-trainer
probe=target/c-sdk/probe
mkdir -p "$probe/text" "$probe/classifier"
"$edgegru" export --model models/tiny.egru --format c --name firmware_model --out "$probe/text/firmware_model.c" --force > /dev/null
"$edgegru" export --model models/basicmotions.egru --format c --name firmware_model --out "$probe/classifier/firmware_model.c" \
    --force > /dev/null
sed -e "s/@FLASH_ORIGIN@/0x00000000/; s/@FLASH_LENGTH@/4M/; s/@RAM_ORIGIN@/0x20000000/; s/@RAM_LENGTH@/4M/" \
    examples/c-firmware/link.ld.in > "$probe/link.ld"
code() {
    local lib=$1 flags=${2//|/ } main=$3 model=$4 own=0 f
    local dir
    dir=$(dirname "$model")
    for f in examples/c-firmware/startup.c "$main"; do
        # shellcheck disable=SC2086
        arm-none-eabi-gcc $flags -std=c99 -Os -ffunction-sections -fdata-sections -I "$dir" -Iffi/include -Iexamples/c-firmware \
            -c "$f" -o "$dir/$(basename "$f" .c).o"
        own=$((own + $(arm-none-eabi-size -A "$dir/$(basename "$f" .c).o" | awk '$1 ~ /^\.text/ {s += $2} END {print s + 0}')))
    done
    # shellcheck disable=SC2086
    arm-none-eabi-gcc $flags -std=c99 -Os -c -I "$dir" "$model" -o "$dir/model.o"
    # shellcheck disable=SC2086
    arm-none-eabi-gcc $flags -nostdlib -T "$probe/link.ld" -Wl,--gc-sections -Wl,-z,noexecstack "$dir/startup.o" \
        "$dir/$(basename "$main" .c).o" "$dir/model.o" "$lib" -lgcc -o "$dir/probe.elf"
    echo $(($(arm-none-eabi-size -A "$dir/probe.elf" | awk '$1 == ".text" {print $2}') - own))
}

rows=""
while read -r name target cpu cflags abi dsp; do
    # format-v1: the shipped tiny and fortunes-char are version-1 files.
    build_core "$name" "$target" "$cpu" panic-handler,format-v1
    variants="$name"
    if [ "$dsp" = yes ]; then
        build_core "$name-arm-dsp" "$target" "$cpu" panic-handler,format-v1,arm-dsp-layout
        variants="$name, $name-arm-dsp"
    fi
    rows="$rows| $name | \`$variants\` | \`$target\`, \`-C target-cpu=$cpu\` | \`${cflags//|/ }\` | $abi | $(code "$out/lib/$name/libedgegru.a" "$cflags" examples/c-firmware/main.c "$probe/text/firmware_model.c") | $(code "$out/lib/$name/libedgegru.a" "$cflags" sdk/classifier_probe.c "$probe/classifier/firmware_model.c") |
"
done <<< "$cores"

# Hosts: static and shared, with run-time kernel detection (std).
cargo build -q --release -p edgegru-ffi
cargo build -q --release -p edgegru-ffi --target aarch64-unknown-linux-gnu
for host in "x86_64-linux target/release" "aarch64-linux target/aarch64-unknown-linux-gnu/release"; do
    set -- $host
    mkdir -p "$out/lib/$1/pkgconfig"
    cp "$2/libedgegru.a" "$2/libedgegru.so" "$out/lib/$1/"
    sed -e 's|^prefix=.*|prefix=${pcfiledir}/../../..|' -e "s|^libdir=.*|libdir=\${prefix}/lib/$1|" -e "s|@VERSION@|$version|" \
        ffi/edgegru.pc.in > "$out/lib/$1/pkgconfig/edgegru.pc"
done
sed -e 's|^prefix=.*|prefix=${pcfiledir}/../..|' -e 's|^libdir=.*|libdir=${prefix}/lib/x86_64-linux|' -e "s|@VERSION@|$version|" \
    ffi/edgegru.pc.in > "$out/lib/pkgconfig/edgegru.pc"

cp sdk/edgegruConfig.cmake "$out/lib/cmake/edgegru/"
sed -e "s|@VERSION@|$version|g" sdk/edgegruConfigVersion.cmake.in > "$out/lib/cmake/edgegru/edgegruConfigVersion.cmake"
sed -e "s|@VERSION@|$version|g" sdk/README.md.in > "$out/README.md"
printf '%s' "$rows" >> "$out/README.md"
cat sdk/README-after-table.md >> "$out/README.md"
(cd "$out" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)
echo "C SDK $version in $out"
