"""Shared paths: the repository, the `edgegru` command and the C library
(built by the test command before pytest runs), the UCR/UEA data and the
import fixtures. A missing one is an error, never a skip."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _required(path: Path, how: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {how}")
    return path


@pytest.fixture(scope="session")
def cli() -> Path:
    return _required(ROOT / "target/release/edgegru", "cargo build --release -p edgegru-trainer")


@pytest.fixture(scope="session")
def clib() -> Path:
    return _required(ROOT / "target/release/libedgegru.so", "cargo build --release -p edgegru-ffi")


@pytest.fixture(scope="session")
def ucr() -> Path:
    return _required(Path(os.environ.get("EDGEGRU_UCR_DIR", ROOT / "target/ucr")), "bash scripts/fetch-ucr.sh target/ucr")


@pytest.fixture(scope="session")
def imports() -> Path:
    return _required(ROOT / "trainer/tests/fixtures/import", "the repository's import fixtures")


def run_cli(cli: Path, *args: object) -> str:
    """Runs `edgegru ARGS`, returns its standard output; a failure fails the test."""
    done = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, f"edgegru {' '.join(map(str, args))}: {done.stderr}"
    return done.stdout


def exact_bits(stdout: str) -> "dict[tuple[int, int], list[str]]":
    """`edgegru predict --exact` lines as {(sequence, step): [hex bits]}."""
    out = {}
    for line in stdout.splitlines():
        head, bits = line.split(": ")
        _, i, _, t = head.split()
        out[(int(i), int(t))] = bits.split()
    return out


def hex_bits(values: np.ndarray) -> "list[str]":
    return [f"{v:08x}" for v in np.asarray(values, dtype=np.float32).view(np.uint32)]
