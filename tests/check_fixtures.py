#!/usr/bin/python3
"""Re-verify the committed fixtures in tests/fixtures/<case>/.

    /usr/bin/python3 tests/check_fixtures.py [case ...]

For every case directory (one holding a model.toml) this parses model.toml,
rebuilds the PyTorch reference from it (the reference model lives in
make_fixtures.py), loads the committed weights and inputs, and compares:
  * expected.npy against the reference forward (packed batch, float64), and
    against an independent path that runs each sequence alone, cut to its
    length, without packing;
  * for training cases: loss.npy, grads.safetensors (float64 autograd, plus a
    central finite-difference spot check of a few elements), and
    after_step.safetensors (the PyTorch optimizer step in float32, plus a
    hand-written optimizer step from the float64 gradients).
Prints one line per case and exits non-zero if any check fails.
"""

import os
import sys
import tomllib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

torch.set_num_threads(1)

FWD_ATOL, FWD_RTOL = 2e-6, 1e-5      # expected.npy is float64 reference rounded to float32
GRAD_ATOL, GRAD_RTOL = 1e-7, 1e-5    # grads are float64 rounded to float32
LOSS_RTOL = 1e-12                    # loss.npy is float64
STEP_ATOL = 1e-6                     # after_step vs re-run of the same float32 step
FD_TOL = 1e-6                        # finite differences vs autograd (float64)


