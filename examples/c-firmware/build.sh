#!/usr/bin/env bash
# Builds the C firmware for a QEMU board against the edgegru C SDK, and runs it there.
#
#   bash examples/c-firmware/build.sh BOARD MODEL [TOKENS]
#
# BOARD: microbit (Cortex-M0), mps2-an386 (Cortex-M4F), mps2-an500
# (Cortex-M7), mps2-an505 (Cortex-M33) or mps3-an547 (Cortex-M55). MODEL:
# an .egru file; it goes into flash as C source (`edgegru export --format c`).
# The SDK is EDGEGRU_SDK, else dist/edgegru-c-VERSION (made by
# scripts/c-sdk.sh when missing: that step needs cargo; the rest needs only
# cmake, arm-none-eabi-gcc and qemu-system-arm). EDGEGRU_LAYOUT=arm-dsp
# links the library that reads models in the arm-dsp layout;
# EDGEGRU_VARIANT=lean the lean library (integer-only, dense models of format
# versions 2 to 6). Writes the ELF
# and its map to target/c-firmware/BOARD/, prints the flash and RAM it uses,
# then runs it: it prints the prompt and the greedy text, as
# `edgegru generate --greedy` does.
set -euo pipefail
board=$1
model=$(realpath "$2")
tokens=${3:-80}
root=$(cd -P "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
sdk=${EDGEGRU_SDK:-$root/dist/edgegru-c-$version}
[ -d "$sdk" ] || bash "$root/scripts/c-sdk.sh" "$sdk"
edgegru=${EDGEGRU:-$root/target/release/edgegru}
[ -x "$edgegru" ] || (cd "$root" && cargo build -q --release -p edgegru-trainer)
out=$root/target/c-firmware/$board
mkdir -p "$out/model"
rm -f "$out/CMakeCache.txt" # a clean configure: this SDK, these options
"$edgegru" export --model "$model" --format c --name firmware_model --out "$out/model/firmware_model.c" --force > /dev/null
cmake -S "$root/examples/c-firmware" -B "$out" -DCMAKE_TOOLCHAIN_FILE="$root/examples/c-firmware/arm-none-eabi.cmake" \
    -DBOARD="$board" -Dedgegru_DIR="$sdk/lib/cmake/edgegru" -DEDGEGRU_LAYOUT="${EDGEGRU_LAYOUT:-portable}" \
    -DEDGEGRU_VARIANT="${EDGEGRU_VARIANT:-full}" \
    -DMODEL_SOURCE="$out/model/firmware_model.c" -DTOKENS="$tokens" ${EDGEGRU_CMAKE_ARGS:-} > "$out/configure.log"
cmake --build "$out" > "$out/build.log"
arm-none-eabi-size -A "$out/firmware.elf" | awk -v m="$(stat -c %s "$model")" '
    $1==".text"{t=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} $1==".bss"{b=$2}
    END{printf "flash: .text %d + .rodata %d bytes (the model %d of them) + .data %d; RAM: .data + .bss %d bytes (arena buffer included)\n", t, r, m, d, d+b}' >&2
qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$out/firmware.elf"
