#!/usr/bin/python3
"""Trains an rnnc model file's network with PyTorch, for side-by-side
comparisons with the generated program's `train`.

The network is the PyTorch reference of tests/make_fixtures.py (an
nn.ModuleList over the model file's [[layers]], so rnnc's safetensors load
with a strict load_state_dict), trained the way rnnc trains: the model
file's [train] settings (Adam or SGD with PyTorch's semantics,
clip_grad_norm_, batch size, epochs), shuffled batches with a short last
batch, validation in eval mode. Start both from the same weights
(`<program> init --seed S --output W0`) to compare like with like.

usage: torch_train.py MODEL.toml --weights W0.safetensors --inputs X.npy --labels Y.npy
           [--lengths L.npy] [--val-inputs ... --val-labels ... --val-lengths ...]
           [--epochs N] [--batch-size B] [--lr LR] [--seed S] [--threads K] [--json]
"""
import argparse
import json
import os
import sys
import time
import tomllib

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from make_fixtures import RefModel, compute_loss, read_safetensors  # noqa: E402


def load_set(inputs, labels, lengths):
    x = np.load(inputs)
    y = np.load(labels)
    n, t = x.shape[0], x.shape[1]
    lens = np.load(lengths).astype(np.int64) if lengths else np.full(n, t, dtype=np.int64)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)), torch.from_numpy(lens)


MASK64 = (1 << 64) - 1


class Xoshiro256:
    """rnnc's generator (runtime/src/weights.cpp): splitmix64-seeded xoshiro256**."""

    def __init__(self, seed):
        self.s = []
        x = seed & MASK64
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & MASK64
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result


def rnnc_epoch_order(n, seed, epoch):
    """The permutation rnnc's train uses for an epoch (program_train.cpp)."""
    rng = Xoshiro256((seed * 0x9E3779B97F4A7C15 + epoch) & MASK64)
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    return torch.tensor(order)


def accuracy_terms(spec, pred, y, lengths):
    """(correct, counted) for cross-entropy, over sequences or valid steps."""
    if spec["loss"]["kind"] != "cross_entropy":
        return 0, 0
    mode = [l for l in spec["layers"] if l["kind"] == "readout"][0]["mode"]
    if mode == "all":
        mask = torch.arange(pred.shape[1])[None, :] < lengths[:, None]
        pred, y = pred[mask], y[mask]
    return int((pred.argmax(-1) == y.to(torch.int64)).sum()), int(y.shape[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--lengths")
    ap.add_argument("--val-inputs")
    ap.add_argument("--val-labels")
    ap.add_argument("--val-lengths")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the final metrics as one JSON line")
    ap.add_argument("--rnnc-order", action="store_true",
                    help="visit batches in rnnc's order for the seed (else torch.randperm)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.model, "rb") as f:
        spec = tomllib.load(f)
    spec.setdefault("loss", {"kind": "none"})
    tr = spec.get("train", {})
    epochs = a.epochs or tr.get("epochs", 10)
    batch = a.batch_size or tr.get("batch_size", 32)
    lr = a.lr or tr.get("learning_rate", 1e-3)
    model = RefModel(spec)
    named = read_safetensors(a.weights)
    state = {k: torch.from_numpy(np.array(v)) for k, v in named}
    model.load_state_dict(state, strict=True)
    params = list(model.parameters())
    if tr.get("optimizer", "adam") == "adam":
        betas = tuple(tr.get("betas", [0.9, 0.999]))
        opt = torch.optim.Adam(params, lr=lr, betas=betas, eps=tr.get("eps", 1e-8),
                               weight_decay=tr.get("weight_decay", 0.0))
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=tr.get("momentum", 0.0), weight_decay=tr.get("weight_decay", 0.0))
    clip = tr.get("clip_grad_norm")

    x, y, lens = load_set(a.inputs, a.labels, a.lengths)
    val = load_set(a.val_inputs, a.val_labels, a.val_lengths) if a.val_inputs else None
    n = x.shape[0]
    final = {}
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        model.train()
        perm = rnnc_epoch_order(n, a.seed, epoch) if a.rnnc_order else torch.randperm(n)
        loss_sum, correct, counted = 0.0, 0, 0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            pred = model(x[idx], lens[idx])
            loss = compute_loss(spec, pred, y[idx], lens[idx])
            opt.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            loss_sum += loss.item() * len(idx)
            c, k = accuracy_terms(spec, pred.detach(), y[idx], lens[idx])
            correct, counted = correct + c, counted + k
        seconds = time.time() - t0
        line = f"epoch {epoch}/{epochs}  train loss {loss_sum / n:.4f}"
        final = {"epoch": epoch, "train_loss": loss_sum / n, "train_acc": correct / counted if counted else None,
                 "seq_per_s": n / seconds}
        if counted:
            line += f" acc {correct / counted:.3f}"
        if val is not None:
            model.eval()
            with torch.no_grad():
                vp = model(val[0], val[2])
                vl = compute_loss(spec, vp, val[1], val[2]).item()
                c, k = accuracy_terms(spec, vp, val[1], val[2])
            line += f"  val loss {vl:.4f}" + (f" acc {c / k:.3f}" if k else "")
            final.update(val_loss=vl, val_acc=c / k if k else None)
        print(line + f"  {n / seconds:.0f} seq/s", flush=True)
    if a.json:
        print(json.dumps(final))


if __name__ == "__main__":
    main()
