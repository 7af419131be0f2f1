#!/usr/bin/python3
"""Time PyTorch on an rnnc model file: the forward pass or one training step.

    /usr/bin/python3 bench/torch_rnn.py --model bench/configs/c_lstm.toml \
        --batch 64 --steps 100 --mode infer --threads 1 --repeat 10

The model file is read with the semantics of docs/model_format.md and turned
into the equivalent stack of torch.nn modules, so PyTorch runs exactly the
network that `<program> bench` runs:

* infer: model.eval(), torch.no_grad(), one forward of B random sequences of
  T steps (all of length T, so nothing is packed).
* train: model.train(), one optimizer step on random labels, the work rnnc's
  `bench --train` does: zero_grad, forward, the model's loss, backward,
  clip_grad_norm_ (when the model file sets clip_grad_norm), optimizer step.

Prints one JSON line: median and minimum milliseconds over the timed runs (at
least --repeat, and more until --min-time seconds have passed) after --warmup
untimed ones, with the thread and BLAS settings in effect.

Threads: torch.set_num_threads sets ATen's OpenMP pool; OpenBLAS keeps its own
count, which torch does not reach (Debian's torch is built with
BLAS_INFO=generic), so openblas_set_num_threads is called through ctypes on
the BLAS the process actually loaded. Which BLAS that is depends on
LD_LIBRARY_PATH (bench/README.md); the JSON line names it.
"""

import argparse
import ctypes
import json
import os
import statistics
import sys
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from make_fixtures import RefModel, Readout  # noqa: E402


class Net(RefModel):
    """The torch twin of an rnnc model file (the fixtures' RefModel modules,
    parameters named as rnnc names them), with a forward for full-length
    batches: no packing, so the timing is PyTorch's plain path."""

    def __init__(self, spec):
        super().__init__(spec)
        if not all(self.gru_lbr.values()):
            raise SystemExit("torch_rnn: PyTorch has no GRU with linear_before_reset = false")

    def forward(self, x):
        out = last = None
        for m in self.layers:
            if isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
                out, h = m(x)
                if isinstance(h, tuple):  # LSTM: (h_n, c_n)
                    h = h[0]
                last = torch.cat([h[-2], h[-1]], -1) if m.bidirectional else h[-1]
                x = out
            elif isinstance(m, Readout):
                x = {"last": lambda: last, "mean": lambda: out.mean(1), "all": lambda: out}[m.mode]()
            else:
                x = m(x)
        return x


def loaded_blas():
    """The path of the BLAS library mapped into this process (None if none is)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    for p in sorted(paths):
        name = os.path.basename(p)
        if name.startswith(("libblas.so", "libopenblas")):
            return os.path.realpath(p)
    return None


def set_threads(n):
    """Sets ATen's and OpenBLAS's thread counts; returns a description of the BLAS."""
    torch.set_num_threads(n)
    path = loaded_blas()
    info = {"blas_path": path, "blas": "none found"}
    if path is None:
        return info
    lib = ctypes.CDLL(path)
    if hasattr(lib, "openblas_set_num_threads"):
        lib.openblas_set_num_threads(ctypes.c_int(n))
        lib.openblas_get_num_threads.restype = ctypes.c_int
        lib.openblas_get_parallel.restype = ctypes.c_int
        lib.openblas_get_config.restype = ctypes.c_char_p
        parallel = {0: "sequential", 1: "pthread", 2: "openmp"}.get(lib.openblas_get_parallel(), "?")
        info.update(blas=f"openblas-{parallel}", blas_threads=lib.openblas_get_num_threads(),
                    blas_config=lib.openblas_get_config().decode())
    else:
        # Debian's reference (netlib) BLAS: single-threaded and about 3 GFLOP/s.
        info["blas"] = "reference"
    return info


def make_step(spec, net, batch, steps, mode, gen):
    """Returns a function that runs one timed unit of work."""
    inp = spec["input"]
    if inp["kind"] == "tokens":
        x = torch.randint(0, inp["vocab"], (batch, steps), generator=gen)
    else:
        x = torch.randn(batch, steps, inp["size"], generator=gen)
    if mode == "infer":
        net.eval()

        def infer():
            with torch.no_grad():
                net(x)
        return infer

    net.train()
    loss_kind = spec.get("loss", {}).get("kind", "none")
    with torch.no_grad():
        y_shape = net(x).shape
    if loss_kind == "cross_entropy":
        y = torch.randint(0, y_shape[-1], y_shape[:-1], generator=gen)

        def loss_fn(out):
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    elif loss_kind == "mse":
        y = torch.randn(y_shape, generator=gen)

        def loss_fn(out):
            return F.mse_loss(out, y)
    else:
        raise SystemExit("torch_rnn: --mode train needs a model with a loss (cross_entropy or mse)")

    tr = spec.get("train", {})
    params = list(net.parameters())
    if tr.get("optimizer", "adam") == "adam":
        opt = torch.optim.Adam(params, lr=tr.get("learning_rate", 1e-3), betas=tuple(tr.get("betas", (0.9, 0.999))),
                               eps=tr.get("eps", 1e-8), weight_decay=tr.get("weight_decay", 0.0))
    else:
        opt = torch.optim.SGD(params, lr=tr.get("learning_rate", 1e-3), momentum=tr.get("momentum", 0.0),
                              weight_decay=tr.get("weight_decay", 0.0))
    clip = tr.get("clip_grad_norm")

    def train_step():
        opt.zero_grad()
        loss = loss_fn(net(x))
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
    return train_step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="rnnc model file (TOML)")
    ap.add_argument("--batch", type=int, required=True, help="sequences per run (B)")
    ap.add_argument("--steps", type=int, required=True, help="steps per sequence (T)")
    ap.add_argument("--mode", choices=("infer", "train"), default="infer")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10, help="timed runs, at least")
    ap.add_argument("--min-time", type=float, default=0.0, help="seconds of timed runs, at least")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    with open(a.model, "rb") as f:
        spec = tomllib.load(f)
    blas = set_threads(a.threads)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1)
    net = Net(spec)
    run = make_step(spec, net, a.batch, a.steps, a.mode, gen)
    for _ in range(a.warmup):
        run()
    ms = []
    while len(ms) < a.repeat or sum(ms) < 1e3 * a.min_time:
        t0 = time.perf_counter()
        run()
        ms.append((time.perf_counter() - t0) * 1e3)
    rec = dict(lib="torch", model=spec.get("name", os.path.basename(a.model).split(".")[0]), mode=a.mode,
               batch=a.batch, steps=a.steps, threads=a.threads, median_ms=statistics.median(ms), min_ms=min(ms),
               runs=len(ms), torch_version=torch.__version__, torch_threads=torch.get_num_threads(), **blas)
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    sys.exit(main())
