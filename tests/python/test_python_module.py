#!/usr/bin/python3
"""The generated Python modules against the program and against torch.nn.

`rnnc compile` writes OUT/<name>.py (ctypes + NumPy) and OUT/<name>_torch.py
(a torch.nn.Module running rnnc's kernels). These tests compile models with
the rnnc under test and check:
  - <name>.py predicts what the generated program's `predict` writes, trains
    (one step) to what its `train` writes, and raises the library's errors;
  - <name>_torch.Module's outputs and gradients (parameters, and the input
    for a features model) equal the pure PyTorch module's (tests/make_fixtures.py's
    RefModel, built from torch.nn.LSTM / GRU / Embedding / Linear), within
    1e-5 (outputs) and 1e-4 (gradients), for an arbitrary upstream gradient,
    and a few Adam steps of both stay together.

Environment (set by CTest): RNNC_EXE, RNNC_CACHE_DIR, RNNC_TEST_WORK_DIR.
Needs Debian's python3-numpy and python3-torch (the README's test command
installs them).
"""

import hashlib
import importlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tomllib
import unittest

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: make_fixtures (the PyTorch reference)
import make_fixtures  # noqa: E402

RNNC = os.environ.get("RNNC_EXE", os.path.join(SOURCE, "build", "bin", "rnnc"))
WORK = os.environ.get("RNNC_TEST_WORK_DIR", os.path.join(SOURCE, "build", "test-work", "python"))

# A features model the bundled ones do not cover: bidirectional, two layers,
# a per-step readout and an MSE loss (packing in both directions, the input
# gradient through both).
FEATURES_BIGRU = """
name = "features_bigru"

[input]
kind = "features"
size = 5

[[layers]]
kind = "gru"
hidden = 12
num_layers = 2
bidirectional = true

[[layers]]
kind = "readout"
mode = "all"

[[layers]]
kind = "linear"
out = 3

[loss]
kind = "mse"

[train]
learning_rate = 0.01
batch_size = 8
"""

_compiled = {}


def compile_model(model_path):
    """Compiles a model once per test run; returns (out dir, spec, module name)."""
    if model_path in _compiled:
        return _compiled[model_path]
    with open(model_path, "rb") as f:
        spec = tomllib.load(f)
    name = spec["name"]
    out = os.path.join(WORK, name)
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run([RNNC, "compile", model_path, "-o", out], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("rnnc compile %s failed:\n%s%s" % (model_path, r.stdout, r.stderr))
    if out not in sys.path:
        sys.path.insert(0, out)
    _compiled[model_path] = (out, spec, name)
    return _compiled[model_path]


def model_file(name):
    if name == "features_bigru":
        path = os.path.join(WORK, "features_bigru.toml")
        os.makedirs(WORK, exist_ok=True)
        with open(path, "w") as f:
            f.write(FEATURES_BIGRU)
        return path
    return os.path.join(SOURCE, "models", name + ".toml")


def batch(spec, n, t, seed):
    """Inputs, lengths (several lengths, one full) and labels for spec."""
    rng = np.random.default_rng(seed)
    inp = spec["input"]
    if inp["kind"] == "tokens":
        x = rng.integers(0, inp["vocab"], size=(n, t)).astype(np.int64)
    else:
        x = rng.standard_normal((n, t, inp["size"])).astype(np.float32)
    lengths = rng.integers(1, t + 1, size=n).astype(np.int32)
    lengths[0] = t
    per_step = any(l["kind"] == "readout" and l["mode"] == "all" for l in spec["layers"])
    width = [l for l in spec["layers"] if l["kind"] == "linear"][-1]["out"]
    rows = (n, t) if per_step else (n,)
    if spec["loss"]["kind"] == "cross_entropy":
        y = rng.integers(0, width, size=rows).astype(np.int32)
    else:
        y = rng.standard_normal(rows + (width,)).astype(np.float32)
    return x, lengths, y


def reference(spec, state_dict):
    ref = make_fixtures.RefModel(spec)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()}, strict=True)
    return ref


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r


