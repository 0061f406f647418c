"""The length of every function in the project's non-test Rust code.

    python3 scripts/fn_lengths.py [--max N] [--top K] [DIR ...]

Lists the K longest functions of each crate (default 3) and exits 1 when a
function is longer than N lines (default 80), naming it. A function's length
counts its lines from the `fn` line to its closing brace. Test code is left
out: `#[cfg(test)]` modules, `tests/` folders, benches, fuzz targets.
Default DIRs: the crates of the workspace and the firmware.
"""

import argparse
import os
import re
import sys

CRATES = ["runtime/src", "onnx/src", "trainer/src", "ffi/src", "tests/src", "tests/firmware/src", "python/src"]
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?((const|async|unsafe|extern)\s+)*fn\s+(\w+)")


def strip_code(line, state):
    """The line without strings, char literals and comments (`state` carries a
    block comment or a string across lines)."""
    out, i = [], 0
    while i < len(line):
        if state["comment"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["comment"], i = False, end + 2
        elif state["string"]:
            if line[i] == "\\":
                i += 2
            elif line[i] == '"':
                state["string"], i = False, i + 1
            else:
                i += 1
        elif line.startswith("//", i):
            break
        elif line.startswith("/*", i):
            state["comment"], i = True, i + 2
        elif line[i] == '"':
            state["string"], i = True, i + 1
        elif re.match(r"'(\\.|[^\\'])'", line[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", line[i:]).group(0))
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, length) of every function outside test modules."""
    lines = open(path, encoding="utf-8").read().split("\n")
    state = {"comment": False, "string": False}
    code = [strip_code(l, state) for l in lines]
    found, depth, skip_until, pending_test = [], 0, None, False
    open_fns = []
    for n, c in enumerate(code):
        raw = lines[n].strip()
        if raw.startswith("#[cfg(test)]"):
            pending_test = True
        m = FN.match(c)
        if m and skip_until is None:
            open_fns.append((m.group(5), n, depth))
        if pending_test and re.match(r"\s*(pub\s+)?mod\s+\w+\s*\{", c) and skip_until is None:
            skip_until, pending_test = depth, False
        elif pending_test and c.strip() and not raw.startswith("#["):
            pending_test = False
        for ch in c:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if skip_until is not None and depth == skip_until:
                    skip_until = None
                while open_fns and depth == open_fns[-1][2]:
                    name, start, _ = open_fns.pop()
                    found.append((name, start + 1, n - start + 1))
        # A declaration without a body (`fn f();` in a trait or extern block).
        if open_fns and open_fns[-1][1] == n and c.rstrip().endswith(";") and "{" not in c:
            open_fns.pop()
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("dirs", nargs="*")
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    dirs = a.dirs or [d for d in CRATES if os.path.isdir(os.path.join(root, d))]
    too_long = []
    for d in dirs:
        rows = []
        for base, _, files in os.walk(os.path.join(root, d)):
            for f in files:
                if f.endswith(".rs") and f != "tests.rs":
                    p = os.path.join(base, f)
                    rel = os.path.relpath(p, root)
                    rows += [(length, name, f"{rel}:{line}") for name, line, length in functions(p)]
        rows.sort(reverse=True)
        top = ", ".join(f"{name} {length} ({where})" for length, name, where in rows[: a.top])
        print(f"{d}: {len(rows)} functions; longest: {top}")
        too_long += [r for r in rows if r[0] > a.max]
    for length, name, where in too_long:
        print(f"error: {where}: fn {name} is {length} lines (at most {a.max})")
    sys.exit(1 if too_long else 0)


if __name__ == "__main__":
    main()
