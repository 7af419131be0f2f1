#!/usr/bin/python3
"""Write the PyTorch reference fixtures for recurrent states and per-step
gradients under tests/fixtures/state_<case>/.

Deterministic; run with
    /usr/bin/python3 tests/make_state_fixtures.py
It reuses the reference model and file writers of make_fixtures.py and adds
a second, step-by-step reference: every recurrent sub-layer and direction
run as an nn.RNNCell / nn.LSTMCell / nn.GRUCell loop (the ONNX-form GRU by
hand), one sequence at a time over its own steps, with retain_grad() on
every h_t. See tests/fixtures/README.md for the files of a case.
"""

import json
import os
import shutil
import tomllib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import make_fixtures as mf

torch.set_num_threads(1)


def make_cell(module, kind, sfx, lbr, nonlinearity):
    """An nn.*Cell sharing the parameters of sub-layer `sfx` of `module`, or a
    callable for the ONNX-form GRU."""
    I = getattr(module, "weight_ih" + sfx).shape[1]
    H = module.hidden_size
    bias = module.bias
    if kind == "lstm" and getattr(module, "proj_size", 0):  # nn.LSTMCell has no projection
        w_ih, w_hh, w_hr = (getattr(module, n + sfx) for n in ("weight_ih", "weight_hh", "weight_hr"))
        b_ih = getattr(module, "bias_ih" + sfx) if bias else None
        b_hh = getattr(module, "bias_hh" + sfx) if bias else None
        return lambda x, hc: mf.lstm_cell(x, hc[0], hc[1], w_ih, w_hh, b_ih, b_hh, None, None, False, w_hr)
    if kind == "gru" and not lbr:
        w_ih, w_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)
        b_ih = getattr(module, "bias_ih" + sfx) if bias else None
        b_hh = getattr(module, "bias_hh" + sfx) if bias else None
        return lambda x, h: mf.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh, lbr=False)
    cell = {"rnn": lambda: nn.RNNCell(I, H, bias=bias, nonlinearity=nonlinearity),
            "lstm": lambda: nn.LSTMCell(I, H, bias=bias),
            "gru": lambda: nn.GRUCell(I, H, bias=bias)}[kind]().double()
    for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if bias else ()):
        setattr(cell, name, getattr(module, name + sfx))
    return cell


def stepwise(model, spec, x, lengths, h0=None, c0=None):
    """The model's forward with every recurrent sub-layer as a cell loop.

    h0 / c0: {layer index: tensor [layers*dirs, N, H]} or None (zeros).
    Returns (output, states) where states is a list, in PyTorch h_n order
    over the entries in model order, of dicts with layer, sublayer,
    direction, the per-sequence lists of h_t (and c_t) by input position,
    and the final h (and c) per sequence."""
    lengths = [int(v) for v in lengths]
    N, T = x.shape[0], x.shape[1]
    valid = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    if model.tokens:
        x = torch.where(valid, torch.as_tensor(x).to(torch.int64), torch.zeros((), dtype=torch.int64))
    else:
        x = torch.as_tensor(x).to(torch.float64)
    seqs = [None] * N  # per sequence: [L, width] current values
    states, mode, last = [], None, None
    out_all = None
    for i, (m, l) in enumerate(zip(model.layers, spec["layers"])):
        if isinstance(m, nn.Embedding):
            seqs = [m(x[n, :lengths[n]]) for n in range(N)]
        elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
            if seqs[0] is None:
                seqs = [x[n, :lengths[n]] for n in range(N)]
            kind = l["kind"]
            dirs = 2 if m.bidirectional else 1
            H = m.hidden_size
            S = getattr(m, "proj_size", 0) or H  # width of h
            lbr = l.get("linear_before_reset", True)
            finals = [[] for _ in range(N)]
            for k in range(m.num_layers):
                outs = [[] for _ in range(N)]
                for d in range(dirs):
                    sfx = f"_l{k}" + ("_reverse" if d else "")
                    cell = make_cell(m, kind, sfx, lbr, l.get("nonlinearity", "tanh"))
                    st = {"layer": i, "sublayer": k, "direction": "reverse" if d else "forward", "hidden": S,
                          "h": [], "c": [] if kind == "lstm" else None, "h_last": [], "c_last": []}
                    for n in range(N):
                        L = lengths[n]
                        row = k * dirs + d
                        h = h0[i][row, n] if h0 is not None else torch.zeros(S, dtype=torch.float64)
                        c = None
                        if kind == "lstm":
                            c = c0[i][row, n] if c0 is not None else torch.zeros(H, dtype=torch.float64)
                        hs, cs = [None] * L, [None] * L
                        for t in (range(L - 1, -1, -1) if d else range(L)):
                            xt = seqs[n][t]
                            if kind == "lstm":
                                h, c = cell(xt[None], (h[None], c[None]))
                                h, c = h[0], c[0]
                                cs[t] = c
                            elif kind == "gru" and not lbr:
                                h = cell(xt, h)
                            else:
                                h = cell(xt[None], h[None])[0]
                            if h.requires_grad:
                                h.retain_grad()
                            hs[t] = h
                        st["h"].append(hs)
                        if kind == "lstm":
                            st["c"].append(cs)
                        st["h_last"].append(h)
                        st["c_last"].append(c)
                        outs[n].append(torch.stack(hs))
                    states.append(st)
                seqs = [torch.cat(outs[n], -1) for n in range(N)]
                if k + 1 < m.num_layers and m.dropout > 0 and m.training:
                    raise ValueError("stepwise reference: inner dropout must be off")
            last = [torch.cat([st["h_last"][n] for st in states[-dirs:]], -1) for n in range(N)]
        elif isinstance(m, mf.Readout):
            mode = m.mode
            if mode == "last":
                cur = torch.stack(last)
            elif mode == "mean":
                cur = torch.stack([s.mean(0) for s in seqs])
            else:
                cur = torch.stack([F.pad(s, (0, 0, 0, T - s.shape[0])) for s in seqs])
            out_all = cur
        else:
            if isinstance(m, nn.Dropout) and m.p > 0 and m.training:
                raise ValueError("stepwise reference: dropout must be off")
            if mode is None:  # a dropout between recurrent entries
                seqs = [m(s) for s in seqs]
            else:
                out_all = m(out_all)
    if mode == "all":
        out_all = torch.where(valid[:, :, None], out_all, torch.zeros((), dtype=out_all.dtype))
    return out_all, states


