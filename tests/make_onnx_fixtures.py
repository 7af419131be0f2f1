#!/usr/bin/python3
"""Makes the ONNX import fixtures tests/fixtures/onnx_*: PyTorch models
exported by torch.onnx.export, with inputs and what PyTorch predicts.

Run with Debian's PyTorch (/usr/bin/python3, package python3-torch;
.ci/install-deps.sh --python). Every model in models/ is built as the plain
PyTorch module a user would write (batch_first, full-length sequences, the
readout in forward: h_n[-1] or cat(h_n[-2], h_n[-1]), out.mean(1) or every
step), given the same weights as the model's forward fixture, exported, and
also written through python/rnnc_export.py; user-style cases add the other
glue torch emits (out[:, -1], initial states as graph inputs, the final states
as extra outputs, an unfolded export whose weights are Slice / Concat
subgraphs of the initializers).

Each directory holds:
  model.onnx            the export
  inputs.npy            [N, T] int64 tokens or [N, T, I] float32 features
  expected.npy          PyTorch's output (float32)
  h0.npy, c0.npy        (optional) initial states, [layers * dirs, N, H]
  expected_hn.npy, expected_cn.npy  (optional) the final states, when exported
  export.toml, export.safetensors   (models/ cases) the same module through rnnc_export
  case.json             what the case is
"""

import glob
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import make_fixtures as mf  # noqa: E402
import rnnc_export  # noqa: E402

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

FIXTURES = os.path.join(HERE, "fixtures")
MODELS = os.path.join(HERE, "..", "models")


class Plain(nn.Module):
    """The model as users write it: layers in a ModuleList, the readout in forward."""

    def __init__(self, spec, last_step=False):
        super().__init__()
        ref = mf.RefModel(spec)
        self.layers = ref.layers
        self.readout = next(l["mode"] for l in spec["layers"] if l["kind"] == "readout")
        self.last_step = last_step  # readout 'last' as out[:, -1] instead of h_n[-1]

    def forward(self, x, h0=None, c0=None):
        out = last = None
        finals = []
        for m in self.layers:
            if isinstance(m, mf.Readout):
                if self.readout == "last":
                    x = out[:, -1] if self.last_step else last
                elif self.readout == "mean":
                    x = out.mean(1)
                else:
                    x = out
            elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
                if h0 is None:
                    out, h = m(x)
                else:
                    out, h = m(x, (h0, c0) if isinstance(m, nn.LSTM) else h0)
                finals.append(h)
                hn = h[0] if isinstance(h, tuple) else h
                last = torch.cat([hn[-2], hn[-1]], -1) if m.bidirectional else hn[-1]
                x = out
            else:
                x = m(x)
        return x, finals


class WithStates(nn.Module):
    """Initial states as inputs, the final states as extra outputs."""

    def __init__(self, plain):
        super().__init__()
        self.plain = plain

    def forward(self, x, h0, c0):
        y, finals = self.plain(x, h0, c0)
        h, c = finals[-1]
        return y, h, c


class OutputOnly(nn.Module):
    def __init__(self, plain):
        super().__init__()
        self.plain = plain

    def forward(self, x):
        return self.plain(x)[0]


def fixture_weights(spec, name):
    """The forward fixture's weights (make_fixtures.init_weights), as a state_dict."""
    return {n: torch.from_numpy(w) for n, w in mf.init_weights(spec, mf.case_seed(name))}


def inputs_for(spec, rng, N=5, T=9):
    inp = spec["input"]
    if inp["kind"] == "tokens":
        return torch.from_numpy(rng.integers(0, inp["vocab"], size=(N, T)).astype(np.int64))
    return torch.from_numpy(rng.standard_normal((N, T, inp["size"])).astype(np.float32))


def export(module, args, path, input_names, output_names, folding=True):
    dyn = {n: {0: "N", 1: "T"} if n == "x" else {1: "N"} for n in input_names}
    for n in output_names:
        dyn[n] = {0: "N"} if n == "y" else {1: "N"}
    torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                      dynamic_axes=dyn, opset_version=14, do_constant_folding=folding)


def save(d, name, a):
    np.save(os.path.join(d, name), np.ascontiguousarray(a), allow_pickle=False)


