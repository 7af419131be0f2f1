#!/usr/bin/python3
"""Write the PyTorch reference fixtures under tests/fixtures/<case>/.

Deterministic (fixed seeds, explicit lengths); run with
    /usr/bin/python3 tests/make_fixtures.py
and re-verify the committed files with
    /usr/bin/python3 tests/check_fixtures.py

The reference model (RefModel) follows the semantics of the rnnc model
language; see tests/fixtures/README.md for the file format and the cases.
This module is also imported by check_fixtures.py (it holds the reference).
"""

import glob
import json
import os
import shutil
import struct
import sys
import tomllib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")

torch.set_num_threads(1)

# ----------------------------------------------------------------------------
# safetensors (by hand: 8-byte LE header length, JSON header, raw LE data)
# ----------------------------------------------------------------------------


def write_safetensors(path, tensors):
    """tensors: list of (name, np.ndarray or torch.Tensor); stored as F32 in this order."""
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        a = np.ascontiguousarray(np.asarray(t, dtype="<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns a list of (name, np.float32 array) in header order (sorted by data offset)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode())
    header.pop("__metadata__", None)
    base = 8 + n
    out = []
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        assert info["dtype"] == "F32", (path, name, info["dtype"])
        b, e = info["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype="<f4").reshape(info["shape"]).copy()
        out.append((name, a))
    return out


# ----------------------------------------------------------------------------
# TOML writing (the subset the model language uses)
# ----------------------------------------------------------------------------


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r if any(c in r for c in ".eE") else r + ".0"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def to_toml(spec, comment=None):
    lines = []
    if comment:
        lines += ["# " + c for c in comment.splitlines()]
    lines.append("name = " + _toml_value(spec["name"]))
    lines.append("")
    lines.append("[input]")
    for k, v in spec["input"].items():
        lines.append(f"{k} = {_toml_value(v)}")
    for layer in spec["layers"]:
        lines.append("")
        lines.append("[[layers]]")
        for k, v in layer.items():
            lines.append(f"{k} = {_toml_value(v)}")
    for table in ("loss", "train"):
        if table in spec:
            lines.append("")
            lines.append(f"[{table}]")
            for k, v in spec[table].items():
                lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# The reference model
# ----------------------------------------------------------------------------

RECURRENT = ("rnn", "lstm", "gru")


class Readout(nn.Module):
    """Placeholder occupying the readout's index in the ModuleList (no parameters)."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode


def onnx_variant(layer_spec):
    """The ONNX cell variants of a recurrent entry (empty: none)."""
    return {k: layer_spec[k] for k in ("clip", "peepholes", "input_forget", "reverse") if layer_spec.get(k)}


class ReverseOnly(nn.Module):
    """A reverse-only recurrent layer (ONNX direction = "reverse"), which PyTorch
    lacks: the parameters of nn.RNN / nn.LSTM / nn.GRU's reverse direction only
    (names ending in _reverse, same shapes and order), run by cell_by_hand."""

    def __init__(self, kind, input_size, hidden_size, num_layers=1, bias=True, dropout=0.0, nonlinearity="tanh",
                 proj_size=0):
        super().__init__()
        self.kind, self.hidden_size, self.num_layers, self.bias = kind, hidden_size, num_layers, bias
        self.proj_size = proj_size
        S = proj_size or hidden_size
        self.dropout, self.nonlinearity, self.bidirectional = dropout, nonlinearity, False
        G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
        for k in range(num_layers):
            sfx = f"_l{k}_reverse"
            width = input_size if k == 0 else S
            self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.zeros(G * hidden_size, width)))
            self.register_parameter("weight_hh" + sfx, nn.Parameter(torch.zeros(G * hidden_size, S)))
            if bias:
                self.register_parameter("bias_ih" + sfx, nn.Parameter(torch.zeros(G * hidden_size)))
                self.register_parameter("bias_hh" + sfx, nn.Parameter(torch.zeros(G * hidden_size)))
            if proj_size:
                self.register_parameter("weight_hr" + sfx, nn.Parameter(torch.zeros(proj_size, hidden_size)))


def cell_kind(module):
    if isinstance(module, ReverseOnly):
        return module.kind
    return "lstm" if isinstance(module, nn.LSTM) else "gru" if isinstance(module, nn.GRU) else "rnn"


def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh, peep, clip, input_forget, w_hr=None):
    """One LSTM step, gate order (i, f, g, o) as nn.LSTM, with ONNX's variants:
    peep = [p_i, p_f, p_o] (i and f read c_{t-1}, o reads c_t), clip bounds every
    gate pre-activation to [-clip, clip], input_forget couples f = 1 - i."""
    a_i, a_f, a_g, a_o = (F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    bound = (lambda v: v.clamp(-clip, clip)) if clip else (lambda v: v)
    if peep is not None:
        p_i, p_f, p_o = peep.chunk(3, 0)
        a_i = a_i + p_i * c
        a_f = a_f + p_f * c
    i = torch.sigmoid(bound(a_i))
    f = 1 - i if input_forget else torch.sigmoid(bound(a_f))
    g = torch.tanh(bound(a_g))
    c = f * c + i * g
    if peep is not None:
        a_o = a_o + p_o * c
    o = torch.sigmoid(bound(a_o))
    m = o * torch.tanh(c)
    return (m if w_hr is None else F.linear(m, w_hr)), c


def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, relu, clip):
    a = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    if clip:
        a = a.clamp(-clip, clip)
    return torch.relu(a) if relu else torch.tanh(a)


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, lbr, clip=None):
    """One GRU step, gate order (r, z, n) as nn.GRU. x: [I], h: [H]. clip
    bounds the pre-activations of r, z and n (ONNX)."""
    bound = (lambda v: v.clamp(-clip, clip)) if clip else (lambda v: v)
    gi = F.linear(x, w_ih, b_ih)
    i_r, i_z, i_n = gi.chunk(3, -1)
    w_hr, w_hz, w_hn = w_hh.chunk(3, 0)
    if b_hh is None:
        b_hr = b_hz = b_hn = None
    else:
        b_hr, b_hz, b_hn = b_hh.chunk(3, 0)
    r = torch.sigmoid(bound(i_r + F.linear(h, w_hr, b_hr)))
    z = torch.sigmoid(bound(i_z + F.linear(h, w_hz, b_hz)))
    if lbr:  # PyTorch / cuDNN: r multiplies (W_hn h + b_hn)
        n = torch.tanh(bound(i_n + r * F.linear(h, w_hn, b_hn)))
    else:  # ONNX linear_before_reset = 0: r multiplies h before W_hn
        n = torch.tanh(bound(i_n + F.linear(r * h, w_hn, b_hn)))
    return (1 - z) * n + z * h


def cell_by_hand(module, x, lengths, lbr=True, variant=None):
    """An nn.RNN / nn.LSTM / nn.GRU `module` (with peephole_l<k>[_reverse]
    parameters registered on it when variant has peepholes) over a padded
    batch, one sequence at a time and one step at a time (each sequence only
    over its own steps; a reverse direction starts at the sequence's own last
    element). x: [N, T, I]. Returns (out [N, T, D] zero beyond each length,
    h_n [num_layers*dirs, N, H] in PyTorch's order)."""
    variant = variant or {}
    clip = variant.get("clip")
    N, T, _ = x.shape
    H = module.hidden_size
    S = getattr(module, "proj_size", 0) or H  # width of h
    dir_ids = [1] if variant.get("reverse") else [0, 1] if module.bidirectional else [0]
    kind = cell_kind(module)
    outs, finals = [], []
    for n in range(N):
        L = int(lengths[n])
        inp = x[n, :L]
        fin = []
        for layer in range(module.num_layers):
            dir_outs = []
            for d in dir_ids:
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih = getattr(module, "weight_ih" + sfx)
                w_hh = getattr(module, "weight_hh" + sfx)
                b_ih = getattr(module, "bias_ih" + sfx) if module.bias else None
                b_hh = getattr(module, "bias_hh" + sfx) if module.bias else None
                h = x.new_zeros(S)
                c = x.new_zeros(H)
                steps = range(L - 1, -1, -1) if d else range(L)
                o = [None] * L
                for t in steps:
                    if kind == "lstm":
                        peep = getattr(module, "peephole" + sfx) if variant.get("peepholes") else None
                        w_hr = getattr(module, "weight_hr" + sfx) if S != H else None
                        h, c = lstm_cell(inp[t], h, c, w_ih, w_hh, b_ih, b_hh, peep, clip,
                                         variant.get("input_forget"), w_hr)
                    elif kind == "gru":
                        h = gru_cell(inp[t], h, w_ih, w_hh, b_ih, b_hh, lbr, clip)
                    else:
                        h = rnn_cell(inp[t], h, w_ih, w_hh, b_ih, b_hh, module.nonlinearity == "relu", clip)
                    o[t] = h
                dir_outs.append(torch.stack(o))
                fin.append(h)
            inp = torch.cat(dir_outs, -1)
            if layer + 1 < module.num_layers and module.dropout > 0:
                inp = F.dropout(inp, module.dropout, module.training)
        outs.append(F.pad(inp, (0, 0, 0, T - L)))
        finals.append(torch.stack(fin))
    return torch.stack(outs), torch.stack(finals, 1)


class RefModel(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        inp = spec["input"]
        self.tokens = inp["kind"] == "tokens"
        width = None if self.tokens else inp["size"]
        mods = []
        self.gru_lbr = {}
        self.variants = {}  # entry index -> ONNX variant (by-hand cells)
        for i, l in enumerate(spec["layers"]):
            k = l["kind"]
            if k == "embedding":
                mods.append(nn.Embedding(inp["vocab"], l["dim"]))
                width = l["dim"]
            elif k in RECURRENT:
                kw = dict(input_size=width, hidden_size=l["hidden"], num_layers=l.get("num_layers", 1),
                          bias=l.get("bias", True), batch_first=True, dropout=l.get("dropout", 0.0),
                          bidirectional=l.get("bidirectional", False))
                if l.get("reverse"):
                    kw.pop("batch_first")
                    kw.pop("bidirectional")
                    m = ReverseOnly(k, nonlinearity=l.get("nonlinearity", "tanh"), proj_size=l.get("proj_size", 0), **kw)
                elif k == "rnn":
                    m = nn.RNN(nonlinearity=l.get("nonlinearity", "tanh"), **kw)
                elif k == "lstm":
                    m = nn.LSTM(proj_size=l.get("proj_size", 0), **kw)
                else:
                    m = nn.GRU(**kw)
                if k == "gru":
                    self.gru_lbr[i] = l.get("linear_before_reset", True)
                if onnx_variant(l):
                    self.variants[i] = onnx_variant(l)
                if l.get("peepholes"):
                    # rnnc's order: after each direction's bias_hh (state_dict order is not relied on)
                    for layer in range(kw["num_layers"]):
                        for d in [1] if l.get("reverse") else range(2 if l.get("bidirectional") else 1):
                            sfx = f"_l{layer}" + ("_reverse" if d else "")
                            m.register_parameter("peephole" + sfx,
                                                 nn.Parameter(torch.zeros(3 * l["hidden"])))
                mods.append(m)
                width = (l.get("proj_size") or l["hidden"]) * (2 if l.get("bidirectional") else 1)
            elif k == "readout":
                mods.append(Readout(l["mode"]))
            elif k == "dropout":
                mods.append(nn.Dropout(l["p"]))
            elif k == "linear":
                mods.append(nn.Linear(width, l["out"], bias=l.get("bias", True)))
                width = l["out"]
            else:
                raise ValueError(k)
        self.layers = nn.ModuleList(mods)
        self.out_width = width

    def param_dtype(self):
        return next(self.parameters()).dtype

    def _recurrent(self, i, m, x, lengths):
        """Returns (padded outputs [N, T, D], readout-'last' vector [N, D])."""
        T = x.shape[1]
        if i in self.variants or (i in self.gru_lbr and not self.gru_lbr[i]):
            out, h = cell_by_hand(m, x, lengths, self.gru_lbr.get(i, True), self.variants.get(i))
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, h = m(packed)
            if isinstance(h, tuple):
                h = h[0]
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        last = torch.cat([h[-2], h[-1]], -1) if m.bidirectional else h[-1]
        return out, last

    def forward(self, x, lengths):
        """x: tokens [N, T] (any int dtype) or features [N, T, I]; lengths [N]."""
        lengths = torch.as_tensor(lengths).to(torch.int64).cpu()
        N, T = x.shape[0], x.shape[1]
        valid = torch.arange(T)[None, :] < lengths[:, None]  # [N, T]
        dt = self.param_dtype()
        if self.tokens:
            x = torch.where(valid, x.to(torch.int64), torch.zeros((), dtype=torch.int64))
        else:
            x = x.to(dt)
        mode, out, last = None, None, None
        for i, m in enumerate(self.layers):
            if isinstance(m, nn.Embedding):
                x = m(x)
            elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU, ReverseOnly)):
                out, last = self._recurrent(i, m, x, lengths)
                x = out
            elif isinstance(m, Readout):
                mode = m.mode
                if mode == "last":
                    x = last
                elif mode == "mean":
                    x = out.sum(1) / lengths.to(dt)[:, None]
                elif mode == "all":
                    x = out
                else:
                    raise ValueError(mode)
            else:  # dropout or linear, before the readout (dropout) or after it (per step for "all")
                x = m(x)
        if mode == "all":
            x = torch.where(valid[:, :, None], x, torch.zeros((), dtype=x.dtype))
        return x

    def forward_one_by_one(self, x, lengths):
        """Independent path for cross-checking: each sequence alone, cut to its
        own length, batch of one, no packing. Hand-written GRU cases still use
        cell_by_hand (there is no other implementation)."""
        lengths = torch.as_tensor(lengths).to(torch.int64).cpu()
        T = x.shape[1]
        dt = self.param_dtype()
        res = []
        for n in range(x.shape[0]):
            L = int(lengths[n])
            xn = x[n:n + 1, :L]
            xn = xn.to(torch.int64) if self.tokens else xn.to(dt)
            mode = None
            for i, m in enumerate(self.layers):
                if isinstance(m, nn.Embedding):
                    xn = m(xn)
                elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU, ReverseOnly)):
                    if i in self.variants or (i in self.gru_lbr and not self.gru_lbr[i]):
                        out, h = cell_by_hand(m, xn, [L], self.gru_lbr.get(i, True), self.variants.get(i))
                    else:
                        out, h = m(xn)
                        if isinstance(h, tuple):
                            h = h[0]
                    last = torch.cat([h[-2], h[-1]], -1) if m.bidirectional else h[-1]
                    xn = out
                elif isinstance(m, Readout):
                    mode = m.mode
                    xn = {"last": lambda: last, "mean": lambda: out.mean(1), "all": lambda: out}[mode]()
                else:
                    xn = m(xn)
            if mode == "all":
                xn = F.pad(xn, (0, 0, 0, T - L))
            res.append(xn[0])
        return torch.stack(res)


def load_weights(model, named):
    sd = model.state_dict()
    names = [n for n, _ in named]
    assert names == list(sd.keys()), (names, list(sd.keys()))
    with torch.no_grad():
        for n, a in named:
            assert tuple(sd[n].shape) == a.shape, (n, sd[n].shape, a.shape)
            sd[n].copy_(torch.from_numpy(a))


def compute_loss(spec, pred, y, lengths):
    """pred: model output; y: labels (torch); PyTorch default reductions."""
    kind = spec["loss"]["kind"]
    mode = [l for l in spec["layers"] if l["kind"] == "readout"][0]["mode"]
    if mode == "all":
        T = pred.shape[1]
        lengths = torch.as_tensor(lengths).to(torch.int64)
        mask = torch.arange(T)[None, :] < lengths[:, None]
        pred, y = pred[mask], y[mask]
    if kind == "cross_entropy":
        return F.cross_entropy(pred, y)
    if kind == "mse":
        return F.mse_loss(pred, y.to(pred.dtype))
    raise ValueError(kind)


def reference_forward(spec, weights, inputs, lengths):
    """Expected output, computed in float64 from the float32 weights."""
    model = RefModel(spec)
    load_weights(model, weights)
    model.double().eval()
    x = torch.from_numpy(np.ascontiguousarray(inputs))
    with torch.no_grad():
        y = model(x, lengths)
        y2 = model.forward_one_by_one(x, lengths)
    return y.numpy(), y2.numpy()


def reference_train(spec, weights, inputs, lengths, labels):
    """(loss float64, grads [(name, float64)], params after one step [(name, float32)], grad norm f32)."""
    x = torch.from_numpy(np.ascontiguousarray(inputs))
    y = torch.from_numpy(np.ascontiguousarray(labels))
    # loss and gradients in float64
    m64 = RefModel(spec)
    load_weights(m64, weights)
    m64.double().train()
    loss64 = compute_loss(spec, m64(x, lengths), y, lengths)
    loss64.backward()
    grads = [(n, p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
             for n, p in m64.named_parameters()]
    # one optimizer step in float32, as a float32 trainer does it
    m32 = RefModel(spec)
    load_weights(m32, weights)
    m32.train()
    tr = spec["train"]
    params = list(m32.parameters())
    if tr["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=tr["learning_rate"], betas=tuple(tr.get("betas", (0.9, 0.999))),
                               eps=tr.get("eps", 1e-8), weight_decay=tr.get("weight_decay", 0.0))
    else:
        opt = torch.optim.SGD(params, lr=tr["learning_rate"], momentum=tr.get("momentum", 0.0),
                              weight_decay=tr.get("weight_decay", 0.0))
    opt.zero_grad()
    loss32 = compute_loss(spec, m32(x, lengths), y, lengths)
    loss32.backward()
    norm = torch.norm(torch.stack([p.grad.detach().norm(2) for p in params if p.grad is not None]), 2)
    if "clip_grad_norm" in tr:
        torch.nn.utils.clip_grad_norm_(params, tr["clip_grad_norm"])
    opt.step()
    after = [(n, p.detach().clone()) for n, p in m32.state_dict().items()]
    return float(loss64.item()), grads, after, float(norm)


def check_hand_cells_against_nn(seed=7):
    """Self-tests of the hand-written cells: without variants they reproduce
    nn.GRU / nn.LSTM / nn.RNN (packed, bidirectional, 2 layers); with ONNX's
    variants their autograd gradients pass torch.autograd.gradcheck (central
    differences in float64), so the fixtures' gradients are checked twice."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 6, 4, generator=g, dtype=torch.float64)
    lengths = torch.tensor([3, 6, 1, 5])
    worst = 0.0
    for make in (lambda: nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True),
                 lambda: nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True),
                 lambda: nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True, proj_size=3),
                 lambda: nn.RNN(4, 5, num_layers=2, bidirectional=True, batch_first=True, nonlinearity="relu")):
        m = make().double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) - 0.5)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = m(packed)
        if isinstance(h, tuple):
            h = h[0]
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=6)
        out2, h2 = cell_by_hand(m, x, lengths)
        err = max((out - out2).abs().max().item(), (h - h2).abs().max().item())
        assert err < 1e-12, f"hand-written {type(m).__name__} differs from PyTorch's by {err}"
        worst = max(worst, err)
        # reverse-only: the reverse half of the bidirectional module's first layer
        kind = cell_kind(m)
        if getattr(m, "proj_size", 0):
            continue
        r = ReverseOnly(kind, 4, 5, nonlinearity=getattr(m, "nonlinearity", "tanh")).double()
        with torch.no_grad():
            for name, p in r.named_parameters():
                p.copy_(getattr(m, name))
        one = type(m)(4, 5, bidirectional=True, batch_first=True, **(
            {"nonlinearity": m.nonlinearity} if kind == "rnn" else {})).double()
        with torch.no_grad():
            for name, p in one.named_parameters():
                p.copy_(getattr(m, name))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out1, _ = one(packed)
        out1, _ = pad_packed_sequence(out1, batch_first=True, total_length=6)
        out3, _ = cell_by_hand(r, x, lengths, variant={"reverse": True})
        err = (out1[..., 5:] - out3).abs().max().item()
        assert err < 1e-12, f"hand-written reverse-only {kind} differs from PyTorch's reverse direction by {err}"
    H = 3
    xs = torch.randn(2, 4, generator=g, dtype=torch.float64)
    for kind, variant in (("lstm", dict(peepholes=True, clip=0.6, input_forget=True)),
                          ("lstm", dict(peepholes=True)), ("gru", dict(clip=0.5)), ("rnn", dict(clip=0.4))):
        G = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
        w_ih = torch.rand(G * H, 4, generator=g, dtype=torch.float64, requires_grad=True)
        w_hh = torch.rand(G * H, H, generator=g, dtype=torch.float64, requires_grad=True)
        peep = torch.rand(3 * H, generator=g, dtype=torch.float64, requires_grad=True)

        def run(w_ih, w_hh, peep):
            h = c = xs.new_zeros(H)
            for t in range(xs.shape[0]):
                if kind == "lstm":
                    h, c = lstm_cell(xs[t], h, c, w_ih, w_hh, None, None, peep if variant.get("peepholes") else None,
                                     variant.get("clip"), variant.get("input_forget"))
                elif kind == "gru":
                    h = gru_cell(xs[t], h, w_ih, w_hh, None, None, False, variant.get("clip"))
                else:
                    h = rnn_cell(xs[t], h, w_ih, w_hh, None, None, False, variant.get("clip"))
            return h.sum() + c.sum() if kind == "lstm" else h.sum()

        assert torch.autograd.gradcheck(run, (w_ih, w_hh, peep)), (kind, variant)
    return worst


# ----------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------

def L(kind, **kw):
    return dict(kind=kind, **kw)


ADAM = dict(optimizer="adam", learning_rate=0.01, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.0,
            epochs=30, batch_size=64, seed=42)
SGD = dict(optimizer="sgd", learning_rate=0.1, momentum=0.0, weight_decay=0.0, epochs=30, batch_size=64, seed=42)

# Each case: input spec, layers, N/T, explicit lengths (unsorted), options.
#   junk: for tokens "valid" (ids in 0..vocab-1) or "oob" (-7, vocab+3, ...); for features the junk value
#   in_dtype / len_dtype / fortran: storage of inputs.npy / lengths.npy
#   loss / train: training cases; clip="bind" picks a clip value below the gradient norm
CASES = [
    # ------------------------------------------------------------------ forward
    dict(name="fwd_rnn_tanh_last", what="rnn tanh, features, readout last, linear",
         input=dict(kind="features", size=5),
         layers=[L("rnn", hidden=8), L("readout", mode="last"), L("linear", out=3)],
         T=7, lengths=[4, 7, 1, 6, 3], junk=1e3),
    dict(name="fwd_rnn_relu_all", what="rnn relu, features, readout all, no head (ends at readout); max length < T",
         input=dict(kind="features", size=4),
         layers=[L("rnn", hidden=6, nonlinearity="relu"), L("readout", mode="all")],
         T=8, lengths=[5, 2, 6, 3], junk=-1e3),
    dict(name="fwd_rnn_nobias_all", what="the notebook model: features 3 -> rnn 4 bias=false -> readout all -> linear 2",
         input=dict(kind="features", size=3),
         layers=[L("rnn", hidden=4, bias=False), L("readout", mode="all"), L("linear", out=2)],
         T=6, lengths=[6, 3, 5, 1, 6, 2], junk=1e3),
    dict(name="fwd_lstm_tokens_last", what="tokens+embedding, lstm 1 layer, readout last, linear; out-of-range junk ids",
         input=dict(kind="tokens", vocab=20),
         layers=[L("embedding", dim=8), L("lstm", hidden=10), L("readout", mode="last"), L("linear", out=3)],
         T=7, lengths=[3, 7, 5, 1, 6], junk="oob"),
    dict(name="fwd_lstm_2layer_dropout_last",
         what="lstm 2 layers with inner dropout 0.3 (identity in eval), dropout entry after readout, linear",
         input=dict(kind="features", size=6),
         layers=[L("lstm", hidden=7, num_layers=2, dropout=0.3), L("readout", mode="last"), L("dropout", p=0.3),
                 L("linear", out=2)],
         T=6, lengths=[2, 6, 4, 5], junk=1e3),
    dict(name="fwd_lstm_bidir_2layer_mean", what="lstm bidirectional 2 layers, readout mean, linear",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=6, num_layers=2, bidirectional=True), L("readout", mode="mean"),
                 L("linear", out=4)],
         T=7, lengths=[5, 1, 7, 3, 6], junk=1e3),
    dict(name="fwd_gru_lbr_last", what="tokens, gru linear_before_reset=true, readout last, linear; valid junk ids",
         input=dict(kind="tokens", vocab=16),
         layers=[L("embedding", dim=6), L("gru", hidden=8), L("readout", mode="last"), L("linear", out=3)],
         T=6, lengths=[6, 2, 4, 1, 5], junk="valid"),
    dict(name="fwd_gru_lbr_bidir_all", what="gru lbr bidirectional, readout all, linear per step; max length < T",
         input=dict(kind="features", size=5),
         layers=[L("gru", hidden=5, bidirectional=True, linear_before_reset=True), L("readout", mode="all"),
                 L("linear", out=3)],
         T=7, lengths=[3, 5, 1, 6, 4], junk=1e3),
    dict(name="fwd_gru_nonlbr_last", what="gru linear_before_reset=false (hand-written cell), readout last, linear",
         input=dict(kind="features", size=4),
         layers=[L("gru", hidden=7, linear_before_reset=False), L("readout", mode="last"), L("linear", out=2)],
         T=7, lengths=[7, 3, 5, 1, 4], junk=1e3),
    dict(name="fwd_gru_nonlbr_bidir_2layer_mean",
         what="tokens, gru non-lbr bidirectional 2 layers, readout mean, linear; valid junk ids",
         input=dict(kind="tokens", vocab=12),
         layers=[L("embedding", dim=5), L("gru", hidden=6, num_layers=2, bidirectional=True,
                                          linear_before_reset=False),
                 L("readout", mode="mean"), L("linear", out=3)],
         T=6, lengths=[4, 6, 2, 5, 1], junk="valid"),
    dict(name="fwd_stack_gru_dropout_lstm_last",
         what="stack: gru -> dropout entry -> lstm bidirectional without bias -> readout last -> dropout -> linear",
         input=dict(kind="features", size=5),
         layers=[L("gru", hidden=6), L("dropout", p=0.2), L("lstm", hidden=5, bidirectional=True, bias=False),
                 L("readout", mode="last"), L("dropout", p=0.5), L("linear", out=3)],
         T=6, lengths=[5, 6, 2, 3], junk=1e3),
    dict(name="fwd_stack_rnn_gru_nonlbr_all",
         what="stack: rnn relu bidirectional -> gru non-lbr -> readout all -> linear -> linear",
         input=dict(kind="features", size=3),
         layers=[L("rnn", hidden=5, bidirectional=True, nonlinearity="relu"),
                 L("gru", hidden=4, linear_before_reset=False), L("readout", mode="all"),
                 L("linear", out=6), L("linear", out=2)],
         T=5, lengths=[2, 4, 1, 3], junk=1e3),
    dict(name="fwd_mean_linear_nobias", what="lstm, readout mean, linear bias=false",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=6), L("readout", mode="mean"), L("linear", out=3, bias=False)],
         T=6, lengths=[3, 6, 1, 4, 5], junk=1e3),
    dict(name="fwd_end_readout_last",
         what="gru lbr bidirectional without bias, model ends at readout last (output = [h_fwd, h_rev])",
         input=dict(kind="features", size=3),
         layers=[L("gru", hidden=5, bidirectional=True, bias=False), L("readout", mode="last")],
         T=6, lengths=[4, 1, 6, 3], junk=1e3),
    dict(name="fwd_end_readout_mean", what="tokens, rnn tanh 2 layers, model ends at readout mean; oob junk ids",
         input=dict(kind="tokens", vocab=10),
         layers=[L("embedding", dim=4), L("rnn", hidden=6, num_layers=2), L("readout", mode="mean")],
         T=7, lengths=[2, 5, 7, 1], junk="oob", len_dtype="int32"),
    dict(name="fwd_features_f64", what="float64 features (inputs.npy is <f8), lstm, readout last, linear",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=5), L("readout", mode="last"), L("linear", out=2)],
         T=6, lengths=[6, 2, 4, 5], junk=1e3, in_dtype="float64"),
    dict(name="fwd_fortran_int32_tokens",
         what="Fortran-ordered int32 tokens, int32 lengths, gru lbr, readout all, linear; oob junk ids",
         input=dict(kind="tokens", vocab=14),
         layers=[L("embedding", dim=5), L("gru", hidden=6), L("readout", mode="all"), L("linear", out=3)],
         T=6, lengths=[3, 6, 1, 5, 2], junk="oob", in_dtype="int32", len_dtype="int32", fortran=True),
    dict(name="fwd_fortran_features",
         what="Fortran-ordered float32 features [N,T,I], int32 lengths, rnn tanh bidirectional, readout mean, linear",
         input=dict(kind="features", size=4),
         layers=[L("rnn", hidden=5, bidirectional=True), L("readout", mode="mean"), L("linear", out=2)],
         T=5, lengths=[5, 2, 3, 1], junk=1e3, len_dtype="int32", fortran=True),
    # ------------------------------------------------------------------ training
    dict(name="train_lstm_tokens_last_ce_adam_clip",
         what="tokens, lstm, last, linear; cross_entropy; adam with a binding clip_grad_norm",
         input=dict(kind="tokens", vocab=20),
         layers=[L("embedding", dim=8), L("lstm", hidden=10), L("readout", mode="last"), L("linear", out=4)],
         T=7, lengths=[5, 7, 2, 4, 1, 6], junk="valid",
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01), clip="bind"),
    dict(name="train_gru_lbr_bidir_mean_ce_adam_wd",
         what="gru lbr bidirectional, mean, linear; cross_entropy; adam with weight_decay",
         input=dict(kind="features", size=5),
         layers=[L("gru", hidden=6, bidirectional=True), L("readout", mode="mean"), L("linear", out=3)],
         T=6, lengths=[3, 6, 1, 4, 5], junk=1e3,
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.005, weight_decay=0.01)),
    dict(name="train_gru_nonlbr_last_mse_sgd_momentum",
         what="gru non-lbr 2 layers (hand-written cell), last, linear; mse; sgd momentum 0.9",
         input=dict(kind="features", size=4),
         layers=[L("gru", hidden=7, num_layers=2, linear_before_reset=False), L("readout", mode="last"),
                 L("linear", out=2)],
         T=6, lengths=[6, 2, 5, 3], junk=1e3,
         loss="mse", train=dict(SGD, learning_rate=0.1, momentum=0.9)),
    dict(name="train_rnn_relu_all_ce_sgd",
         what="rnn relu, readout all, linear; cross_entropy over valid steps (labels [N,T]); sgd with weight_decay",
         input=dict(kind="features", size=3),
         layers=[L("rnn", hidden=6, nonlinearity="relu"), L("readout", mode="all"), L("linear", out=3)],
         T=7, lengths=[4, 6, 1, 3, 5], junk=1e3,
         loss="cross_entropy", train=dict(SGD, learning_rate=0.05, weight_decay=0.001)),
    dict(name="train_rnn_tanh_bidir2_all_mse_adam",
         what="rnn tanh bidirectional 2 layers, readout all, linear; mse over valid steps; adam, no clip",
         input=dict(kind="features", size=4),
         layers=[L("rnn", hidden=5, num_layers=2, bidirectional=True), L("readout", mode="all"),
                 L("linear", out=2)],
         T=6, lengths=[2, 5, 6, 3], junk=1e3,
         loss="mse", train=dict(ADAM, learning_rate=0.01)),
    dict(name="train_lstm2_mean_dropout0_adam",
         what="lstm 2 layers, features, mean, dropout(p=0), linear; cross_entropy; adam",
         input=dict(kind="features", size=6),
         layers=[L("lstm", hidden=8, num_layers=2), L("readout", mode="mean"), L("dropout", p=0.0),
                 L("linear", out=3)],
         T=6, lengths=[4, 6, 1, 5, 3], junk=1e3,
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.003, betas=[0.8, 0.99], eps=1e-6)),
    dict(name="train_end_readout_lstm_bidir_last_mse_sgd",
         what="lstm bidirectional, model ends at readout last; mse against [N, 2*hidden]; plain sgd",
         input=dict(kind="features", size=3),
         layers=[L("lstm", hidden=4, bidirectional=True), L("readout", mode="last")],
         T=5, lengths=[3, 5, 2, 4], junk=1e3,
         loss="mse", train=dict(SGD, learning_rate=0.5)),
    dict(name="train_stack_gru_lstm_ce_adam",
         what="tokens, stack gru -> lstm, last, linear; cross_entropy; adam with a non-binding clip; oob junk ids",
         input=dict(kind="tokens", vocab=12),
         layers=[L("embedding", dim=5), L("gru", hidden=6), L("lstm", hidden=5), L("readout", mode="last"),
                 L("linear", out=3)],
         T=6, lengths=[6, 3, 1, 4, 5], junk="oob",
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01, clip_grad_norm=100.0)),
    dict(name="train_gru_nonlbr_bidir_all_ce_adam",
         what="tokens, gru non-lbr bidirectional, readout all, linear; cross_entropy over valid steps; adam",
         input=dict(kind="tokens", vocab=10),
         layers=[L("embedding", dim=4), L("gru", hidden=5, bidirectional=True, linear_before_reset=False),
                 L("readout", mode="all"), L("linear", out=3)],
         T=5, lengths=[3, 5, 1, 4], junk="valid",
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01)),
]


# ONNX's cell variants (hand-written cells; gradients by autograd, gradchecked).
CASES += [
    dict(name="fwd_lstm_peepholes_bidir_all", what="lstm with ONNX peepholes, bidirectional, readout all, linear",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=5, bidirectional=True, peepholes=True), L("readout", mode="all"),
                 L("linear", out=3)],
         T=6, lengths=[4, 2, 5, 1], junk=1e3),
    dict(name="fwd_lstm_cifg_clip_2layer_last",
         what="lstm 2 layers with coupled input-forget gates and clip 0.5, readout last, linear",
         input=dict(kind="features", size=3),
         layers=[L("lstm", hidden=6, num_layers=2, input_forget=True, clip=0.5), L("readout", mode="last"),
                 L("linear", out=2)],
         T=7, lengths=[7, 3, 5, 1], junk=1e3),
    dict(name="fwd_gru_clip_onnx_bidir_mean", what="tokens, gru ONNX form with clip 0.4, bidirectional, readout mean",
         input=dict(kind="tokens", vocab=11),
         layers=[L("embedding", dim=4), L("gru", hidden=5, bidirectional=True, linear_before_reset=False, clip=0.4),
                 L("readout", mode="mean"), L("linear", out=2)],
         T=6, lengths=[6, 2, 4, 5], junk="valid"),
    dict(name="fwd_rnn_relu_clip_all", what="rnn relu with clip 0.3, readout all, no head",
         input=dict(kind="features", size=3),
         layers=[L("rnn", hidden=4, nonlinearity="relu", clip=0.3), L("readout", mode="all")],
         T=5, lengths=[5, 3, 4], junk=-1e3),
    dict(name="train_lstm_all_variants_ce_adam",
         what="lstm with peepholes, coupled gates and clip 0.6, bidirectional, readout last; adam",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=5, bidirectional=True, peepholes=True, input_forget=True, clip=0.6),
                 L("readout", mode="last"), L("linear", out=3)],
         T=6, lengths=[6, 3, 5, 2], junk=1e3,
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01)),
    dict(name="train_lstm_peepholes_2layer_mean_mse_sgd",
         what="lstm with peepholes, 2 layers, readout mean; mse; sgd",
         input=dict(kind="features", size=3),
         layers=[L("lstm", hidden=4, num_layers=2, peepholes=True), L("readout", mode="mean"),
                 L("linear", out=2)],
         T=5, lengths=[5, 2, 4], junk=1e3,
         loss="mse", train=dict(SGD)),
    dict(name="train_gru_clip_lbr_all_ce_adam", what="gru (PyTorch form) with clip 0.5, readout all; adam",
         input=dict(kind="features", size=3),
         layers=[L("gru", hidden=5, clip=0.5), L("readout", mode="all"), L("linear", out=3)],
         T=5, lengths=[5, 2, 4, 3], junk=1e3,
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01)),
    dict(name="train_gru_onnx_rnn_clip_stack_mse_adam",
         what="gru ONNX form with clip 0.4 -> rnn tanh with clip 0.5, readout last; mse; adam",
         input=dict(kind="features", size=3),
         layers=[L("gru", hidden=4, linear_before_reset=False, clip=0.4), L("rnn", hidden=5, clip=0.5),
                 L("readout", mode="last"), L("linear", out=2)],
         T=6, lengths=[6, 4, 1, 5], junk=1e3,
         loss="mse", train=dict(ADAM, learning_rate=0.01)),
]


# Reverse-only layers (ONNX direction = "reverse"; hand-written cells).
CASES += [
    dict(name="fwd_lstm_reverse_last", what="lstm, reverse direction only, readout last, linear",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=5, reverse=True), L("readout", mode="last"), L("linear", out=3)],
         T=6, lengths=[6, 2, 4, 1, 5], junk=1e3),
    dict(name="fwd_gru_reverse_2layer_all", what="tokens, gru reverse-only 2 layers, readout all; max length < T",
         input=dict(kind="tokens", vocab=9),
         layers=[L("embedding", dim=3), L("gru", hidden=4, num_layers=2, reverse=True), L("readout", mode="all"),
                 L("linear", out=2)],
         T=7, lengths=[5, 3, 6, 2], junk="oob"),
    dict(name="train_rnn_reverse_then_lstm_mean_ce_adam",
         what="rnn tanh reverse-only -> lstm forward, readout mean; cross_entropy; adam",
         input=dict(kind="features", size=3),
         layers=[L("rnn", hidden=4, reverse=True), L("lstm", hidden=3), L("readout", mode="mean"),
                 L("linear", out=2)],
         T=5, lengths=[5, 3, 1, 4], junk=1e3,
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01)),
    dict(name="train_lstm_reverse_variants_last_mse_adam",
         what="lstm reverse-only with peepholes and clip 0.7, 2 layers, readout last; mse; adam",
         input=dict(kind="features", size=3),
         layers=[L("lstm", hidden=4, num_layers=2, reverse=True, peepholes=True, clip=0.7),
                 L("readout", mode="last"), L("linear", out=2)],
         T=6, lengths=[6, 4, 2], junk=1e3,
         loss="mse", train=dict(ADAM, learning_rate=0.01)),
    dict(name="train_gru_reverse_all_ce_sgd", what="gru reverse-only, readout all; cross_entropy over steps; sgd",
         input=dict(kind="features", size=3),
         layers=[L("gru", hidden=4, reverse=True), L("readout", mode="all"), L("linear", out=3)],
         T=5, lengths=[5, 2, 4], junk=1e3,
         loss="cross_entropy", train=dict(SGD)),
]


# LSTM projections (PyTorch's proj_size): nn.LSTM itself is the reference,
# except where combined with ONNX's variants (hand-written cells).
CASES += [
    dict(name="fwd_lstm_proj_bidir_2layer_last", what="lstm with proj_size 3, bidirectional, 2 layers, readout last",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=6, num_layers=2, bidirectional=True, proj_size=3), L("readout", mode="last"),
                 L("linear", out=2)],
         T=6, lengths=[6, 2, 5, 3], junk=1e3),
    dict(name="fwd_lstm_proj_tokens_all", what="tokens, lstm with proj_size 4, readout all; max length < T",
         input=dict(kind="tokens", vocab=13),
         layers=[L("embedding", dim=5), L("lstm", hidden=7, proj_size=4), L("readout", mode="all"),
                 L("linear", out=3)],
         T=7, lengths=[4, 6, 2], junk="oob"),
    dict(name="train_lstm_proj_bidir_mean_ce_adam",
         what="lstm with proj_size 2, bidirectional 2 layers, readout mean; cross_entropy; adam",
         input=dict(kind="features", size=3),
         layers=[L("lstm", hidden=5, num_layers=2, bidirectional=True, proj_size=2), L("readout", mode="mean"),
                 L("linear", out=3)],
         T=5, lengths=[5, 3, 4, 1], junk=1e3,
         loss="cross_entropy", train=dict(ADAM, learning_rate=0.01)),
    dict(name="train_lstm_proj_reverse_peepholes_clip_last_mse_sgd",
         what="lstm reverse-only with proj_size 3, peepholes and clip 0.6, readout last; mse; sgd",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=5, reverse=True, proj_size=3, peepholes=True, clip=0.6), L("readout", mode="last"),
                 L("linear", out=2)],
         T=6, lengths=[6, 4, 2], junk=1e3,
         loss="mse", train=dict(SGD)),
]


# The shipped models (models/*.toml) themselves, forward only: their files are
# copied verbatim, so the e2e tests compile exactly what users get.
MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models")
for _path in sorted(glob.glob(os.path.join(MODELS, "*.toml"))):
    with open(_path, "rb") as _f:
        _spec = tomllib.load(_f)
    _tokens = _spec["input"]["kind"] == "tokens"
    CASES.append(dict(name="fwd_model_" + os.path.splitext(os.path.basename(_path))[0],
                      what="the shipped model " + os.path.relpath(_path, os.path.dirname(MODELS)),
                      model_file=_path, input=_spec["input"], T=9, lengths=[9, 4, 1, 7, 6],
                      junk="oob" if _tokens else 1e3))


def case_seed(name):
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % 100003


def make_spec(case, clip=None):
    if "model_file" in case:
        with open(case["model_file"], "rb") as f:
            return tomllib.load(f)
    spec = {"name": "fx_" + case["name"], "input": dict(case["input"]), "layers": [dict(l) for l in case["layers"]]}
    if "loss" in case:
        spec["loss"] = {"kind": case["loss"]}
        tr = dict(case["train"])
        if clip is not None:
            tr["clip_grad_norm"] = clip
        # canonical key order
        order = ["optimizer", "learning_rate", "betas", "eps", "weight_decay", "momentum", "clip_grad_norm",
                 "epochs", "batch_size", "seed"]
        spec["train"] = {k: tr[k] for k in order if k in tr}
    else:
        spec["loss"] = {"kind": "none"}
    return spec


def init_weights(spec, seed):
    torch.manual_seed(seed)
    model = RefModel(spec)
    with torch.no_grad():
        for m in model.layers:
            if isinstance(m, (nn.RNN, nn.LSTM, nn.GRU, ReverseOnly)):
                for pname, p in m.named_parameters():
                    p.uniform_(-0.5, 0.5)
                    # relu RNNs: positive biases, so that most units are not dead
                    if cell_kind(m) == "rnn" and m.nonlinearity == "relu" and pname.startswith("bias"):
                        p.uniform_(0.0, 0.5)
    return [(n, t.detach().numpy().astype(np.float32)) for n, t in model.state_dict().items()]


def make_inputs(case, rng):
    N, T = len(case["lengths"]), case["T"]
    lengths = np.array(case["lengths"], dtype=case.get("len_dtype", "int64"))
    valid = np.arange(T)[None, :] < lengths[:, None].astype(np.int64)
    inp = case["input"]
    if inp["kind"] == "tokens":
        V = inp["vocab"]
        x = rng.integers(0, V, size=(N, T)).astype(np.int64)
        if case["junk"] == "oob":
            junk_vals = np.array([-7, V + 3, -1, V, 1 << 20], dtype=np.int64)
            junk = junk_vals[np.arange(N * T).reshape(N, T) % len(junk_vals)]
        else:
            junk = rng.integers(0, V, size=(N, T))
        x = np.where(valid, x, junk).astype(case.get("in_dtype", "int64"))
    else:
        x = rng.standard_normal((N, T, inp["size"]))
        x = np.where(valid[:, :, None], x, case["junk"]).astype(case.get("in_dtype", "float32"))
    if case.get("fortran"):
        x = np.asfortranarray(x)
    return x, lengths, valid


def make_labels(case, spec, rng, out_width, valid):
    N, T = valid.shape
    mode = [l for l in spec["layers"] if l["kind"] == "readout"][0]["mode"]
    if case["loss"] == "cross_entropy":
        if mode == "all":
            y = rng.integers(0, out_width, size=(N, T))
            junk = np.where(np.arange(N * T).reshape(N, T) % 2 == 0, -1, 99)
            return np.where(valid, y, junk).astype(np.int64)
        return rng.integers(0, out_width, size=(N,)).astype(np.int64)
    if mode == "all":
        y = rng.standard_normal((N, T, out_width))
        return np.where(valid[:, :, None], y, 1e3).astype(np.float32)
    return rng.standard_normal((N, out_width)).astype(np.float32)


def save_npy(path, a):
    np.save(path, a, allow_pickle=False)


def make_case(case):
    name = case["name"]
    d = os.path.join(FIXTURES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    seed = case_seed(name)
    spec = make_spec(case)
    weights = init_weights(spec, seed)
    rng = np.random.default_rng(seed)
    x, lengths, valid = make_inputs(case, rng)
    exp, exp2 = reference_forward(spec, weights, x, lengths)
    err = np.abs(exp - exp2).max()
    assert err < 1e-10, f"{name}: packed and one-by-one forward differ by {err}"
    info = {"out_shape": list(exp.shape)}
    if "loss" in case:
        out_width = RefModel(spec).out_width
        y = make_labels(case, spec, rng, out_width, valid)
        clip = None
        if case.get("clip") == "bind":
            _, _, _, norm = reference_train(spec, weights, x, lengths, y)
            clip = float(f"{0.4 * norm:.3g}")
            spec = make_spec(case, clip)
        loss, grads, after, norm = reference_train(spec, weights, x, lengths, y)
        if clip is not None:
            assert norm > clip, (name, norm, clip)
        save_npy(os.path.join(d, "labels.npy"), y)
        save_npy(os.path.join(d, "loss.npy"), np.array([loss], dtype=np.float64))
        write_safetensors(os.path.join(d, "grads.safetensors"), grads)
        write_safetensors(os.path.join(d, "after_step.safetensors"), after)
        info.update(loss=loss, grad_norm=norm)
    if "model_file" in case:
        shutil.copyfile(case["model_file"], os.path.join(d, "model.toml"))
    else:
        with open(os.path.join(d, "model.toml"), "w") as f:
            f.write(to_toml(spec, comment=f"rnnc reference fixture {name} (generated by tests/make_fixtures.py)\n"
                                          f"{case['what']}"))
    # the written TOML must parse back to the same spec
    with open(os.path.join(d, "model.toml"), "rb") as f:
        assert tomllib.load(f) == spec, name
    write_safetensors(os.path.join(d, "weights.safetensors"), weights)
    save_npy(os.path.join(d, "inputs.npy"), x)
    save_npy(os.path.join(d, "lengths.npy"), lengths)
    save_npy(os.path.join(d, "expected.npy"), exp.astype(np.float32))
    return info


def main():
    check_hand_cells_against_nn()
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names)
    os.makedirs(FIXTURES, exist_ok=True)
    # remove stale case directories (only directories that look like fixture cases)
    for entry in os.listdir(FIXTURES):
        p = os.path.join(FIXTURES, entry)
        # (state_* and export_* cases belong to make_state_fixtures.py and make_export_fixtures.py)
        if (os.path.isdir(p) and entry not in names and not entry.startswith(("state_", "export_"))
                and os.path.exists(os.path.join(p, "model.toml"))):
            shutil.rmtree(p)
    for c in CASES:
        info = make_case(c)
        extra = ""
        if "loss" in info:
            extra = f" loss={info['loss']:.6f} grad_norm={info['grad_norm']:.4f}"
        print(f"{c['name']}: out {info['out_shape']}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
