"""Runs every command of the README and the docs as written, and checks
what they refer to, so that no example can rot.

    python3 scripts/doc_commands.py [FILE.md ...]

For each Markdown file (default: README.md and docs/*.md), in a fresh
folder target/doc-commands/NAME that links every top-level entry of the
repository (so `models/tiny.egru`, `scripts/...` and `target/release` are
where the docs say, what the commands write stays in that folder, and cargo
finds the workspace above it):

- every ```sh block runs in order, with bash -e and pipefail, each in the
  environment the blocks before it left (as in one terminal); a
  ```sh gpu block runs only where `nvidia-smi -L` finds a GPU, and says so
  where it does not; the README's test command itself is the one line not
  run (it is what runs this);
- every ```c block compiles against ffi/include (gcc -fsyntax-only, C99,
  warnings as errors);
- the ```python blocks of a file run in order in one interpreter (the
  project's .venv, where the test command installed the edgegru wheel),
  as cells of a notebook;
- every relative link, and every inline `path/like/this.ext` naming a file
  of the repository, must exist;
- docs/architecture.md's map must name every source file of the crates (or
  a folder that holds it), and only paths that exist.

Exits 1 on the first failure, with its output.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TEST_COMMAND = "bash scripts/test-all.sh"
BLOCK = re.compile(r"^```([^\n`]*)\n(.*?)^```\s*$", re.S | re.M)
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
CODE_PATH = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+\.(?:rs|md|sh|py|toml|c|h|json|egru|onnx|in|ld))`")
CRATE_SOURCES = ["runtime/src", "onnx/src", "trainer/src", "ffi/src", "tests/src", "python/src"]


def fail(msg):
    print(f"error: {msg}")
    sys.exit(1)


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def scratch(name):
    """A fresh folder linking every top-level entry of the repository."""
    d = os.path.join(ROOT, "target", "doc-commands", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for entry in os.listdir(ROOT):
        # Not the workspace's manifest: cargo, run here, finds it above this
        # folder and builds the workspace where it is.
        if entry not in (".git", "Cargo.toml", "Cargo.lock"):
            os.symlink(os.path.join(ROOT, entry), os.path.join(d, entry))
    return d


def has_gpu():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_sh(path, line, code, cwd):
    lines = code.split("\n")
    if TEST_COMMAND in lines:
        print(f"  {path}:{line}: `{TEST_COMMAND}` is the test command itself, running now: not run again")
        lines = [": # the test command" if l == TEST_COMMAND else l for l in lines]
    # The blocks of a file share their environment (an `export PATH=...` in
    # one holds in the next), as they would in one terminal.
    env = os.path.join(cwd, ".doc-env")
    script = f"set -euo pipefail\n[ -f {env} ] && source {env}\n" + "\n".join(lines) + f"\nexport -p > {env}\n"
    r = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        print(r.stdout[-4000:])
        print(r.stderr[-4000:])
        fail(f"{path}:{line}: the block exited {r.returncode}:\n{code}")
    print(f"  {path}:{line}: ran ({len([l for l in lines if l.strip()])} lines)")


def compile_c(path, line, code):
    cmd = ["gcc", "-fsyntax-only", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(ROOT, "ffi/include"), "-x", "c", "-"]
    r = subprocess.run(cmd, input=code, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{path}:{line}: the C block does not compile:\n{r.stderr}")
    print(f"  {path}:{line}: C compiles")


PYTHON_DRIVER = """
import sys, traceback
g = {"__name__": "__main__"}
for line, code in BLOCKS:
    try:
        exec(compile(code, f"{PATH}:{line}", "exec"), g)
    except BaseException:
        traceback.print_exc()
        print(f"python block at line {line} failed")
        sys.exit(1)
    print(f"  {PATH}:{line}: ran", flush=True)
