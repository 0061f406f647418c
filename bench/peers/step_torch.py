"""PyTorch peer for `edgegru bench`: step latency of the same model, one
thread, batch 1, the GRU state carried from step to step, in f32 and with
PyTorch's dynamic int8 quantization (`quantize_dynamic` of the GRU and the
Linear layers: per-tensor int8 weights, activations quantized per call; the
embedding stays f32).

Sizes default to config A with the shipped model's vocabulary (98); the
weights are random (latency does not depend on their values).

    pip install torch
    python3 bench/peers/step_torch.py --steps 2000 --rounds 7 [--json]
"""
import argparse
import json
import time

import torch

# The same model as the training peer (this folder is on sys.path when run as a script).
from train_torch import Model


def time_steps(model, vocab, hidden, steps, rounds):
    # One ready tensor per token id, so a step costs only the model call.
    tokens = [torch.tensor([[i]], dtype=torch.long) for i in range(vocab)]
    token = 0
    h = torch.zeros((1, 1, hidden))
    times = []
    with torch.inference_mode():
        for r in range(rounds + 1):
            start = time.perf_counter()
            for _ in range(steps):
                logits, h = model(tokens[token], h)
                # Data-dependent next token, as `edgegru bench` does.
                token = (token + 1 + (logits[0, 0, 0].item() > 0)) % vocab
            if r > 0:
                times.append((time.perf_counter() - start) * 1e6 / steps)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=98)
    ap.add_argument("--emb", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dense", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Model(a.vocab, a.emb, a.hidden, a.dense).eval()
    int8 = torch.ao.quantization.quantize_dynamic(model, {torch.nn.GRU, torch.nn.Linear}, dtype=torch.qint8)
    results = [
        {"backend": "pytorch-f32", "us_per_step": time_steps(model, a.vocab, a.hidden, a.steps, a.rounds)},
        {"backend": "pytorch-dynamic-int8", "us_per_step": time_steps(int8, a.vocab, a.hidden, a.steps, a.rounds)},
    ]
    for r in results:
        r["tokens_per_sec"] = 1e6 / r["us_per_step"]
    if a.json:
        print(json.dumps(results))
    else:
        print(f"{'backend':<24}{'µs/step':>12}{'tokens/s':>14}   (torch {torch.__version__}, 1 thread)")
        for r in results:
            print(f"{r['backend']:<24}{r['us_per_step']:>12.2f}{r['tokens_per_sec']:>14.0f}")


if __name__ == "__main__":
    main()
