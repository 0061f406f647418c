#!/bin/sh
# Runs a firmware ELF under qemu-system-arm with semihosting; the exit code is
# the firmware's verdict. The board is EDGEGRU_FW_BOARD, or the default board
# of the target the ELF was built for (see README.md). EDGEGRU_FW_ICOUNT=1
# adds `-icount shift=0` (one virtual nanosecond per instruction), which the
# cost harness (`--features bench`) needs.
set -eu
elf=$1
case "$elf" in
*/thumbv6m-none-eabi/*) board=${EDGEGRU_FW_BOARD:-microbit} ;;
*/thumbv7em-none-eabihf/*) board=${EDGEGRU_FW_BOARD:-mps2-an386} ;;
*/thumbv8m.main-none-eabihf/*) board=${EDGEGRU_FW_BOARD:-mps2-an505} ;;
*) echo "qemu.sh: cannot tell the target of $elf" >&2; exit 2 ;;
esac
icount=
[ "${EDGEGRU_FW_ICOUNT:-0}" = 1 ] && icount="-icount shift=0"
# shellcheck disable=SC2086
exec qemu-system-arm -machine "$board" $icount -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel "$elf"
