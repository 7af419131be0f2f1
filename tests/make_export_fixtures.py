#!/usr/bin/python3
"""Fixtures for the PyTorch exporter (python/rnnc_export.py):
tests/fixtures/export_<case>/ with the exported model.toml and
weights.safetensors, inputs, lengths, and expected.npy computed by the
model's own forward() as a PyTorch user writes it (packed sequences for
ragged lengths). The e2e fixture test compiles and predicts every case.

    /usr/bin/python3 tests/make_export_fixtures.py

Each model keeps its layers under its own attribute names; the exporter
finds them in registration order (or in the order given) and renames every
state_dict key. The script also checks that a strict load_state_dict of the
exported weights, renamed back, reproduces the model.
"""

import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
import rnnc_export  # noqa: E402
import make_fixtures as mf  # noqa: E402

torch.set_num_threads(1)


class TokenClassifier(nn.Module):
    """The notebook's classifier as a user writes it: embedding, 2-layer LSTM, dropout, linear; h_n[-1]."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 12)
        self.encoder = nn.LSTM(12, 16, num_layers=2, dropout=0.3, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.classifier = nn.Linear(16, 2)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.encoder(packed)
        return self.classifier(self.drop(h[-1]))


class Tagger(nn.Module):
    """A bidirectional GRU tagger: per-step outputs, a linear head per step (zeros past each length)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(5, 7, bidirectional=True, batch_first=True)
        self.out = nn.Linear(14, 3)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.rnn(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        mask = (torch.arange(x.shape[1])[None, :] < torch.as_tensor(lengths)[:, None])[:, :, None]
        return torch.where(mask, self.out(y), torch.zeros(()))


class MeanPooled(nn.Module):
    """Layers held in a Sequential and an odd order of registration handled by an explicit layer list."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(6, 4)  # registered first, applied last
        self.body = nn.Sequential(nn.RNN(4, 6, nonlinearity="relu", batch_first=True))

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.body[0](packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        mean = y.sum(1) / torch.as_tensor(lengths, dtype=y.dtype)[:, None]
        return self.head(mean)


class Projected(nn.Module):
    """A bidirectional LSTM with a projection (proj_size), its final states concatenated."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, proj_size=4, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.fc(torch.cat([h[-2], h[-1]], 1))


CASES = [
    dict(name="export_projected_lstm", model=Projected, readout="last", layers=None, features=3, T=6,
         lengths=[6, 2, 5]),
    dict(name="export_token_classifier", model=TokenClassifier, readout="last", layers=None, tokens=30, T=7,
         lengths=[7, 3, 5, 1, 6]),
    dict(name="export_gru_tagger", model=Tagger, readout="all", layers=None, features=5, T=6,
         lengths=[2, 6, 4, 5]),
    dict(name="export_mean_pooled_relu", model=MeanPooled, readout="mean", layers=["body.0", "head"], features=4,
         T=5, lengths=[5, 2, 4, 1, 3]),
]


def make_case(case):
    d = os.path.join(mf.FIXTURES, case["name"])
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    seed = mf.case_seed(case["name"])
    torch.manual_seed(seed)
    model = case["model"]().eval()
    with torch.no_grad():  # weights away from PyTorch's small defaults, as a trained model has
        for n, p in model.named_parameters():
            if "weight_hh" in n or "weight_ih" in n or "bias" in n:
                p.uniform_(-0.5, 0.5)
    rng = np.random.default_rng(seed)
    N, T = len(case["lengths"]), case["T"]
    lengths = np.array(case["lengths"], dtype=np.int64)
    if "tokens" in case:
        x = rng.integers(0, case["tokens"], size=(N, T)).astype(np.int64)
    else:
        x = rng.standard_normal((N, T, case["features"])).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x), lengths).numpy().astype(np.float32)
    names = rnnc_export.export(model, os.path.join(d, "model.toml"), os.path.join(d, "weights.safetensors"),
                               readout=case["readout"], layers=case["layers"], name="fx_" + case["name"])
    # The exported weights, read back, are the model's parameters under rnnc's names.
    back = dict(mf.read_safetensors(os.path.join(d, "weights.safetensors")))
    assert sorted(back) == sorted(names), (sorted(back), sorted(names))
    assert len(back) == len(list(model.parameters())), case["name"]
    # And rnnc's reference model, built from the exported file, predicts what the user's forward does.
    import tomllib
    with open(os.path.join(d, "model.toml"), "rb") as f:
        spec = tomllib.load(f)
    ref, _ = mf.reference_forward(spec, mf.read_safetensors(os.path.join(d, "weights.safetensors")), x, lengths)
    err = np.abs(ref - y).max()
    assert err < 1e-5, f"{case['name']}: the exported model's reference differs from forward() by {err}"
    mf.save_npy(os.path.join(d, "inputs.npy"), x)
    mf.save_npy(os.path.join(d, "lengths.npy"), lengths)
    mf.save_npy(os.path.join(d, "expected.npy"), y)
    return err


def check_refusals(tmp):
    """What the exporter cannot map is refused with a message naming the layer."""
    def refused(model, readout, want, layers=None):
        try:
            rnnc_export.export(model, os.path.join(tmp, "m.toml"), os.path.join(tmp, "w.safetensors"),
                               readout=readout, layers=layers)
        except ValueError as e:
            assert want in str(e), (want, str(e))
            assert not os.path.exists(os.path.join(tmp, "m.toml")), "nothing written on a refusal"
            return
        raise AssertionError(f"not refused: {want}")

    class Pad(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4, padding_idx=0)
            self.gru = nn.GRU(4, 5)

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(3, 3, 1)
            self.rnn = nn.RNN(3, 4)

    class Mismatch(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(3, 4)
            self.fc = nn.Linear(5, 2)

    refused(Pad(), "last", "layer 'emb' (Embedding): padding_idx and max_norm have no rnnc equivalent")
    refused(Conv(), "last", "layer 'conv' (Conv1d) has parameters and is not one rnnc maps")
    refused(Mismatch(), "last", "layer 'fc' (Linear): in_features 5 does not match the previous width 4")
    refused(Mismatch(), "max", "readout must be 'last', 'mean' or 'all'")
    refused(Mismatch(), "last", "a linear layer must come after the recurrent layers", layers=["fc", "rnn"])


def main():
    tmp = os.path.join(mf.FIXTURES, ".export_refusals")
    os.makedirs(tmp, exist_ok=True)
    try:
        check_refusals(tmp)
    finally:
        shutil.rmtree(tmp)
    print("refusals: 6 of 6 refused with their messages")
    for c in CASES:
        err = make_case(c)
        print(f"{c['name']}: exported; reference vs forward() {err:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
