#!/usr/bin/env python3
"""From a notebook to a device model, in Python:

1. read BasicMotions (accelerometer + gyroscope, 4 activities) from its
   UCR/UEA `.ts` files;
2. train a GRU classifier on the arrays;
3. export it with int8 weights and integer-only numerics (for a Cortex-M0);
4. evaluate it in Python with the numbers the device computes;
5. convert the source document's Keras model and generate text with it.

Usage: examples/python/basicmotions.py [--data DIR] [--keras FILE --vocab FILE] [--out FILE]
(defaults: target/ucr/BasicMotions, the repository's Keras fixture,
basicmotions-py.egru).
"""

import argparse
import os

import edgegru


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    fixtures = os.path.join(root, "trainer", "tests", "fixtures", "import")
    ap = argparse.ArgumentParser(description="BasicMotions to a device model, and a Keras model converted, from Python")
    ap.add_argument("--data", default=os.path.join(root, "target", "ucr", "BasicMotions"))
    ap.add_argument("--keras", default=os.path.join(fixtures, "keras_source.keras"))
    ap.add_argument("--vocab", default=os.path.join(fixtures, "keras_source.vocab.json"))
    ap.add_argument("--out", default="basicmotions-py.egru")
    ap.add_argument("--epochs", type=int, default=150)
    a = ap.parse_args()

    # 1. The data: X float32 [sequences, steps, features], y the class names.
    X, y = edgegru.read_sequences(os.path.join(a.data, "BasicMotions_TRAIN.ts"))
    X_test, y_test = edgegru.read_sequences(os.path.join(a.data, "BasicMotions_TEST.ts"))
    print(f"train {X.shape}, test {X_test.shape}, classes {sorted(set(y))}")

    # 2. Train (validation on the test file; the best validation is kept).
    trained = edgegru.fit_classifier(X, y, X_test, y_test, hidden=32, dense=0, batch=8, epochs=a.epochs, seed=1, threads=1)
    best_step, best_loss = trained.best
    print(f"trained {trained.steps} steps; best validation loss {best_loss:.4f} at step {best_step}")

    # 3. The device model: int8 weights, integer-only arithmetic.
    device = trained.export(weights="int8", numerics="int", name="basicmotions-py")
    info = device.info
    print(f"device model: {info['file_bytes']} bytes of flash, {info['arena_bytes']} bytes of RAM, {info['numerics']} numerics")

    # 4. Evaluate with the device's numbers (the C library's, bit for bit).
    f32 = trained.export(weights="f32").evaluate(X_test, y_test)
    int8 = device.evaluate(X_test, y_test)
    print(f"test accuracy: f32 {f32['accuracy']:.3f}, device (integer-only) {int8['accuracy']:.3f}")
    device.save(a.out, overwrite=True)
    print(f"wrote {a.out}")

    # 5. A Keras text model, converted and checked, then generating text.
    lm = edgegru.convert(a.keras, vocab=a.vocab, weights="int8")
    check = lm.verification.get("written") or {}
    print(f"converted {os.path.basename(a.keras)}: {lm.info['vocab']} tokens; int8 vs f32 greedy tokens equal: "
          f"{check.get('equal_tokens')}/{check.get('tokens')}")
    print("generated:", repr(lm.session().generate("the", 12, temperature=0)))


if __name__ == "__main__":
    main()
