#!/usr/bin/env python3
"""Speed of the Python package against its peers, in one process and run:

1. Model.predict over the JapaneseVowels test set (370 sequences) against
   onnxruntime's Python API stepping the same model's float ONNX step graph
   (exported with Model.to_onnx), one InferenceSession.run per step.
2. Session.step in a Python loop of 100,000 calls against the native step
   (`edgegru bench --steps 100000`, the same model, state carried).

Usage: bench/python_speed.py --edgegru target/release/edgegru --ucr target/ucr
Prints a Markdown table.
"""

import argparse
import os
import re
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort

import edgegru


def best_of(rounds, f):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def ort_predict(path, X):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    opts = session.get_inputs()
    h_shape = [d if isinstance(d, int) else 1 for d in opts[1].shape]

    def run():
        out = []
        for series in X:
            h = np.zeros(h_shape, dtype=np.float32)
            for step in series:
                p, h = session.run(None, {"features": step[None, :], "h": h})
            out.append(p[0])
        return np.stack(out)

    return run


def native_step_us(edgegru_bin, model, steps):
    out = subprocess.run([edgegru_bin, "bench", "--model", model, "--steps", str(steps), "--rounds", "3"],
                         capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("native"))
    return float(re.split(r"\s+", line)[1])


def python_step_us(model, steps):
    s = edgegru.load(model).session()
    vocab = edgegru.load(model).info["vocab"]
    tokens = [(i * 7 + 3) % vocab for i in range(steps)]

    def loop():
        step = s.step
        for t in tokens:
            step(t)

    return best_of(3, loop) / steps * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edgegru", required=True)
    ap.add_argument("--ucr", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    X, y = edgegru.read_sequences(os.path.join(a.ucr, "JapaneseVowels", "JapaneseVowels_TEST.ts"))
    model = edgegru.load("japanesevowels")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "jv.onnx")
        model.to_onnx(path)
        ours = best_of(a.rounds, lambda: model.predict(X))
        peer = best_of(a.rounds, ort_predict(path, X))
    steps = sum(len(s) for s in X)
    print(f"| measure (one process, best of {a.rounds}) | edgegru | peer | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| JapaneseVowels test set ({len(X)} sequences, {steps} steps): Model.predict vs onnxruntime Python API, float step graph |"
          f" {ours * 1e3:.1f} ms | {peer * 1e3:.1f} ms | {peer / ours:.1f}x faster |")
    for name in ("tiny", "fortunes-char"):
        native = native_step_us(a.edgegru, name, 100_000)
        py = python_step_us(name, 100_000)
        print(f"| {name}: Session.step from Python, 100,000 calls vs native step (edgegru bench) | {py:.2f} µs | {native:.2f} µs |"
              f" +{py - native:.2f} µs per call |")


if __name__ == "__main__":
    main()
