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
  lengths.npy           (optional) sequence lengths [N]
  export.toml, export.safetensors   (models/ cases) the same module through rnnc_export
  case.json             what the case is

The onnx_attr_* cases are single LSTM / GRU / RNN nodes built with
onnx.helper, with the attributes PyTorch cannot export (reverse direction,
layout 1, clip, input_forget, peepholes P, Relu, sequence_lens, initial
states); their expected outputs come from onnx_reference() below, a float64
numpy transcription of the ONNX operator definitions (ONNX weight layout and
gate order, independent of rnnc's importer and of the PyTorch-order cells in
make_fixtures.py), itself checked against the ONNX project's node tests.
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
    # Other export styles and opsets: a time-first module (opset 9), zero
    # initial states built in forward (opset 11), fixed shapes without dynamic
    # axes (opset 17, the zero states an Expand of a constant).
    class TimeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 5, bidirectional=True)
            self.fc = nn.Linear(10, 2)

        def forward(self, x):  # [T, N, 3]
            _, h = self.gru(x)
            return self.fc(torch.cat([h[0], h[1]], 1))

    class ZeroStates(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 4, batch_first=True, nonlinearity="relu")
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            out, _ = self.rnn(x, torch.zeros(1, x.shape[0], 4))
            return self.fc(out[:, -1, :])

    class FixedShapes(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(2, 4, num_layers=3, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            _, h = self.gru(x)
            return self.fc(h[-1])

    torch.manual_seed(17)
    for name, module, x, opset, dyn, time_first, what in (
            ("onnx_time_first_gru_opset9", TimeFirst(), torch.randn(6, 3, 3), 9, {"x": {0: "T", 1: "N"}}, True,
             "time-first bidirectional GRU (batch_first=False), cat of the final states, Linear; opset 9"),
            ("onnx_zero_states_in_forward_opset11", ZeroStates(), torch.randn(3, 6, 3), 11,
             {"x": {0: "N", 1: "T"}}, False, "RNN relu from torch.zeros initial states, out[:, -1], Linear; opset 11"),
            ("onnx_fixed_shapes_opset17", FixedShapes(), torch.randn(3, 6, 2), 17, None, False,
             "3-layer GRU exported without dynamic axes (zero states by Expand), h_n[-1], Linear; opset 17")):
        module.eval()
        d = make_dir(name)
        with torch.no_grad():
            y = module(x)
        torch.onnx.export(module, (x,), os.path.join(d, "model.onnx"), input_names=["x"], output_names=["y"],
                          dynamic_axes=dyn, opset_version=opset)
        save(d, "inputs.npy", (x.transpose(0, 1) if time_first else x).numpy())
        save(d, "expected.npy", y.numpy())
        out.append((d, what))
    for d, what in out:
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump({"what": what}, f)
    return [d for d, _ in out]


# --- ONNX's recurrent operators in numpy (float64) --------------------------------------

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def onnx_reference(op, X, W, R, B=None, seq_lens=None, h0=None, c0=None, P=None, direction="forward",
                   layout=0, clip=None, input_forget=0, linear_before_reset=0, activations=None):
    """Y, Y_h, Y_c of one ONNX RNN / GRU / LSTM node, as the operator defines
    them (gates iofc for LSTM, zrh for GRU; Y zero past each sequence's
    length; a reverse direction starts at the sequence's own last step)."""
    X = X if layout == 0 else np.swapaxes(X, 0, 1)
    T, N, _ = X.shape
    D = W.shape[0]
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    H = R.shape[-1]
    lens = np.full(N, T) if seq_lens is None else np.asarray(seq_lens)
    if B is None:
        B = np.zeros((D, 2 * G * H))
    if h0 is not None and layout == 1:
        h0 = np.swapaxes(h0, 0, 1)
    if c0 is not None and layout == 1:
        c0 = np.swapaxes(c0, 0, 1)
    act = (lambda x: np.maximum(x, 0)) if activations and activations[0].lower() == "relu" else np.tanh
    clamp = (lambda x: np.clip(x, -clip, clip)) if clip else (lambda x: x)
    Y = np.zeros((T, D, N, H))
    Yh = np.zeros((D, N, H))
    Yc = np.zeros((D, N, H))
    dirs = ["reverse"] if direction == "reverse" else ["forward", "reverse"] if direction == "bidirectional" \
        else ["forward"]
    for d, way in enumerate(dirs):
        Wd, Rd, Wb, Rb = W[d], R[d], B[d, :G * H], B[d, G * H:]
        for n in range(N):
            h = np.zeros(H) if h0 is None else h0[d, n].astype(np.float64)
            c = np.zeros(H) if c0 is None else c0[d, n].astype(np.float64)
            L = int(lens[n])
            for t in (range(L - 1, -1, -1) if way == "reverse" else range(L)):
                x = X[t, n].astype(np.float64)
                if op == "RNN":
                    h = act(clamp(x @ Wd.T + h @ Rd.T + Wb + Rb))
                elif op == "GRU":
                    gx = x @ Wd.T + Wb
                    z = _sigmoid(clamp(gx[:H] + h @ Rd[:H].T + Rb[:H]))
                    r = _sigmoid(clamp(gx[H:2 * H] + h @ Rd[H:2 * H].T + Rb[H:2 * H]))
                    if linear_before_reset:
                        hh = np.tanh(clamp(gx[2 * H:] + r * (h @ Rd[2 * H:].T + Rb[2 * H:])))
                    else:
                        hh = np.tanh(clamp(gx[2 * H:] + (r * h) @ Rd[2 * H:].T + Rb[2 * H:]))
                    h = (1 - z) * hh + z * h
                else:
                    g = x @ Wd.T + h @ Rd.T + Wb + Rb
                    p = np.zeros(3 * H) if P is None else P[d]
                    i = _sigmoid(clamp(g[:H] + p[:H] * c))
                    f = 1 - i if input_forget else _sigmoid(clamp(g[2 * H:3 * H] + p[2 * H:] * c))
                    cc = np.tanh(clamp(g[3 * H:]))
                    c = f * c + i * cc
                    o = _sigmoid(clamp(g[H:2 * H] + p[H:2 * H] * c))
                    h = o * np.tanh(c)
                Y[t, d, n] = h
            Yh[d, n] = h
            Yc[d, n] = c
    if layout == 1:
        return np.transpose(Y, (2, 0, 1, 3)), np.swapaxes(Yh, 0, 1), np.swapaxes(Yc, 0, 1)
    return Y, Yh, Yc


def check_reference_against_onnx_node_tests():
    """onnx_reference reproduces the ONNX project's own node tests (libonnx-testdata)."""
    from onnx import numpy_helper
    root = "/usr/share/libonnx-testdata/data/node"
    names = ["test_lstm_defaults", "test_lstm_with_initial_bias", "test_lstm_with_peepholes", "test_lstm_batchwise",
             "test_gru_defaults", "test_gru_seq_length", "test_gru_with_initial_bias", "test_gru_batchwise",
             "test_rnn_seq_length", "test_simple_rnn_defaults", "test_simple_rnn_with_initial_bias",
             "test_simple_rnn_batchwise"]
    if not os.path.isdir(root):
        sys.exit("make_onnx_fixtures: needs Debian's libonnx-testdata to check its reference")
    import onnx
    worst = 0.0
    for name in names:
        m = onnx.load(os.path.join(root, name, "model.onnx"))
        node = m.graph.node[0]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        ins = {}
        for k, vi in enumerate(m.graph.input):
            ins[vi.name] = numpy_helper.to_array(
                onnx.load_tensor(os.path.join(root, name, "test_data_set_0", f"input_{k}.pb")))
        outs = [numpy_helper.to_array(onnx.load_tensor(os.path.join(root, name, "test_data_set_0",
                                                                   f"output_{k}.pb")))
                for k in range(len(m.graph.output))]
        Y, Yh, _ = onnx_reference(node.op_type, ins["X"], ins["W"], ins["R"], ins.get("B"), ins.get("sequence_lens"),
                                  ins.get("initial_h"), ins.get("initial_c"), ins.get("P"),
                                  layout=attrs.get("layout", 0),
                                  linear_before_reset=attrs.get("linear_before_reset", 0))
        got = {"Y": Y, "Y_h": Yh}
        for vi, want in zip(m.graph.output, outs):
            worst = max(worst, float(np.abs(got[vi.name] - want).max()))
    assert worst < 1e-6, f"onnx_reference differs from the ONNX node tests by {worst}"
    return worst


def attr_case(name, what, op, N, T, I, H, rng, direction="forward", layout=0, clip=None, input_forget=0,
              linear_before_reset=None, activations=None, bias=True, peepholes=False, lengths=None, states=False):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    D = 2 if direction == "bidirectional" else 1
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    f32 = np.float32
    W = rng.uniform(-0.6, 0.6, (D, G * H, I)).astype(f32)
    R = rng.uniform(-0.6, 0.6, (D, G * H, H)).astype(f32)
    B = rng.uniform(-0.5, 0.5, (D, 2 * G * H)).astype(f32) if bias else None
    P = rng.uniform(-0.8, 0.8, (D, 3 * H)).astype(f32) if peepholes else None
    X = rng.standard_normal((T, N, I) if layout == 0 else (N, T, I)).astype(f32)
    state_shape = (D, N, H) if layout == 0 else (N, D, H)
    h0 = rng.standard_normal(state_shape).astype(f32) if states else None
    c0 = rng.standard_normal(state_shape).astype(f32) if states and op == "LSTM" else None
    lens = np.asarray(lengths, dtype=np.int32) if lengths is not None else None
    attrs = dict(hidden_size=H, direction=direction)
    if layout:
        attrs["layout"] = layout
    if clip:
        attrs["clip"] = clip
    if input_forget:
        attrs["input_forget"] = input_forget
    if linear_before_reset is not None:
        attrs["linear_before_reset"] = linear_before_reset
    if activations:
        attrs["activations"] = activations
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")]
    node_in = ["X", "W", "R", "B" if bias else ""]
    if bias:
        inits.append(numpy_helper.from_array(B, "B"))
    graph_in = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", I] if layout == 0 else
                                              ["N", "T", I])]
    node_in.append("seq" if lens is not None else "")
    if lens is not None:
        graph_in.append(helper.make_tensor_value_info("seq", TensorProto.INT32, ["N"]))
    s_dims = [D, "N", H] if layout == 0 else ["N", D, H]
    node_in.append("h0" if states else "")
    if states:
        graph_in.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, s_dims))
    if op == "LSTM":
        node_in.append("c0" if c0 is not None else "")
        if c0 is not None:
            graph_in.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, s_dims))
        node_in.append("P" if peepholes else "")
        if peepholes:
            inits.append(numpy_helper.from_array(P, "P"))
    while node_in and node_in[-1] == "":
        node_in.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    y_dims = ["T", D, "N", H] if layout == 0 else ["N", "T", D, H]
    graph_out = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_dims),
                 helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, s_dims)]
    if op == "LSTM":
        graph_out.append(helper.make_tensor_value_info("Y_c", TensorProto.FLOAT, s_dims))
    node = helper.make_node(op, node_in, outs, name=name, **attrs)
    g = helper.make_graph([node], name, graph_in, graph_out, initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    Y, Yh, Yc = onnx_reference(op, X, W, R, B, lens, h0, c0, P, direction, layout, clip, input_forget,
                               linear_before_reset or 0, activations)
    d = make_dir(name)
    onnx.save(model, os.path.join(d, "model.onnx"))
    # The program's side: batch-first inputs, [N, T, D*H] outputs, [D, N, H] states.
    Xb = X.transpose(1, 0, 2) if layout == 0 else X
    Yb = (Y.transpose(2, 0, 1, 3) if layout == 0 else Y).reshape(N, T, D * H)
    to_dnh = (lambda a: a) if layout == 0 else (lambda a: np.swapaxes(a, 0, 1))
    save(d, "inputs.npy", Xb.astype(f32))
    save(d, "expected.npy", Yb.astype(f32))
    save(d, "expected_hn.npy", to_dnh(Yh).astype(f32))
    if op == "LSTM":
        save(d, "expected_cn.npy", to_dnh(Yc).astype(f32))
    if lens is not None:
        save(d, "lengths.npy", lens.astype(np.int64))
    if states:
        save(d, "h0.npy", to_dnh(h0))
        if c0 is not None:
            save(d, "c0.npy", to_dnh(c0))
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"what": what}, f)
    return d