def module_states(model, spec, x, lengths, h0, c0):
    """Final states from the nn.RNN / nn.LSTM / nn.GRU modules themselves,
    one sequence at a time cut to its length, with the given initial states
    (a check of stepwise; not for the ONNX-form GRU). {layer: (h_n, c_n)}."""
    res = {}
    N = x.shape[0]
    xs = None
    for i, (m, l) in enumerate(zip(model.layers, spec["layers"])):
        if isinstance(m, nn.Embedding):
            xs = [m(torch.as_tensor(x[n, :lengths[n]]).to(torch.int64))[None] for n in range(N)]
        elif isinstance(m, (nn.RNN, nn.LSTM, nn.GRU)):
            if xs is None:
                xs = [torch.as_tensor(x[n:n + 1, :lengths[n]]).to(torch.float64) for n in range(N)]
            if l["kind"] == "gru" and not l.get("linear_before_reset", True):
                return res  # nothing to compare from here on
            hn, cn, outs = [], [], []
            for n in range(N):
                hh = h0[i][:, n:n + 1].contiguous()
                if l["kind"] == "lstm":
                    o, (a, b) = m(xs[n], (hh, c0[i][:, n:n + 1].contiguous()))
                    cn.append(b)
                else:
                    o, a = m(xs[n], hh)
                hn.append(a)
                outs.append(o)
            res[i] = (torch.cat(hn, 1), torch.cat(cn, 1) if cn else None)
            xs = outs
    return res


def per_step_norms(states, T):
    out = []
    for st in states:
        sq = np.zeros(T)
        for n, hs in enumerate(st["h"]):
            for t, h in enumerate(hs):
                if h.grad is not None:
                    sq[t] += float((h.grad ** 2).sum())
        out.append({"layer": f"layers.{st['layer']}", "sublayer": st["sublayer"], "direction": st["direction"],
                    "norms": [float(v) for v in np.sqrt(sq)]})
    return out


def trace_stats(states, T):
    out = []
    for st in states:
        e = {"layer": f"layers.{st['layer']}", "sublayer": st["sublayer"], "direction": st["direction"]}
        for key in ("h", "c"):
            if st[key] is None:
                continue
            mean, std = [], []
            for t in range(T):
                vals = [seq[t].detach().numpy() for seq in st[key] if t < len(seq)]
                if not vals:
                    mean.append(None)
                    std.append(None)
                    continue
                v = np.concatenate(vals)
                mean.append(float(v.mean()))
                std.append(float(v.std()))  # population std
            e[key + "_mean"], e[key + "_std"] = mean, std
        out.append(e)
    return out


def save_states(path_base, blocks, one_array):
    """blocks: {layer: array [rows, N, H]} in model order. Returns the file name."""
    if one_array:
        name = path_base + ".npy"
        np.save(name, np.concatenate(list(blocks.values()), 0).astype(np.float32))
    else:
        name = path_base + ".npz"
        np.savez(name, **{f"layers.{i}": a.astype(np.float32) for i, a in blocks.items()})
    return os.path.basename(name)


