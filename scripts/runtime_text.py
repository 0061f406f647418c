#!/usr/bin/env python3
"""The runtime's code in a test firmware ELF: its .text minus the functions
of the test harness (the firmware crate, cortex-m-rt's reset and fault
handlers, semihosting). Everything else in .text is the runtime and what it
links: core, serde, postcard and the compiler's memcpy/memset.

    python3 scripts/runtime_text.py ELF   ->   prints the byte count
"""
import re
import subprocess
import sys

HARNESS = re.compile(
    r"edgegru_firmware_test|cortex_m_rt|cortex_m_semihosting|cortex_m::|^Reset$|HardFault|DefaultHandler|DefaultPreInit|^main$|__pre_init"
)


def runtime_text(elf):
    sizes = subprocess.run(["arm-none-eabi-size", "-A", elf], capture_output=True, text=True, check=True).stdout
    text = int(re.search(r"^\.text\s+(\d+)", sizes, re.M).group(1))
    symbols = subprocess.run(["arm-none-eabi-nm", "-S", "-C", elf], capture_output=True, text=True, check=True).stdout
    harness = 0
    for line in symbols.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in "tT" and HARNESS.search(parts[3]):
            harness += int(parts[1], 16)
    return text - harness


if __name__ == "__main__":
    print(runtime_text(sys.argv[1]))
