#!/usr/bin/env bash
# Builds the C SDK: a folder a firmware or host build uses with no Rust
# toolchain, in dist/edgegru-c-VERSION/ (or OUT):
#
#   include/edgegru.h, include/edgegru.hpp   the C API and the C++ wrapper
#   lib/CORE[-arm-dsp][-lean]/libedgegru.a   per core, built with its -C target-cpu
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

# The features of the two variants: full reads every model (format
# versions 1 to 6 -- the shipped fortunes-char is a version-1 file -- float
# and hybrid numerics, block-sparse weights); lean runs integer-only, dense
# models of format versions 2 to 6, in the least code.
full=panic-handler,format-v1,float-numerics,block-sparse
lean=panic-handler

# build_core NAME TARGET CPU FEATURES [CORE]: libedgegru.a for one core into
# lib/NAME/. Variants of one core share a target folder (the dependencies
# build once).
build_core() {
    local name=$1 target=$2 cpu=$3 features=$4 core=${5:-$1}
    # The static library alone (not with the rlib and cdylib of the crate's
    # manifest): link-time optimization then sees that nothing reads a panic's
    # message, and the formatting machinery goes (3.6 KB on the M4F).
    RUSTFLAGS="-C target-cpu=$cpu" cargo rustc -q -p edgegru-ffi --target "$target" --no-default-features \
        --features "$features" --profile firmware --target-dir "target/c-sdk/$core" --crate-type staticlib
    mkdir -p "$out/lib/$name"
    arm-none-eabi-strip --strip-debug -o "$out/lib/$name/libedgegru.a" "target/c-sdk/$core/$target/firmware/libedgegru.a"
}

# code LIB CFLAGS MAIN MODEL [CPPFLAGS]: bytes of library code a firmware
# links: MAIN (with examples/c-firmware/startup.c) and MODEL as C source,
# the ELF's .text less the program's own objects'. The text firmware is
# examples/c-firmware/main.c with tiny (version 6, which every variant
# reads); the classifier sdk/classifier_probe.c with basicmotions.
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
    local lib=$1 flags=${2//|/ } main=$3 model=$4 defines=${5:-} own=0 f
    local dir
    dir=$(dirname "$model")
    for f in examples/c-firmware/startup.c "$main"; do
        # shellcheck disable=SC2086
        arm-none-eabi-gcc $flags $defines -std=c99 -Os -ffunction-sections -fdata-sections -I "$dir" -Iffi/include -Iexamples/c-firmware \
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

# text LIB CFLAGS / classifier LIB CFLAGS: the two firmwares' library code.
text() { code "$1" "$2" examples/c-firmware/main.c "$probe/text/firmware_model.c"; }
classifier() { code "$1" "$2" sdk/classifier_probe.c "$probe/classifier/firmware_model.c" "${3:-}"; }

rows=""
while read -r name target cpu cflags abi dsp; do
    build_core "$name" "$target" "$cpu" "$full"
    build_core "$name-lean" "$target" "$cpu" "$lean" "$name"
    variants="$name, $name-lean"
    if [ "$dsp" = yes ]; then
        build_core "$name-arm-dsp" "$target" "$cpu" "$full,arm-dsp-layout" "$name"
        build_core "$name-arm-dsp-lean" "$target" "$cpu" "$lean,arm-dsp-layout" "$name"
        variants="$variants, $name-arm-dsp, $name-arm-dsp-lean"
    fi
    rows="$rows| $name | \`$variants\` | \`$target\`, \`-C target-cpu=$cpu\` | \`${cflags//|/ }\` | $abi"
    for lib in "$name" "$name-lean"; do
        rows="$rows | $(text "$out/lib/$lib/libedgegru.a" "$cflags") | $(classifier "$out/lib/$lib/libedgegru.a" "$cflags")"
    done
    rows="$rows |
"
done <<< "$cores"

# What each part costs on the M4F: the lean library with one feature added,
# the arm-dsp layout, and saved states (linked only by a firmware that calls
# them).
m4=$out/lib/cortex-m4
m4_flags=$(awk '$1 == "cortex-m4" {print $4}' <<< "$cores")
lean_text=$(text "$m4-lean/libedgegru.a" "$m4_flags")
parts=""
for feature in format-v1 float-numerics block-sparse; do
    build_core "probe-$feature" thumbv7em-none-eabihf cortex-m4 "$lean,$feature" cortex-m4
    parts="$parts| \`$feature\` | $(($(text "$out/lib/probe-$feature/libedgegru.a" "$m4_flags") - lean_text)) |
"
    rm -rf "$out/lib/probe-$feature"
done
parts="$parts| \`arm-dsp-layout\` (the \`-arm-dsp\` libraries) | $(($(text "$m4-arm-dsp-lean/libedgegru.a" "$m4_flags") - lean_text)) |
| saved states (\`egru_session_save_state\`, \`egru_session_restore_state\`) | $(($(classifier "$m4-lean/libedgegru.a" "$m4_flags" -DPROBE_SAVED_STATE) - $(classifier "$m4-lean/libedgegru.a" "$m4_flags"))) |
| text generation, sampling and the tokenizers (text firmware less classifier) | $((lean_text - $(classifier "$m4-lean/libedgegru.a" "$m4_flags"))) |
"

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
printf '%s' "$parts" >> "$out/README.md"
cat sdk/README-end.md >> "$out/README.md"
(cd "$out" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)
echo "C SDK $version in $out"