def make_case(case):
    name = case["name"]
    d = os.path.join(mf.FIXTURES, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    seed = mf.case_seed(name)
    spec = mf.make_spec(case)
    weights = mf.init_weights(spec, seed)
    rng = np.random.default_rng(seed)
    x, lengths, valid = mf.make_inputs(case, rng)
    N, T = x.shape[0], x.shape[1]
    model = mf.RefModel(spec)
    mf.load_weights(model, weights)
    model.double().eval()
    y = mf.make_labels(case, spec, rng, model.out_width, valid)

    # Initial states: one block per recurrent entry, drawn in [-0.8, 0.8].
    rec = [(i, l) for i, l in enumerate(spec["layers"]) if l["kind"] in mf.RECURRENT]
    # h is proj_size wide where an LSTM projects; c is always hidden wide.
    one_array = len({l.get("proj_size") or l["hidden"] for _, l in rec}) == 1
    one_array_c = len({l["hidden"] for _, l in rec if l["kind"] == "lstm"}) == 1
    h0, c0 = {}, {}
    for i, l in rec:
        rows = l.get("num_layers", 1) * (2 if l.get("bidirectional", False) else 1)
        h0[i] = rng.uniform(-0.8, 0.8, size=(rows, N, l.get("proj_size") or l["hidden"])).astype(np.float32)
        if l["kind"] == "lstm":
            c0[i] = rng.uniform(-0.8, 0.8, size=(rows, N, l["hidden"])).astype(np.float32)
    th0 = {i: torch.from_numpy(a).double() for i, a in h0.items()}
    tc0 = {i: torch.from_numpy(a).double() for i, a in c0.items()}

    # With the initial states: outputs, h_n, c_n, every sub-layer's outputs.
    with torch.no_grad():
        out, states = stepwise(model, spec, x, lengths, th0, tc0)
        check = module_states(model, spec, x, lengths, th0, tc0)
    hn, cn = {}, {}
    for i, _ in rec:
        sts = [s for s in states if s["layer"] == i]
        hn[i] = torch.stack([torch.stack(s["h_last"]) for s in sts]).numpy()
        if i in c0:
            cn[i] = torch.stack([torch.stack(s["c_last"]) for s in sts]).numpy()
        if i in check:
            err = np.abs(check[i][0].numpy() - hn[i]).max()
            if check[i][1] is not None:
                err = max(err, np.abs(check[i][1].numpy() - cn[i]).max())
            assert err < 1e-12, f"{name}: cell loop and nn module final states differ by {err}"
    files = {"h0": save_states(os.path.join(d, "h0"), h0, one_array),
             "expected_hn": save_states(os.path.join(d, "expected_hn"), hn, one_array)}
    if c0:
        files["c0"] = save_states(os.path.join(d, "c0"), c0, one_array_c)
        files["expected_cn"] = save_states(os.path.join(d, "expected_cn"), cn, one_array_c)
    mf.save_npy(os.path.join(d, "expected_with_states.npy"), out.numpy().astype(np.float32))
    os.makedirs(os.path.join(d, "hidden"))
    for i, l in rec:
        for k in range(l.get("num_layers", 1)):
            sts = [s for s in states if s["layer"] == i and s["sublayer"] == k]
            W = sum(s["hidden"] for s in sts)
            a = np.zeros((N, T, W), dtype=np.float32)
            for n in range(N):
                a[n, :lengths[n]] = torch.cat([torch.stack(s["h"][n]) for s in sts], -1).numpy()
            mf.save_npy(os.path.join(d, "hidden", f"layers.{i}_l{k}.npy"), a)

    # Zero initial states: the plain output (checked against the packed
    # modules), the trace statistics, and the per-step gradient norms of the
    # training loss.
    out0, states0 = stepwise(model, spec, x, lengths)
    packed, _ = mf.reference_forward(spec, weights, x, lengths)
    err = np.abs(out0.detach().numpy() - packed).max()
    assert err < 1e-12, f"{name}: cell loop and packed modules differ by {err}"
    mf.save_npy(os.path.join(d, "expected_without_states.npy"), packed.astype(np.float32))
    loss = mf.compute_loss(spec, out0, torch.from_numpy(np.ascontiguousarray(y)), lengths)
    loss.backward()
    with open(os.path.join(d, "per_step.json"), "w") as f:
        json.dump({"loss": float(loss), "per_step": per_step_norms(states0, T)}, f, indent=1)
    with open(os.path.join(d, "trace.json"), "w") as f:
        json.dump({"trace": trace_stats(states0, T)}, f, indent=1)

    with open(os.path.join(d, "model.toml"), "w") as f:
        f.write(mf.to_toml(spec, comment=f"rnnc state fixture {name} (generated by tests/make_state_fixtures.py)\n"
                                         f"{case['what']}"))
    with open(os.path.join(d, "model.toml"), "rb") as f:
        assert tomllib.load(f) == spec, name
    mf.write_safetensors(os.path.join(d, "weights.safetensors"), weights)
    mf.save_npy(os.path.join(d, "inputs.npy"), x)
    mf.save_npy(os.path.join(d, "lengths.npy"), lengths)
    mf.save_npy(os.path.join(d, "labels.npy"), y)
    return files, float(loss)


L = mf.L
CE_ADAM, MSE_SGD = ("cross_entropy", mf.ADAM), ("mse", mf.SGD)

CASES = [
    dict(name="state_rnn_tanh_bidir2_last", what="rnn tanh bidirectional 2 layers, last, linear; cross_entropy",
         input=dict(kind="features", size=3),
         layers=[L("rnn", hidden=4, num_layers=2, bidirectional=True), L("readout", mode="last"), L("linear", out=3)],
         T=7, lengths=[5, 7, 2, 6, 1], junk=1e3, loss="cross_entropy", train=mf.ADAM),
    dict(name="state_rnn_relu_all", what="rnn relu, readout all, linear; mse over valid steps; max length < T",
         input=dict(kind="features", size=4),
         layers=[L("rnn", hidden=5, nonlinearity="relu"), L("readout", mode="all"), L("linear", out=2)],
         T=8, lengths=[3, 6, 1, 4], junk=1e3, loss="mse", train=mf.SGD),
    dict(name="state_lstm_bidir2_mean", what="lstm bidirectional 2 layers, mean, linear; cross_entropy",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=5, num_layers=2, bidirectional=True), L("readout", mode="mean"),
                 L("linear", out=3)],
         T=6, lengths=[4, 6, 1, 3, 5], junk=1e3, loss="cross_entropy", train=mf.ADAM),
    dict(name="state_lstm_tokens_last", what="tokens, lstm, last, linear; cross_entropy",
         input=dict(kind="tokens", vocab=11),
         layers=[L("embedding", dim=4), L("lstm", hidden=6), L("readout", mode="last"), L("linear", out=2)],
         T=7, lengths=[7, 2, 5, 3], junk="oob", loss="cross_entropy", train=mf.ADAM),
    dict(name="state_gru_lbr_bidir_all", what="gru (PyTorch form) bidirectional, all, linear; cross_entropy",
         input=dict(kind="features", size=3),
         layers=[L("gru", hidden=4, bidirectional=True), L("readout", mode="all"), L("linear", out=3)],
         T=6, lengths=[2, 6, 4, 1, 5], junk=1e3, loss="cross_entropy", train=mf.ADAM),
    dict(name="state_gru_onnx_2layer_last", what="gru (ONNX form) 2 layers, last, linear; mse",
         input=dict(kind="features", size=4),
         layers=[L("gru", hidden=5, num_layers=2, linear_before_reset=False), L("readout", mode="last"),
                 L("linear", out=2)],
         T=6, lengths=[6, 3, 5, 2], junk=1e3, loss="mse", train=mf.SGD),
    dict(name="state_lstm_proj_bidir2_last", what="lstm with proj_size 3 (h 3 wide, c 6 wide), bidirectional 2 "
                                                 "layers, last, linear; cross_entropy",
         input=dict(kind="features", size=4),
         layers=[L("lstm", hidden=6, num_layers=2, bidirectional=True, proj_size=3), L("readout", mode="last"),
                 L("linear", out=2)],
         T=6, lengths=[6, 2, 5, 3], junk=1e3, loss="cross_entropy", train=mf.ADAM),
    dict(name="state_mixed_lstm_gru_rnn", what="stack lstm 5 -> gru 3 bidirectional -> rnn 4 (hidden sizes differ: "
                                              ".npz states), last, linear; cross_entropy",
         input=dict(kind="features", size=3),
         layers=[L("lstm", hidden=5), L("gru", hidden=3, bidirectional=True), L("dropout", p=0.0),
                 L("rnn", hidden=4), L("readout", mode="last"), L("linear", out=2)],
         T=6, lengths=[5, 1, 6, 3], junk=1e3, loss="cross_entropy", train=mf.ADAM),
]


def main():
    names = [c["name"] for c in CASES]
    for entry in os.listdir(mf.FIXTURES):
        p = os.path.join(mf.FIXTURES, entry)
        if entry.startswith("state_") and os.path.isdir(p) and entry not in names:
            shutil.rmtree(p)
    for c in CASES:
        files, loss = make_case(c)
        print(f"{c['name']}: {', '.join(sorted(files.values()))} loss={loss:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
