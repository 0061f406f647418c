"""Checks an ONNX step graph written by `edgegru export --format onnx`.

1. `onnx.checker.check_model(full_check=True)` (structure and shape inference).
2. Runs the graph token by token with onnx's reference evaluator (numpy),
   state carried across steps, and generates greedily from a prompt.
3. With --expect: the generated text must equal what `edgegru generate
   --greedy` printed on the native runtime (prompt, tokens, a newline).
4. With --compare OTHER.onnx: OTHER is fed the same tokens; the largest
   |logit difference| over the run must stay below --tolerance.

Usage: python check_onnx.py MODEL.onnx --prompt TEXT --tokens N
           [--expect FILE] [--compare OTHER.onnx --tolerance X]
"""

import argparse
import json
import sys

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

TOKENIZER_KEY = "edgegru.tokenizer"


class Step:
    """One ONNX step graph with its state."""

    def __init__(self, path):
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        meta = {p.key: p.value for p in model.metadata_props}
        self.spec = json.loads(meta[TOKENIZER_KEY])
        state = next(i for i in model.graph.input if i.name == "h")
        dims = [d.dim_value for d in state.type.tensor_type.shape.dim]
        self.h0 = np.zeros(dims, dtype=np.float32)
        self.session = ReferenceEvaluator(model)
        self.reset()

    def reset(self):
        self.h = self.h0.copy()

    def step(self, token):
        logits, self.h = self.session.run(None, {"token": np.array([token], dtype=np.int64), "h": self.h})
        return logits[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--prompt", required=True)
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--expect")
    ap.add_argument("--compare")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()

    net = Step(args.model)
    if net.spec["kind"] != "Char":
        sys.exit("this checker drives character-level models only")
    tokens = net.spec["tokens"]
    index = {t: i for i, t in enumerate(tokens)}
    other = Step(args.compare) if args.compare else None
    print(f"{args.model}: onnx.checker passed" + (f"; {args.compare}: onnx.checker passed" if other else ""))

    worst = 0.0
    logits = None

    def feed(token):
        nonlocal logits, worst
        logits = net.step(token)
        if other is not None:
            worst = max(worst, float(np.max(np.abs(logits - other.step(token)))))

    for ch in args.prompt:
        if ch not in index:
            sys.exit(f"prompt character {ch!r} is not in the vocabulary")
        feed(index[ch])
    generated = []
    for _ in range(args.tokens):
        token = int(np.argmax(logits))  # the first largest, as the runtime picks
        generated.append(tokens[token])
        feed(token)
    text = args.prompt + "".join(generated)
    print(f"reference evaluator, {args.tokens} greedy tokens: {text[len(args.prompt):]!r}")

    ok = True
    if args.expect:
        with open(args.expect, encoding="utf-8") as f:
            native = f.read()
        native = native[:-1] if native.endswith("\n") else native
        if native == text:
            print("equals the native runtime's greedy output")
        else:
            print(f"DIFFERS from the native runtime's output: {native[len(args.prompt):]!r}")
            ok = False
    if other is not None:
        print(f"max |logit difference| against {args.compare}: {worst:.6f} (tolerance {args.tolerance})")
        ok = ok and worst < args.tolerance
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
