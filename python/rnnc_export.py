#!/usr/bin/python3
"""Export a PyTorch model to an rnnc model file and safetensors weights.

The model is an nn.Module built from nn.Embedding, nn.RNN / nn.LSTM / nn.GRU,
nn.Dropout and nn.Linear (held under any attribute names, directly or in
nn.Sequential / nn.ModuleList containers). The order of its layers is the
order of their registration in the module, or the order the caller gives.
PyTorch code expresses the readout in forward(), so the caller names it:
"last" (h_n of the last recurrent layer, both directions concatenated),
"mean" (the mean of the last recurrent layer's outputs over each sequence's
own steps) or "all" (every step's output; the layers after it apply per step).

As a library:

    from rnnc_export import export
    export(model, "classifier.toml", "classifier.safetensors", readout="last",
           name="classifier", loss="cross_entropy")

As a command (the module built by a factory "package.module:callable", called
with --kwargs as JSON keyword arguments, then loaded from a state_dict saved
with torch.save):

    /usr/bin/python3 python/rnnc_export.py --factory mymodels:Classifier \\
        --kwargs '{"vocab": 50}' --state-dict classifier.pt --readout last \\
        -o classifier.toml --weights classifier.safetensors

The weights file holds every parameter under rnnc's names (layers.<i>.<name>,
i counting the model file's [[layers]] entries, the readout included) in
PyTorch's gate order, so `rnnc compile classifier.toml` and the generated
program's `predict --weights classifier.safetensors` compute what the
PyTorch model computes. Every problem is a ValueError naming the layer.
"""

import argparse
import importlib
import json
import os
import re
import struct
import sys

try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover - depends on the machine
    if __name__ == "__main__":
        sys.exit("rnnc_export: PyTorch is missing; install Debian's python3-torch "
                 "(.ci/install-deps.sh --python) and run with /usr/bin/python3")
    raise

RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)
SUPPORTED = (nn.Embedding, nn.RNN, nn.LSTM, nn.GRU, nn.Dropout, nn.Linear)
CONTAINERS = (nn.Sequential, nn.ModuleList)


def layers_of(module):
    """The supported layers of `module` in registration order (containers flattened), with their paths."""
    out = []

    def walk(m, prefix):
        for name, child in m.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(child, SUPPORTED):
                out.append((path, child))
            elif isinstance(child, CONTAINERS) or len(list(child.children())) > 0:
                walk(child, path)
            elif any(True for _ in child.parameters(recurse=False)):
                raise ValueError(f"layer '{path}' ({type(child).__name__}) has parameters and is not one rnnc "
                                 f"maps (nn.Embedding, nn.RNN, nn.LSTM, nn.GRU, nn.Dropout, nn.Linear)")
            # parameter-free modules (activations, identity) elsewhere are not part of the chain
    walk(module, "")
    return out