class NumpyModule(unittest.TestCase):
    def test_predict_equals_program_and_torch(self):
        for name in ("compare_lstm", "sentiment_lstm", "bigru_tagger", "features_bigru"):
            with self.subTest(model=name):
                out, spec, mod_name = compile_model(model_file(name))
                mod = importlib.import_module(mod_name)
                m = mod.Model(weights=None)  # PyTorch-default weights from seed 0
                x, lengths, _ = batch(spec, 7, 9, seed=1)
                y = m.forward(x, lengths)
                # The program, on the same weights and inputs.
                w = os.path.join(out, "w.safetensors")
                m.save(w)
                for f, a in (("x.npy", x.astype(np.int32) if x.dtype == np.int64 else x), ("l.npy", lengths)):
                    np.save(os.path.join(out, f), a)
                run([os.path.join(out, mod_name), "predict", "--weights", w, "--inputs", os.path.join(out, "x.npy"),
                     "--lengths", os.path.join(out, "l.npy"), "--output", os.path.join(out, "y.npy")])
                y_prog = np.load(os.path.join(out, "y.npy"))
                self.assertEqual(y.shape, y_prog.shape)
                self.assertEqual(y.dtype, np.float32)
                np.testing.assert_array_equal(y, y_prog)
                # PyTorch (float64) on the weights the module reports.
                ref = reference(spec, m.state_dict()).double().eval()
                with torch.no_grad():
                    xr = torch.from_numpy(x)
                    y_ref = ref(xr.double() if xr.is_floating_point() else xr, torch.from_numpy(lengths)).numpy()
                np.testing.assert_allclose(y, y_ref, atol=1e-5, rtol=0)
                # The default weights are the program's `init --seed 0`.
                w0 = os.path.join(out, "w0.safetensors")
                run([os.path.join(out, mod_name), "init", "--seed", "0", "--output", w0])
                for k, v in mod.Model(weights=w0).state_dict().items():
                    np.testing.assert_array_equal(v, m.state_dict()[k], err_msg=k)

    def test_train_step_equals_program(self):
        # One epoch of one full batch is one optimizer step; compare_lstm has no dropout.
        out, spec, mod_name = compile_model(model_file("compare_lstm"))
        mod = importlib.import_module(mod_name)
        x, lengths, labels = batch(spec, 16, 6, seed=2)
        m = mod.Model(seed=3)
        w0 = os.path.join(out, "train_w0.safetensors")
        m.save(w0)
        loss_before = m.loss(x, labels, lengths)
        step_loss = m.train_step(x, labels, lengths)
        self.assertAlmostEqual(step_loss, loss_before, places=5)  # no dropout: training loss = eval loss
        for f, a in (("tx.npy", x), ("tl.npy", lengths), ("ty.npy", labels)):
            np.save(os.path.join(out, f), a)
        ckpt = os.path.join(out, "train_ckpt.safetensors")
        run([os.path.join(out, mod_name), "train", "--inputs", os.path.join(out, "tx.npy"), "--labels",
             os.path.join(out, "ty.npy"), "--lengths", os.path.join(out, "tl.npy"), "--weights", w0, "--epochs", "1",
             "--batch-size", "16", "--checkpoint", ckpt])
        after_prog = mod.Model(weights=ckpt).state_dict()
        after = m.state_dict()
        moved = 0.0
        for k in after:
            np.testing.assert_allclose(after[k], after_prog[k], atol=1e-6, rtol=0, err_msg=k)
            moved = max(moved, float(np.abs(after[k] - mod.Model(weights=w0).state_dict()[k]).max()))
        self.assertGreater(moved, 1e-4)  # the step did change the weights
        self.assertLess(m.loss(x, labels, lengths), loss_before)

    def test_gradients_equal_torch(self):
        out, spec, mod_name = compile_model(model_file("compare_lstm"))
        mod = importlib.import_module(mod_name)
        m = mod.Model(seed=4)
        x, lengths, labels = batch(spec, 5, 8, seed=5)
        loss, grads = m.gradients(x, labels, lengths)
        ref = reference(spec, m.state_dict()).double().train()
        ref_loss = make_fixtures.compute_loss(spec, ref(torch.from_numpy(x).double(), torch.from_numpy(lengths)),
                                              torch.from_numpy(labels).long(), lengths)
        ref_loss.backward()
        self.assertAlmostEqual(loss, ref_loss.item(), places=5)
        for k, p in ref.named_parameters():
            np.testing.assert_allclose(grads[k], p.grad.numpy(), atol=1e-4, rtol=0, err_msg=k)

    def test_states_in_and_out_equal_torch(self):
        out, spec, mod_name = compile_model(model_file("compare_lstm"))
        mod = importlib.import_module(mod_name)
        m = mod.Model(seed=6)
        x, _, _ = batch(spec, 4, 5, seed=7)
        rng = np.random.default_rng(8)
        h0 = rng.standard_normal((1, 4, 64)).astype(np.float32)
        c0 = rng.standard_normal((1, 4, 64)).astype(np.float32)
        y, h_n, c_n = m.forward(x, None, h0=h0, c0=c0)
        ref = reference(spec, m.state_dict()).eval()
        with torch.no_grad():
            seq, (h_ref, c_ref) = ref.layers[0](torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
            y_ref = ref.layers[2](h_ref[-1])
        np.testing.assert_allclose(h_n, h_ref.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(c_n, c_ref.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(y, y_ref.numpy(), atol=1e-5, rtol=0)

    def test_errors_carry_the_library_message(self):
        out, spec, mod_name = compile_model(model_file("compare_lstm"))
        mod = importlib.import_module(mod_name)
        missing = os.path.join(out, "no-such.safetensors")
        with self.assertRaises(mod.RnncError) as e:
            mod.Model(weights=missing)
        self.assertIn("no-such.safetensors", str(e.exception))
        m = mod.Model()
        x, _, _ = batch(spec, 3, 4, seed=9)
        with self.assertRaises(mod.RnncError) as e:
            m.forward(x, np.array([4, 5, 1], dtype=np.int32))  # 5 > t
        self.assertIn("5", str(e.exception))
        with self.assertRaises(ValueError):
            m.forward(x[:, :, :3])  # wrong feature width
        sd = m.state_dict()
        sd["layers.0.weight_ih_l0"] = sd["layers.0.weight_ih_l0"][:1]
        with self.assertRaises(ValueError) as e:
            m.load_state_dict(sd)
        self.assertIn("layers.0.weight_ih_l0", str(e.exception))
        sd = m.state_dict()
        sd["layers.9.bias"] = np.zeros(2, np.float32)
        with self.assertRaises(KeyError) as e:
            m.load_state_dict(sd)
        self.assertIn("layers.9.bias", str(e.exception))


class Provenance(unittest.TestCase):
    """One version (project(VERSION)) in rnnc --version, the program's
    --version (with the model file's SHA-256 and the target), the Python
    module, and the metadata of every checkpoint and export."""

    def test_one_version_everywhere(self):
        path = model_file("compare_lstm")
        out, spec, name = compile_model(path)
        prog = os.path.join(out, name)
        version = run([RNNC, "--version"]).stdout.split()[1]
        self.assertRegex(version, r"^\d+\.\d+\.\d+$")
        with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
            self.assertIn("project(rnnc VERSION %s " % version, f.read())
        with open(path, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        text = run([prog, "--version"]).stdout
        self.assertIn("rnnc " + version, text)
        self.assertIn(sha, text)
        self.assertRegex(text, r"target x86-64-linux")
        self.assertEqual(importlib.import_module(name).RNNC_VERSION, version)
        x, lengths, labels = batch(spec, 4, 3, seed=51)
        f = lambda n: os.path.join(out, n)  # noqa: E731
        np.savez(f("pv.npz"), inputs=x, lengths=lengths, labels=labels)
        run([prog, "init", "--output", f("pv_w.safetensors")])
        run([prog, "train", "--inputs", f("pv.npz"), "--epochs", "1", "--checkpoint", f("pv_c.safetensors")])
        run([prog, "export", "--checkpoint", f("pv_c.safetensors"), "--output", f("pv_e.safetensors")])
        for file in ("pv_w.safetensors", "pv_c.safetensors", "pv_e.safetensors"):
            with open(f(file), "rb") as fh:
                size = struct.unpack("<Q", fh.read(8))[0]
                meta = json.loads(fh.read(size))["__metadata__"]
            self.assertEqual(meta.get("rnnc_version"), version, file)
            self.assertEqual(meta.get("rnnc_model_sha256"), sha, file)
            self.assertEqual(meta.get("rnnc_model"), name, file)
            self.assertTrue(meta.get("rnnc_target", "").startswith("x86-64-linux"), file)


class NpzDataSets(unittest.TestCase):
    """The generated program reads a data set from one .npz (keys inputs,
    lengths, labels) wherever it reads .npy files."""

    def test_npz_equals_npy(self):
        out, spec, name = compile_model(model_file("compare_lstm"))
        prog = os.path.join(out, name)
        x, lengths, labels = batch(spec, 12, 6, seed=41)
        f = lambda n: os.path.join(out, n)  # noqa: E731
        np.save(f("nx.npy"), x)
        np.save(f("nl.npy"), lengths)
        np.save(f("ny.npy"), labels)
        np.savez(f("d.npz"), inputs=x, lengths=lengths, labels=labels)
        run([prog, "init", "--seed", "1", "--output", f("nw.safetensors")])
        run([prog, "predict", "--weights", f("nw.safetensors"), "--inputs", f("nx.npy"), "--lengths", f("nl.npy"),
             "--output", f("p1.npy")])
        run([prog, "predict", "--weights", f("nw.safetensors"), "--inputs", f("d.npz"), "--output", f("p2.npy")])
        np.testing.assert_array_equal(np.load(f("p1.npy")), np.load(f("p2.npy")))
        e1 = run([prog, "eval", "--weights", f("nw.safetensors"), "--inputs", f("nx.npy"), "--lengths",
                  f("nl.npy"), "--labels", f("ny.npy")]).stdout
        e2 = run([prog, "eval", "--weights", f("nw.safetensors"), "--inputs", f("d.npz")]).stdout
        self.assertEqual(e1, e2)
        for ckpt, args in (("c1", ["--inputs", f("nx.npy"), "--lengths", f("nl.npy"), "--labels", f("ny.npy")]),
                           ("c2", ["--inputs", f("d.npz"), "--val-inputs", f("d.npz")])):
            run([prog, "train", *args, "--weights", f("nw.safetensors"), "--epochs", "2", "--batch-size", "4",
                 "--checkpoint", f(ckpt + ".safetensors")])
        mod = importlib.import_module(name)
        a, b = mod.Model(weights=f("c1.safetensors")).state_dict(), mod.Model(weights=f("c2.safetensors")).state_dict()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        # A data set without labels: train says which key is missing, in which file.
        np.savez(f("nolabels.npz"), inputs=x)
        r = subprocess.run([prog, "train", "--inputs", f("nolabels.npz"), "--checkpoint", f("c3.safetensors")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nolabels.npz", r.stderr)
        self.assertIn("'labels'", r.stderr)
        self.assertFalse(os.path.exists(f("c3.safetensors")))
        # .npy inputs without --labels: a usage error (status 2).
        r = subprocess.run([prog, "eval", "--weights", f("nw.safetensors"), "--inputs", f("nx.npy")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--labels", r.stderr)


class TorchModule(unittest.TestCase):
    def check_against_torch(self, name, train_mode):
        out, spec, mod_name = compile_model(model_file(name))
        tmod = importlib.import_module(mod_name + "_torch")
        net = tmod.Module(seed=11)
        ref = make_fixtures.RefModel(spec)
        ref.load_state_dict(net.state_dict(), strict=True)  # the same names and shapes
        for mdl in (net, ref):
            mdl.train(train_mode)
        x, lengths, _ = batch(spec, 6, 7, seed=12)
        features = spec["input"]["kind"] == "features"
        xt = torch.from_numpy(x)
        xn, xr = xt.clone(), xt.clone()
        if features:
            xn.requires_grad_(True)
            xr.requires_grad_(True)
        lt = torch.from_numpy(lengths)
        y = net(xn, lt)
        y_ref = ref(xr, lt)
        self.assertEqual(tuple(y.shape), tuple(y_ref.shape))
        np.testing.assert_allclose(y.detach().numpy(), y_ref.detach().numpy(), atol=1e-5, rtol=0)
        # An arbitrary upstream gradient (not a loss's).
        upstream = torch.from_numpy(np.random.default_rng(13).standard_normal(tuple(y.shape)).astype(np.float32))
        (y * upstream).sum().backward()
        (y_ref * upstream).sum().backward()
        ref_grads = dict(ref.named_parameters())
        for k, p in net.named_parameters():
            self.assertIsNotNone(p.grad, k)
            np.testing.assert_allclose(p.grad.numpy(), ref_grads[k].grad.numpy(), atol=1e-4, rtol=0, err_msg=k)
        if features:
            np.testing.assert_allclose(xn.grad.numpy(), xr.grad.numpy(), atol=1e-4, rtol=0)
            # Padded positions get no gradient.
            for i, n in enumerate(lengths):
                self.assertTrue(bool(torch.all(xn.grad[i, n:] == 0)))

    def test_lstm_features_train_mode(self):
        self.check_against_torch("compare_lstm", train_mode=True)

    def test_lstm_tokens_with_dropout_eval_mode(self):
        # Dropout layers are off in eval mode in both (and rnnc's backward then runs without them).
        self.check_against_torch("sentiment_lstm", train_mode=False)

    def test_bigru_tokens_per_step(self):
        self.check_against_torch("bigru_tagger", train_mode=False)

    def test_bigru_features_per_step_input_gradient(self):
        self.check_against_torch("features_bigru", train_mode=True)

    def test_training_loop_follows_torch(self):
        out, spec, mod_name = compile_model(model_file("compare_lstm"))
        tmod = importlib.import_module(mod_name + "_torch")
        net = tmod.Module(seed=21)
        ref = make_fixtures.RefModel(spec)
        ref.load_state_dict(net.state_dict())
        opts = [torch.optim.Adam(mdl.parameters(), lr=1e-2) for mdl in (net, ref)]
        x, lengths, labels = batch(spec, 8, 6, seed=22)
        losses = []
        for step in range(5):
            row = []
            for mdl, opt in zip((net, ref), opts):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(mdl(torch.from_numpy(x), torch.from_numpy(lengths)),
                                                   torch.from_numpy(labels).long())
                loss.backward()
                opt.step()
                row.append(loss.item())
            losses.append(row)
            self.assertAlmostEqual(row[0], row[1], delta=1e-4)
        self.assertLess(losses[-1][0], losses[0][0])
        ref_sd = ref.state_dict()
        for k, v in net.state_dict().items():
            np.testing.assert_allclose(v.numpy(), ref_sd[k].numpy(), atol=1e-4, rtol=0, err_msg=k)

    def test_float64_inputs_get_float64_gradients(self):
        out, spec, mod_name = compile_model(model_file("compare_lstm"))
        tmod = importlib.import_module(mod_name + "_torch")
        net = tmod.Module(seed=41)
        x, lengths, _ = batch(spec, 3, 4, seed=42)
        x64 = torch.from_numpy(x).double().requires_grad_(True)
        y = net(x64, torch.from_numpy(lengths))
        self.assertEqual(y.dtype, torch.float32)
        y.sum().backward()
        self.assertEqual(x64.grad.dtype, torch.float64)
        self.assertGreater(float(x64.grad.abs().sum()), 0.0)

    def test_dropout_in_train_mode_is_reproducible(self):
        # rnnc's masks are its own; forward and backward of one call agree, and
        # the gradient matches a finite difference of the same masked forward.
        out, spec, mod_name = compile_model(model_file("sentiment_lstm"))
        mod = importlib.import_module(mod_name)
        m = mod.Model(seed=31)
        x, lengths, _ = batch(spec, 4, 6, seed=32)
        y1 = m.forward_train(x, lengths, seed=5)
        y2 = m.forward_train(x, lengths, seed=5)
        np.testing.assert_array_equal(y1, y2)
        self.assertFalse(np.array_equal(y1, m.forward_train(x, lengths, seed=6)))
        upstream = np.random.default_rng(33).standard_normal(y1.shape).astype(np.float32)
        grads, _ = m.backward(x, upstream, lengths, seed=5)
        name = "layers.4.bias"  # the head's bias: d(sum(upstream * y))/d b = sum of upstream over rows
        np.testing.assert_allclose(grads[name], upstream.sum(0), atol=1e-5, rtol=0)
        sd = m.state_dict()
        w = sd["layers.4.weight"].astype(np.float64)
        eps = 1e-2
        sd_plus = dict(sd)
        sd_plus["layers.4.weight"] = (w + eps * (np.arange(w.size).reshape(w.shape) == 7)).astype(np.float32)
        m.load_state_dict(sd_plus)
        f_plus = float((upstream * m.forward_train(x, lengths, seed=5)).sum())
        sd_minus = dict(sd)
        sd_minus["layers.4.weight"] = (w - eps * (np.arange(w.size).reshape(w.shape) == 7)).astype(np.float32)
        m.load_state_dict(sd_minus)
        f_minus = float((upstream * m.forward_train(x, lengths, seed=5)).sum())
        self.assertAlmostEqual(grads["layers.4.weight"].reshape(-1)[7], (f_plus - f_minus) / (2 * eps), delta=2e-3)


if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    unittest.main(verbosity=2)