def make_dir(name):
    d = os.path.join(FIXTURES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def model_case(path):
    base = os.path.splitext(os.path.basename(path))[0]
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    m = Plain(spec).eval()
    m.load_state_dict(fixture_weights(spec, "fwd_model_" + base))
    rng = np.random.default_rng(mf.case_seed("onnx_" + base))
    x = inputs_for(spec, rng)
    d = make_dir("onnx_model_" + base)
    with torch.no_grad():
        y = m(x)[0]
    export(OutputOnly(m), (x,), os.path.join(d, "model.onnx"), ["x"], ["y"])
    rnnc_export.export(m, os.path.join(d, "export.toml"), os.path.join(d, "export.safetensors"),
                       readout=m.readout, name="exported_" + base)
    save(d, "inputs.npy", x.numpy())
    save(d, "expected.npy", y.numpy().astype(np.float32))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"what": "torch.onnx.export of models/" + base + ".toml as a plain PyTorch module"}, f)
    return d


def user_cases():
    L = mf.L
    out = []

    # readout 'last' written as out[:, -1]; unfolded export (weight Slices / Concats)
    spec = {"input": {"kind": "features", "size": 3},
            "layers": [L("lstm", hidden=6, num_layers=2), L("readout", mode="last"), L("linear", out=4)]}
    m = Plain(spec, last_step=True).eval()
    m.load_state_dict(fixture_weights(spec, "onnx_last_step_unfolded"))
    x = inputs_for(spec, np.random.default_rng(3), N=4, T=7)
    d = make_dir("onnx_last_step_unfolded")
    with torch.no_grad():
        y = m(x)[0]
    export(OutputOnly(m), (x,), os.path.join(d, "model.onnx"), ["x"], ["y"], folding=False)
    save(d, "inputs.npy", x.numpy())
    save(d, "expected.npy", y.numpy())
    out.append((d, "2-layer LSTM, readout out[:, -1], Linear; exported without constant folding"))

    # initial states as graph inputs, final states as outputs, bidirectional GRU... as LSTM (h and c)
    spec = {"input": {"kind": "tokens", "vocab": 30},
            "layers": [L("embedding", dim=5), L("lstm", hidden=4, num_layers=2, bidirectional=True),
                       L("readout", mode="mean"), L("linear", out=3)]}
    m = Plain(spec).eval()
    m.load_state_dict(fixture_weights(spec, "onnx_states_in_out"))
    rng = np.random.default_rng(5)
    x = inputs_for(spec, rng, N=3, T=6)
    h0 = torch.from_numpy(rng.standard_normal((4, 3, 4)).astype(np.float32))
    c0 = torch.from_numpy(rng.standard_normal((4, 3, 4)).astype(np.float32))
    ws = WithStates(m).eval()
    d = make_dir("onnx_states_in_out")
    with torch.no_grad():
        y, hn, cn = ws(x, h0, c0)
    export(ws, (x, h0, c0), os.path.join(d, "model.onnx"), ["x", "h0", "c0"], ["y", "hn", "cn"])
    save(d, "inputs.npy", x.numpy())
    save(d, "h0.npy", h0.numpy())
    save(d, "c0.npy", c0.numpy())
    save(d, "expected.npy", y.numpy())
    save(d, "expected_hn.npy", hn.numpy())
    save(d, "expected_cn.npy", cn.numpy())
    out.append((d, "tokens, embedding, bidirectional 2-layer LSTM from given h0/c0, readout mean, Linear; "
                   "h_n and c_n as extra outputs"))

    # GRU + RNN stack, per-step head (MatMul + Add), no bias on the RNN
    spec = {"input": {"kind": "features", "size": 4},
            "layers": [L("gru", hidden=5, bidirectional=True), L("rnn", hidden=3, nonlinearity="relu", bias=False),
                       L("readout", mode="all"), L("linear", out=2), L("linear", out=3)]}
    m = Plain(spec).eval()
    m.load_state_dict(fixture_weights(spec, "onnx_gru_rnn_tagger"))
    x = inputs_for(spec, np.random.default_rng(7), N=3, T=5)
    d = make_dir("onnx_gru_rnn_tagger")
    with torch.no_grad():
        y = m(x)[0]
    export(OutputOnly(m), (x,), os.path.join(d, "model.onnx"), ["x"], ["y"])
    save(d, "inputs.npy", x.numpy())
    save(d, "expected.npy", y.numpy())
    out.append((d, "bidirectional GRU -> RNN relu without bias, every step, two Linear layers per step"))
    for d, what in out:
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump({"what": what}, f)
    return [d for d, _ in out]


def main():
    torch.manual_seed(0)
    os.makedirs(FIXTURES, exist_ok=True)
    for entry in os.listdir(FIXTURES):
        if entry.startswith("onnx_"):
            shutil.rmtree(os.path.join(FIXTURES, entry))
    made = [model_case(p) for p in sorted(glob.glob(os.path.join(MODELS, "*.toml")))]
    made += user_cases()
    for d in made:
        print(os.path.relpath(d, HERE))


if __name__ == "__main__":
    main()
