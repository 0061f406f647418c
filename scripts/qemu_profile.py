"""Where a firmware's instructions go: runs a Cortex-M firmware ELF under
qemu-system-arm with an execution trace and attributes every instruction
executed to the parts of a step, by the inlined function names the ELF's
debug info gives each address (arm-none-eabi-addr2line -i).

    python3 scripts/qemu_profile.py BOARD ELF STEPS [--functions N]

BOARD is the qemu machine (microbit, mps2-an386, mps3-an547, ...), ELF a
firmware of tests/firmware (best built with --features quiet: no kernel
check, no cost harness), STEPS the number of steps it runs (prompt length
plus generated tokens), by which the totals are divided. Prints
instructions per step for each part; the load and the harness are listed
once, not per step. With --functions N, also the N innermost functions
that execute the most instructions per step, each with its part.
"""

import collections
import re
import subprocess
import sys
import tempfile

# A part of a step and the function names that mark it, searched from the
# innermost inlined frame outwards; the first part that matches wins.
PARTS = [
    ("requantization", ["requantize"]),
    ("GRU update", ["gru_update"]),
    ("state to int8", ["quantize_state"]),
    ("dense activation and its int8 scale", ["activate_int", "quantize_q12", "from_ratio", "div_by_digits", "div_u64"]),
    ("matrix products", ["matvec", "dot_quads", "two_group_quads", "row_blocks", "block8x4", "unpack_groups", "pairs_x"]),
    ("sampling", ["sampling::"]),
    ("outputs to f32", ["fixed_to_f32", "state_to_f32"]),
    ("load (once)", ["Model::from_bytes", "load_network", "load_v1", "crc32", "check_arm_dsp", "attach_rows", "row_entry", "from_desc"]),
    ("harness (once)", ["stack_low_water", "paint_stack", "Reset", "hprint", "semihosting"]),
    ("the rest of the step", ["integer::forward", "float::network", "StepMachine::step"]),
]


def trace(board, elf, log):
    """Runs the firmware with qemu's translation-block log and execution trace."""
    cmd = ["qemu-system-arm", "-machine", board, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", elf, "-d", "in_asm,exec,nochain", "-D", log]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=600)


def counts(log):
    """Executions of each guest instruction address."""
    blocks, current, executed = {}, [], collections.Counter()
    for line in open(log, errors="replace"):
        if line.startswith("IN: "):
            current = []
        elif m := re.match(r"^0x([0-9a-f]+):\s", line):
            current.append(int(m.group(1), 16))
        elif line.startswith("Trace "):
            guest = re.match(r"Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/", line).group(1)
            if guest not in blocks and current:
                blocks[guest], current = current, []
            for address in blocks.get(guest, []):
                executed[address] += 1
    return executed


def frames(elf, addresses):
    """The inlined function names at each address, innermost first."""
    out = subprocess.run(["arm-none-eabi-addr2line", "-a", "-f", "-i", "-C", "-e", elf] + [hex(a) for a in addresses],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    names, current, i = {}, None, 0
    while i < len(out):
        if out[i].startswith("0x"):
            current = int(out[i], 16)
            names[current] = []
            i += 1
        else:
            names[current].append(out[i])
            i += 2
    return names


def main():
    board, elf, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--functions" else 0
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        trace(board, elf, log.name)
        executed = counts(log.name)
    names = frames(elf, sorted(executed))
    parts, functions = collections.Counter(), collections.Counter()
    for address, n in executed.items():
        chain = " | ".join(names.get(address, ["?"]))
        part = next((p for p, keys in PARTS if any(k in chain for k in keys)), "other")
        parts[part] += n
        functions[(names.get(address, ["?"])[0], part)] += n
    for part, n in parts.most_common():
        once = "(once)" in part
        print(f"{n if once else n / steps:>12,.0f}  {part}{'' if once else ' (per step)'}")
    step_functions = [(f, n) for f, n in functions.most_common() if "(once)" not in f[1]]
    for (function, part), n in step_functions[:top]:
        print(f"{n / steps:>12,.0f}  {function[:100]}  [{part}]")


if __name__ == "__main__":
    main()