def attr_cases():
    rng = np.random.default_rng(11)
    return [
        attr_case("onnx_attr_lstm_reverse_all_variants", "LSTM reverse, peepholes, clip 0.7, input_forget, "
                  "sequence_lens, initial h and c", "LSTM", 4, 6, 3, 5, rng, direction="reverse", clip=0.7,
                  input_forget=1, peepholes=True, lengths=[6, 2, 5, 3], states=True),
        attr_case("onnx_attr_lstm_bidir_layout1_peepholes", "LSTM bidirectional, layout 1, peepholes, "
                  "sequence_lens, initial h and c", "LSTM", 3, 5, 4, 4, rng, direction="bidirectional", layout=1,
                  peepholes=True, lengths=[5, 1, 3], states=True),
        attr_case("onnx_attr_gru_reverse_layout1_clip", "GRU reverse, layout 1, linear_before_reset 0, clip 0.5, "
                  "sequence_lens, initial h", "GRU", 3, 6, 2, 4, rng, direction="reverse", layout=1, clip=0.5,
                  lengths=[4, 6, 2], states=True),
        attr_case("onnx_attr_gru_bidir_lbr_clip", "GRU bidirectional, linear_before_reset 1, clip 0.6", "GRU", 2, 5,
                  3, 5, rng, direction="bidirectional", clip=0.6, linear_before_reset=1),
        attr_case("onnx_attr_rnn_reverse_relu_clip", "RNN reverse, Relu, clip 0.8, initial h, no bias", "RNN", 3, 4,
                  3, 4, rng, direction="reverse", clip=0.8, activations=["Relu"], bias=False, states=True),
        attr_case("onnx_attr_rnn_bidir_layout1_lengths", "RNN bidirectional Tanh, layout 1, sequence_lens", "RNN", 4,
                  5, 2, 3, rng, direction="bidirectional", layout=1, activations=["Tanh", "Tanh"],
                  lengths=[5, 3, 1, 4]),
    ]


def main():
    torch.manual_seed(0)
    os.makedirs(FIXTURES, exist_ok=True)
    for entry in os.listdir(FIXTURES):
        if entry.startswith("onnx_"):
            shutil.rmtree(os.path.join(FIXTURES, entry))
    made = [model_case(p) for p in sorted(glob.glob(os.path.join(MODELS, "*.toml")))]
    made += user_cases()
    check_reference_against_onnx_node_tests()
    made += attr_cases()
    for d in made:
        print(os.path.relpath(d, HERE))


if __name__ == "__main__":
    main()
