#!/usr/bin/env bash
# Builds the C firmware for a QEMU board and runs it there.
#
#   bash examples/c-firmware/build.sh BOARD MODEL [TOKENS]
#
# BOARD: mps2-an386 (Cortex-M4F, thumbv7em-none-eabihf) or mps2-an505
# (Cortex-M33, thumbv8m.main-none-eabihf). MODEL: an .egru file (it goes into
# flash). Builds libedgegru.a for the core the way an integrator does
# (cargo, no std, the panic-handler feature), compiles and links main.c with
# Debian's arm-none-eabi-gcc (no C library), writes the ELF and its map file
# to target/c-firmware/BOARD/, prints the flash and RAM it uses, then runs it
# under qemu-system-arm: the program prints the prompt and the text it
# generated greedily, as `edgegru generate --greedy` does.
#
# EDGEGRU_FEATURES adds features of the C library, e.g. `arm-dsp-layout` for
# a model in that layout (`edgegru export --model M --layout arm-dsp`).
set -euo pipefail
board=$1
model=$(realpath "$2")
tokens=${3:-80}
root=$(cd -P "$(dirname "$0")/../.." && pwd)
here=$root/examples/c-firmware
case $board in
mps2-an386)
    target=thumbv7em-none-eabihf cpu=cortex-m4
    cflags="-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard"
    flash="0x00000000" flash_len=4M ram="0x20000000" ram_len=4M ;;
mps2-an505)
    target=thumbv8m.main-none-eabihf cpu=cortex-m33
    cflags="-mcpu=cortex-m33 -mfpu=fpv5-sp-d16 -mfloat-abi=hard"
    # The secure aliases of SSRAM1 (code) and SSRAM2 (data): the core starts secure.
    flash="0x10000000" flash_len=4M ram="0x38000000" ram_len=2M ;;
*) echo "unknown board $board (mps2-an386 or mps2-an505)" >&2; exit 2 ;;
esac
out=$root/target/c-firmware/$board
mkdir -p "$out"

# The C library for this core (-C target-cpu selects the DSP kernels).
(cd "$root" && RUSTFLAGS="-C target-cpu=$cpu" cargo build -q -p edgegru-ffi --target "$target" \
    --no-default-features --features "panic-handler${EDGEGRU_FEATURES:+,$EDGEGRU_FEATURES}" --profile firmware \
    --target-dir target/c-firmware/lib-$cpu)
lib=$root/target/c-firmware/lib-$cpu/$target/firmware/libedgegru.a

# The model as C source: firmware_model.c (the array) and firmware_model.h (its sizes).
[ -x "$root/target/release/edgegru" ] || (cd "$root" && cargo build -q --release -p edgegru-trainer)
"$root/target/release/edgegru" export --model "$model" --format c --name firmware_model --out "$out/firmware_model.c" --force > /dev/null

sed -e "s/FLASH_ORIGIN/$flash/; s/FLASH_LENGTH/$flash_len/; s/RAM_ORIGIN/$ram/; s/RAM_LENGTH/$ram_len/" \
    "$here/link.ld.in" > "$out/link.ld"
# shellcheck disable=SC2086
arm-none-eabi-gcc $cflags -mthumb -std=c99 -Os -Wall -Wextra -Werror -ffunction-sections -fdata-sections \
    -nostdlib -I "$root/ffi/include" -I "$out" -DTOKENS="$tokens" \
    -T "$out/link.ld" -Wl,--gc-sections -Wl,-z,noexecstack -Wl,-Map="$out/firmware.map" \
    "$here/startup.c" "$here/main.c" "$out/firmware_model.c" "$lib" -lgcc -o "$out/firmware.elf"
arm-none-eabi-size -A "$out/firmware.elf" | awk -v m="$(stat -c %s "$model")" '
    $1==".text"{t=$2} $1==".rodata"{r=$2} $1==".data"{d=$2} $1==".bss"{b=$2}
    END{printf "flash: .text %d + .rodata %d bytes (the model %d of them) + .data %d; RAM: .data + .bss %d bytes (arena buffer included)\n", t, r, m, d, d+b}' >&2
qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$out/firmware.elf"