def close(a, b, atol, rtol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False, float("inf")
    err = np.abs(a - b)
    return bool(np.all(err <= atol + rtol * np.abs(b))), float(err.max()) if err.size else 0.0


def manual_step(spec, weights, grads64):
    """One optimizer step by hand, in float64, from the float64 gradients."""
    tr = spec["train"]
    g = {n: a.astype(np.float64) for n, a in grads64}
    if "clip_grad_norm" in tr:
        norm = np.sqrt(sum(float(np.sum(a * a)) for a in g.values()))
        coef = tr["clip_grad_norm"] / (norm + 1e-6)
        if coef < 1:
            g = {n: a * coef for n, a in g.items()}
    wd = tr.get("weight_decay", 0.0)
    lr = tr["learning_rate"]
    out = {}
    for n, w in weights:
        w = w.astype(np.float64)
        d = g[n] + wd * w
        if tr["optimizer"] == "adam":
            b1, b2 = tr.get("betas", [0.9, 0.999])
            eps = tr.get("eps", 1e-8)
            m = (1 - b1) * d / (1 - b1)
            v = (1 - b2) * d * d / (1 - b2)
            out[n] = w - lr * m / (np.sqrt(v) + eps)
        else:  # SGD: the first momentum buffer is the gradient itself
            out[n] = w - lr * d
    return out, g


def check_case(d):
    name = os.path.basename(d)
    msgs, fails = [], []
    with open(os.path.join(d, "model.toml"), "rb") as f:
        spec = tomllib.load(f)
    weights = mf.read_safetensors(os.path.join(d, "weights.safetensors"))
    model = mf.RefModel(spec)
    names = [n for n, _ in weights]
    if names != list(model.state_dict().keys()):
        return False, f"weights.safetensors names {names} != state_dict {list(model.state_dict().keys())}"
    x = np.load(os.path.join(d, "inputs.npy"))
    lengths = np.load(os.path.join(d, "lengths.npy"))
    expected = np.load(os.path.join(d, "expected.npy"))
    N, T = x.shape[0], x.shape[1]
    tokens = spec["input"]["kind"] == "tokens"
    if tokens and (x.ndim != 2 or x.dtype not in (np.int32, np.int64)):
        fails.append(f"tokens input {x.dtype}{x.shape}")
    if not tokens and (x.ndim != 3 or x.dtype not in (np.float32, np.float64) or x.shape[2] != spec["input"]["size"]):
        fails.append(f"features input {x.dtype}{x.shape}")
    if lengths.dtype not in (np.int32, np.int64) or lengths.shape != (N,) or lengths.min() < 1 or lengths.max() > T:
        fails.append(f"lengths {lengths.dtype}{lengths.shape} {lengths}")
    if expected.dtype != np.float32:
        fails.append(f"expected.npy is {expected.dtype}")
    if tokens:
        valid = np.arange(T)[None, :] < lengths[:, None]
        if np.any((x[valid] < 0) | (x[valid] >= spec["input"]["vocab"])):
            fails.append("token id out of range at a valid position")

    ref, ref1 = mf.reference_forward(spec, weights, x, lengths)
    ok, err = close(expected, ref, FWD_ATOL, FWD_RTOL)
    ok1, err1 = close(expected, ref1, FWD_ATOL, FWD_RTOL)
    if not ok:
        fails.append(f"expected differs from reference by {err:.2e}")
    if not ok1:
        fails.append(f"expected differs from one-by-one reference by {err1:.2e}")
    msgs.append(f"out {list(expected.shape)} fwd err {max(err, err1):.1e}")

    # Training cases carry labels; the shipped models' cases are forward only.
    if os.path.exists(os.path.join(d, "labels.npy")):
        labels = np.load(os.path.join(d, "labels.npy"))
        loss_c = np.load(os.path.join(d, "loss.npy"))
        grads_c = mf.read_safetensors(os.path.join(d, "grads.safetensors"))
        after_c = mf.read_safetensors(os.path.join(d, "after_step.safetensors"))
        if loss_c.dtype != np.float64 or loss_c.shape != (1,):
            fails.append(f"loss.npy {loss_c.dtype}{loss_c.shape}")
        if [n for n, _ in grads_c] != names or [n for n, _ in after_c] != names:
            fails.append("grads/after_step names differ from the weights")
        loss, grads, after, norm = mf.reference_train(spec, weights, x, lengths, labels)
        if not abs(loss - float(loss_c[0])) <= LOSS_RTOL * abs(loss):
            fails.append(f"loss {loss_c[0]!r} != reference {loss!r}")
        gerr = 0.0
        for (n, gc), (_, g) in zip(grads_c, grads):
            ok, e = close(gc, g.numpy(), GRAD_ATOL, GRAD_RTOL)
            gerr = max(gerr, e)
            if not ok:
                fails.append(f"grad {n} differs by {e:.2e}")
        serr = 0.0
        for (n, ac), (_, a) in zip(after_c, after):
            ok, e = close(ac, a.numpy(), STEP_ATOL, 0)
            serr = max(serr, e)
            if not ok:
                fails.append(f"after_step {n} differs by {e:.2e}")
        # finite-difference spot check of the stored gradients (float64)
        fd_err = fd_check(spec, weights, x, lengths, labels, grads_c)
        if fd_err > FD_TOL:
            fails.append(f"finite differences disagree with grads by {fd_err:.2e}")
        # hand-written optimizer step from the float64 gradients
        manual, g_eff = manual_step(spec, weights, [(n, g.numpy()) for n, g in grads])
        merr = 0.0
        for n, ac in after_c:
            e = np.abs(ac - manual[n])
            if spec["train"]["optimizer"] == "adam":
                # step 1 of Adam moves by lr*g/(|g|+eps): only well-conditioned where |g| >> eps
                e = e[np.abs(g_eff[n]) > 1e-5]
            merr = max(merr, float(e.max()) if e.size else 0.0)
        if merr > 1e-5:
            fails.append(f"after_step differs from the hand-written optimizer step by {merr:.2e}")
        clip = spec["train"].get("clip_grad_norm")
        cl = "" if clip is None else f" clip {clip} ({'binds' if norm > clip else 'does not bind'})"
        msgs.append(f"loss {loss:.6f} |g| {norm:.4f}{cl} grad err {gerr:.1e} fd err {fd_err:.1e} "
                    f"step err {serr:.1e} hand-step err {merr:.1e}")
    return not fails, "; ".join(msgs + fails)


def fd_check(spec, weights, x, lengths, labels, grads_c, k=6, h=1e-6):
    """Central differences in float64 on k elements of each of up to 4 parameters."""
    model = mf.RefModel(spec)
    mf.load_weights(model, weights)
    model.double().train()
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(np.ascontiguousarray(labels))
    gc = dict(grads_c)
    params = dict(model.named_parameters())
    rng = np.random.default_rng(0)
    pick = [n for n, _ in weights]
    pick = [pick[i] for i in sorted(rng.choice(len(pick), size=min(4, len(pick)), replace=False))]
    worst = 0.0
    with torch.no_grad():
        for n in pick:
            p = params[n].view(-1)
            for j in rng.choice(p.numel(), size=min(k, p.numel()), replace=False):
                old = p[j].item()
                p[j] = old + h
                lp = mf.compute_loss(spec, model(xt, lengths), yt, lengths).item()
                p[j] = old - h
                lm = mf.compute_loss(spec, model(xt, lengths), yt, lengths).item()
                p[j] = old
                fd = (lp - lm) / (2 * h)
                worst = max(worst, abs(fd - float(gc[n].reshape(-1)[j])))
    return worst


def main(argv):
    err = mf.check_hand_gru_against_nn()
    print(f"self-test: hand-written GRU (linear_before_reset=true) matches nn.GRU, max err {err:.1e}")
    root = mf.FIXTURES
    cases = sorted(c for c in os.listdir(root) if os.path.isfile(os.path.join(root, c, "model.toml")))
    if argv:
        missing = [a for a in argv if a not in cases]
        if missing:
            print(f"no such case: {missing}")
            return 2
        cases = argv
    expected_cases = {c["name"] for c in mf.CASES}
    bad = 0
    for c in cases:
        try:
            ok, msg = check_case(os.path.join(root, c))
        except Exception as e:  # a broken fixture is a failure, not a crash
            ok, msg = False, f"{type(e).__name__}: {e}"
        bad += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {c}: {msg}")
    if not argv:
        for c in sorted(expected_cases - set(cases)):
            bad += 1
            print(f"FAIL {c}: listed in make_fixtures.py but missing under tests/fixtures")
    print(f"all {len(cases)} cases OK" if not bad else f"{bad} failure(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