def _toml(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(v)


def _identifier(s):
    s = re.sub(r"[^A-Za-z0-9_]", "_", s)
    if not s or s[0].isdigit():
        s = "m_" + s
    return s[:64]


def _write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        b = t.detach().to(torch.float32).contiguous().cpu().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def build_spec(layers, readout, name, loss=None, train=None):
    """The model file (as text) and the weight list for `layers` [(path, module)]."""
    if readout not in ("last", "mean", "all"):
        raise ValueError(f"readout must be 'last', 'mean' or 'all', not {readout!r}")
    if not layers:
        raise ValueError("the module holds no layer rnnc maps")
    rec_idx = [i for i, (_, m) in enumerate(layers) if isinstance(m, RECURRENT)]
    if not rec_idx:
        raise ValueError("the model has no recurrent layer (nn.RNN, nn.LSTM or nn.GRU)")
    lines = [f"# exported from PyTorch by python/rnnc_export.py", f"name = {_toml(name)}", ""]
    first = layers[0][1]
    entries, weights = [], []
    width = None
    if isinstance(first, nn.Embedding):
        lines += ["[input]", 'kind = "tokens"', f"vocab = {first.num_embeddings}", ""]
    else:
        m = layers[rec_idx[0]][1]
        lines += ["[input]", 'kind = "features"', f"size = {m.input_size}", ""]
        width = m.input_size
    last_rec = rec_idx[-1]
    for i, (path, m) in enumerate(layers):
        where = f"layer '{path}' ({type(m).__name__})"
        idx = len(entries)
        if isinstance(m, nn.Embedding):
            if i != 0:
                raise ValueError(f"{where}: an embedding must be the first layer")
            if m.padding_idx is not None or m.max_norm is not None:
                raise ValueError(f"{where}: padding_idx and max_norm have no rnnc equivalent")
            entries.append({"kind": "embedding", "dim": m.embedding_dim})
            weights.append((f"layers.{idx}.weight", m.weight))
            width = m.embedding_dim
        elif isinstance(m, RECURRENT):
            if i > last_rec:
                raise ValueError(f"{where}: recurrent layers come before the readout")
            if width is not None and m.input_size != width:
                raise ValueError(f"{where}: input_size {m.input_size} does not match the previous width {width}")
            if not m.batch_first:
                pass  # rnnc programs are batch-first whatever the module's convention; weights are the same
            e = {"kind": {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}[type(m)], "hidden": m.hidden_size}
            if m.num_layers != 1:
                e["num_layers"] = m.num_layers
            if m.bidirectional:
                e["bidirectional"] = True
            if m.dropout:
                e["dropout"] = float(m.dropout)
            if not m.bias:
                e["bias"] = False
            if isinstance(m, nn.RNN) and m.nonlinearity != "tanh":
                e["nonlinearity"] = m.nonlinearity
            if isinstance(m, nn.LSTM) and m.proj_size:
                e["proj_size"] = m.proj_size
            entries.append(e)
            for pname, p in m.named_parameters():
                weights.append((f"layers.{idx}.{pname}", p))
            width = (getattr(m, "proj_size", 0) or m.hidden_size) * (2 if m.bidirectional else 1)
            if i == last_rec:
                entries.append({"kind": "readout", "mode": readout})
        elif isinstance(m, nn.Dropout):
            if i < last_rec and not (i + 1 < len(layers) and isinstance(layers[i + 1][1], RECURRENT)):
                raise ValueError(f"{where}: before the readout, dropout may only stand between two recurrent layers")
            entries.append({"kind": "dropout", "p": float(m.p)})
        elif isinstance(m, nn.Linear):
            if i < last_rec:
                raise ValueError(f"{where}: a linear layer must come after the recurrent layers")
            if m.in_features != width:
                raise ValueError(f"{where}: in_features {m.in_features} does not match the previous width {width}")
            e = {"kind": "linear", "out": m.out_features}
            if m.bias is None:
                e["bias"] = False
            entries.append(e)
            weights.append((f"layers.{idx}.weight", m.weight))
            if m.bias is not None:
                weights.append((f"layers.{idx}.bias", m.bias))
            width = m.out_features
    for e in entries:
        lines.append("[[layers]]")
        lines += [f"{k} = {_toml(v)}" for k, v in e.items()]
        lines.append("")
    if loss:
        lines += ["[loss]", f"kind = {_toml(loss)}", ""]
    if train:
        lines += ["[train]"] + [f"{k} = {_toml(v)}" for k, v in train.items()] + [""]
    return "\n".join(lines), weights


def export(module, toml_path, weights_path, readout="last", layers=None, name=None, loss=None, train=None):
    """Writes the model file and its weights; `layers` (optional) lists the layers in order, as modules or
    attribute paths of `module`. Returns the list of (rnnc name, source path) of the weights written."""
    if layers is None:
        chain = layers_of(module)
    else:
        chain = []
        for l in layers:
            if isinstance(l, str):
                m = module
                for part in l.split("."):
                    m = getattr(m, part)
                chain.append((l, m))
            else:
                path = next((n for n, c in module.named_modules() if c is l), type(l).__name__)
                chain.append((path, l))
        for path, m in chain:
            if not isinstance(m, SUPPORTED):
                raise ValueError(f"layer '{path}' ({type(m).__name__}) is not one rnnc maps")
    if name is None:
        name = _identifier(os.path.splitext(os.path.basename(toml_path))[0])
    text, weights = build_spec(chain, readout, name, loss, train)
    tmp = toml_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    _write_safetensors(weights_path, weights)
    os.replace(tmp, toml_path)
    return [n for n, _ in weights]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Export a PyTorch RNN model to an rnnc model file and weights.")
    ap.add_argument("--factory", required=True, help="package.module:callable that builds the nn.Module")
    ap.add_argument("--kwargs", default="{}", help="JSON keyword arguments for the factory")
    ap.add_argument("--state-dict", help="a state_dict saved with torch.save, loaded strictly")
    ap.add_argument("--readout", required=True, choices=("last", "mean", "all"))
    ap.add_argument("--layers", help="comma list of attribute paths, in order (default: registration order)")
    ap.add_argument("--name", help="the model's name (default: the output file's stem)")
    ap.add_argument("--loss", choices=("cross_entropy", "mse"), help="a [loss] table for training with rnnc")
    ap.add_argument("-o", "--output", required=True, help="model file to write")
    ap.add_argument("--weights", required=True, help="safetensors file to write")
    a = ap.parse_args(argv)
    mod, _, attr = a.factory.partition(":")
    sys.path.insert(0, os.getcwd())
    model = getattr(importlib.import_module(mod), attr)(**json.loads(a.kwargs))
    if a.state_dict:
        model.load_state_dict(torch.load(a.state_dict, map_location="cpu"), strict=True)
    try:
        names = export(model, a.output, a.weights, readout=a.readout, name=a.name, loss=a.loss,
                       layers=a.layers.split(",") if a.layers else None)
    except ValueError as e:
        print(f"rnnc_export: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {a.output} and {a.weights} ({len(names)} tensors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