"""


def run_python(path, blocks, cwd):
    """Runs a file's Python blocks in order in one interpreter, as notebook cells."""
    if not blocks:
        return
    python = os.path.join(ROOT, ".venv", "bin", "python")
    script = f"BLOCKS = {blocks!r}\nPATH = {path!r}\n" + PYTHON_DRIVER
    r = subprocess.run([python, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=1800)
    print(r.stdout.rstrip())
    if r.returncode != 0:
        print(r.stderr[-4000:])
        fail(f"{path}: a python block failed")


def check_references(path, text):
    here = os.path.dirname(os.path.join(ROOT, path))
    n = 0
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        if not os.path.exists(os.path.normpath(os.path.join(here, target))):
            fail(f"{path}:{line_of(text, m.start())}: the link {target} names no file")
        n += 1
    for m in CODE_PATH.finditer(text):
        p = m.group(1)
        top = p.split("/")[0]
        if top != "target" and top in os.listdir(ROOT) and not os.path.exists(os.path.join(ROOT, p)):
            fail(f"{path}:{line_of(text, m.start())}: `{p}` names no file of the project")
        n += 1
    return n


def check_map(text):
    """docs/architecture.md: the map's paths exist and cover every source file."""
    section = text.split("## Where the code lives", 1)[-1]
    block = BLOCK.search(section)
    if not block:
        fail("docs/architecture.md has no map")
    listed = [l.split()[0] for l in block.group(2).split("\n") if l.strip()]
    for p in listed:
        if not os.path.exists(os.path.join(ROOT, p)):
            fail(f"docs/architecture.md: the map names {p}, which does not exist")
    folders = [p for p in listed if p.endswith("/")]
    missing = []
    for src in CRATE_SOURCES:
        for f in glob.glob(os.path.join(ROOT, src, "**", "*.rs"), recursive=True):
            rel = os.path.relpath(f, ROOT)
            if rel not in listed and not any(rel.startswith(d) for d in folders):
                missing.append(rel)
    if missing:
        fail("docs/architecture.md: the map lacks " + ", ".join(sorted(missing)))
    print(f"  docs/architecture.md: the map's {len(listed)} paths exist and cover every source file")


def main():
    files = sys.argv[1:] or ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [
        "examples/c-firmware/README.md"
    ]
    gpu = has_gpu()
    counts = {"sh": 0, "c": 0, "python": 0, "refs": 0, "gpu-not-run": 0}
    for path in files:
        text = open(os.path.join(ROOT, path), encoding="utf-8").read()
        print(f"{path}:")
        cwd = scratch(os.path.splitext(os.path.basename(path))[0])
        python_blocks = []
        for m in BLOCK.finditer(text):
            info, code, line = m.group(1).split(), m.group(2), line_of(text, m.start())
            kind = info[0] if info else ""
            if kind == "sh" and "gpu" in info[1:] and not gpu:
                print(f"  {path}:{line}: not run here: it needs an NVIDIA GPU (tests/gpu/check.sh runs the GPU checks on one)")
                counts["gpu-not-run"] += 1
            elif kind == "sh":
                run_sh(path, line, code, cwd)
                counts["sh"] += 1
            elif kind == "c":
                compile_c(path, line, code)
                counts["c"] += 1
            elif kind == "python":
                python_blocks.append((line, code))
                counts["python"] += 1
        run_python(path, python_blocks, cwd)
        counts["refs"] += check_references(path, text)
        if path == "docs/architecture.md":
            check_map(text)
    for md in glob.glob(os.path.join(ROOT, "models", "*.md")) + [os.path.join(ROOT, "tests/firmware/README.md")]:
        counts["refs"] += check_references(os.path.relpath(md, ROOT), open(md, encoding="utf-8").read())
    print(
        f"docs: {counts['sh']} shell blocks ran, {counts['c']} C blocks compiled, {counts['python']} Python blocks ran, "
        f"{counts['refs']} references exist, "
        f"{counts['gpu-not-run']} GPU blocks not run (no GPU)"
    )
    print(f"{counts['sh'] + counts['c'] + counts['python']} passed, 0 failed")


if __name__ == "__main__":
    main()
