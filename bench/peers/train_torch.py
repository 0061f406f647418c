"""PyTorch peer for `edgegru train`: the same model, data split and batches.

Embedding -> GRU -> Linear -> ReLU -> Linear, character level, windows of
--seq-len tokens stepping by --seq-len over the first 90% of the corpus
(each epoch shifted by a random 0 to seq-len - 1 tokens, as `edgegru train
--window-offsets random` does; `--window-offsets fixed` for none), the last
10% held out; Adam with --lr; PyTorch's default initialization, which is
also `edgegru train`'s (`--layer-init torch`).

Prints training tokens/s and the held-out loss (nats/char, evaluated
streaming: the state is carried across the whole held-out text, as
`edgegru eval` does) at each --report-minutes mark.

    pip install torch
    python3 bench/peers/train_torch.py --corpus /usr/share/games/fortunes --threads 2 --report-minutes 5 20
"""
import argparse
import json
import math
import os
import time

import torch


def corpus_text(path):
    if os.path.isfile(path):
        files = [path]
    else:
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d != "off" and not d.startswith(".")]
            for n in names:
                if n.startswith(".") or n.endswith(".dat") or n.endswith(".u8"):
                    continue
                files.append(os.path.join(root, n))
        files.sort()
    return "".join(open(f, encoding="utf-8").read() for f in files)


class Model(torch.nn.Module):
    def __init__(self, vocab, emb, hidden, dense):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, emb)
        self.gru = torch.nn.GRU(emb, hidden, batch_first=True)
        self.dense = torch.nn.Linear(hidden, dense)
        self.out = torch.nn.Linear(dense, vocab)

    def forward(self, x, h=None):
        y, h = self.gru(self.emb(x), h)
        return self.out(torch.relu(self.dense(y))), h


@torch.no_grad()
def held_out_loss(model, ids, chunk=2000):
    model.eval()
    h, total, n = None, 0.0, 0
    for s in range(0, len(ids) - 1, chunk):
        x = ids[s:s + chunk + 1]
        if len(x) < 2:
            break
        logits, h = model(x[None, :-1], h)
        total += torch.nn.functional.cross_entropy(logits[0], x[1:], reduction="sum").item()
        n += len(x) - 1
    model.train()
    return total / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--emb", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--dense", type=int, default=256)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report-minutes", type=float, nargs="+", default=[1.0])
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps instead, and report there")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (nn.GRU runs on cuDNN)")
    ap.add_argument("--skip-steps", type=int, default=0, help="leave the first N steps out of the timing (warm-up)")
    ap.add_argument("--decay", choices=["none", "cosine"], default="none",
                    help="cosine: decay the learning rate to --min-lr over --steps if given, else over the last --report-minutes mark, as `edgegru train --decay cosine` does with --steps or with only --minutes")
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--window-offsets", choices=["random", "fixed"], default="random",
                    help="random: shift each epoch's windows by 0 to seq-len - 1 tokens, as `edgegru train` does by default")
    args = ap.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    text = corpus_text(args.corpus)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long, device=device)
    split = len(ids) - round(len(ids) * 0.1)
    train, val = ids[:split], ids[split:]
    largest_shift = args.seq_len - 1 if args.window_offsets == "random" else 0

    def epoch_starts():
        shift = int(torch.randint(args.seq_len, ())) if args.window_offsets == "random" else 0
        return torch.arange(shift, len(train) - args.seq_len, args.seq_len, device=device)

    per_epoch = len(range(largest_shift, len(train) - args.seq_len, args.seq_len)) // args.batch

    model = Model(len(chars), args.emb, args.hidden, args.dense).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    # With --steps, one report when they are done.
    marks = [math.inf] if args.steps else sorted(args.report_minutes)
    offsets = torch.arange(args.seq_len + 1, device=device)
    step, trained_sec, tokens = 0, 0.0, 0
    results = {"vocab": len(chars), "threads": args.threads, "device": args.device, "torch": torch.__version__, "reports": []}
    while marks:
        starts = epoch_starts()
        order = starts[torch.randperm(len(starts), device=device)]
        for b in range(per_epoch):
            t0 = time.perf_counter()
            if args.decay == "cosine":
                if args.steps:
                    frac = min(step / args.steps, 1.0)
                else:
                    frac = min(trained_sec / (max(args.report_minutes) * 60), 1.0)
                for g in opt.param_groups:
                    g["lr"] = args.min_lr + (args.lr - args.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))
            win = train[order[b * args.batch:(b + 1) * args.batch, None] + offsets]
            logits, _ = model(win[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(chars)), win[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sync()
            step += 1
            if step > args.skip_steps:
                trained_sec += time.perf_counter() - t0
                tokens += args.batch * args.seq_len
            if args.steps and step >= args.steps:
                marks = [trained_sec / 60]
            if marks and step > args.skip_steps and trained_sec >= marks[0] * 60:
                r = {"minutes": round(trained_sec / 60, 2), "steps": step, "tokens_per_sec": round(tokens / trained_sec),
                     "train_loss": round(loss.item(), 4), "held_out_loss": round(held_out_loss(model, val), 4)}
                print(json.dumps(r), flush=True)
                results["reports"].append(r)
                marks.pop(0)
            if not marks:
                break
    print(json.dumps(results))


if __name__ == "__main__":
    main()
