// The Python modules of a compiled model: OUT/<name>.py (ctypes + NumPy over
// lib<name>.so) and OUT/<name>_torch.py (a torch.nn.Module whose forward and
// backward run rnnc's kernels). Each is a fixed body of code after a header
// of constants that describe the model; only the header is per model.
#include "codegen/emit.h"

#include <nlohmann/json.hpp>

#include <sstream>

namespace rnnc::codegen {

namespace {

// A Python string literal (the model's name and file come from the user):
// a JSON string with every non-ASCII character escaped is one (\uXXXX reads
// the same in both), so the JSON library writes it.
std::string py_string(const std::string &s) {
  return nlohmann::json(s).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

const char *py_bool(bool b) { return b ? "True" : "False"; }

// The constants both modules start with.
std::string model_constants(const ir::Graph &g, const plan::Plan &p, const std::string &rnnc_version) {
  std::ostringstream o;
  const bool tokens = g.input.kind == InputKind::kTokens;
  o << "NAME = " << py_string(g.name) << "\n"
    << "SOURCE_FILE = " << py_string(g.file) << "\n"
    << "RNNC_VERSION = " << py_string(rnnc_version) << "\n"
    << "INPUT_IS_TOKENS = " << py_bool(tokens) << "\n"
    << "VOCAB = " << (tokens ? g.input.vocab : 0) << "\n"
    << "INPUT_SIZE = " << (tokens ? 0 : g.input.size) << "\n"
    << "OUTPUT_WIDTH = " << p.output_width << "\n"
    << "OUTPUT_PER_STEP = " << py_bool(p.per_step_output) << "\n"
    << "LOSS = "
    << (g.loss == LossKind::kCrossEntropy ? "\"cross_entropy\""
        : g.loss == LossKind::kMse        ? "\"mse\""
                                          : "None")
    << "\n"
    << "# The parameters in state_dict order: (PyTorch name, shape).\n"
    << "PARAMS = [\n";
  for (const ir::Param &par : g.params) {
    o << "    (" << py_string(par.name) << ", (";
    for (size_t d = 0; d < par.shape.size(); ++d) o << (d ? ", " : "") << par.shape[d];
    o << (par.shape.size() == 1 ? ",))" : "))") << ",\n";
  }
  o << "]\n"
    << "# The recurrent entries in h_0 order: ([[layers]] index, layers x directions,\n"
    << "# width of h, width of c (0: no cell state)).\n"
    << "STATES = [\n";
  for (size_t i = 0; i < p.states.size();) {
    size_t j = i;
    while (j < p.states.size() && p.states[j].layer == p.states[i].layer) ++j;
    o << "    (" << p.states[i].layer << ", " << j - i << ", " << p.states[i].hidden << ", " << p.states[i].c_hidden
      << "),\n";
    i = j;
  }
  o << "]\n";
  return o.str();
}

// The body of <name>.py, after the constants.
constexpr const char *kModelBody = R"PY(
import ctypes as _ct
import os as _os
from collections import OrderedDict as _OrderedDict

import numpy as _np

HAS_CELL_STATE = any(c > 0 for _, _, _, c in STATES)
NUM_PARAMS = sum(int(_np.prod(s)) for _, s in PARAMS)


class RnncError(RuntimeError):
    """A call into lib<name>.so failed; the message is the library's."""


class _Lib:
    """lib<name>.so from this file's directory, its functions typed."""

    def __init__(self):
        path = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "lib" + NAME + ".so")
        try:
            self.dll = _ct.CDLL(path)
        except OSError as e:
            raise RnncError("cannot load %s: %s" % (path, e)) from None
        P, I, I64, U64 = _ct.c_void_p, _ct.c_int, _ct.c_int64, _ct.c_uint64
        self.open = self._fn("open", P, _ct.c_char_p)
        self.init = self._fn("init", P, U64)
        self.forward_state = self._fn("forward_state", I, P, P, P, I64, I64, P, P, P, P, P)
        self.forward_train = self._fn("forward_train", I, P, P, P, I64, I64, P, P, I, U64, P, P, P)
        self.backward = self._fn("backward", I, P, P, P, I64, I64, P, P, I, U64, P, P, P)
        self.output_size = self._fn("output_size", I64, I64, I64)
        self.state_size = self._fn("state_size", I64, I64, I)
        self.get_params = self._fn("get_params", I, P, P)
        self.set_params = self._fn("set_params", I, P, P)
        self.loss = self._fn("loss", I, P, P, P, P, I64, I64, P)
        self.gradients = self._fn("gradients", I, P, P, P, P, I64, I64, P, P)
        self.train_step = self._fn("train_step", I, P, P, P, P, I64, I64, P)
        self.save = self._fn("save", I, P, _ct.c_char_p)
        self.set_threads = self._fn("set_threads", I, I)
        self.last_error = self._fn("last_error", _ct.c_char_p)
        self.close = self._fn("close", None, P)

    def _fn(self, name, restype, *argtypes):
        f = getattr(self.dll, NAME + "_" + name)
        f.restype = restype
        f.argtypes = list(argtypes)
        return f

    def check(self, status):
        if status != 0:
            raise RnncError(self.last_error().decode("utf-8", "replace"))


_LIB = None


def _lib():
    global _LIB
    if _LIB is None:
        _LIB = _Lib()
    return _LIB


def _ptr(a):
    return None if a is None else a.ctypes.data_as(_ct.c_void_p)


def _to_numpy(x):
    # torch tensors (and anything else with __array__) become ndarrays.
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return _np.asarray(x)


class Model:
    """Model NAME compiled by rnnc: weights, forward, loss and training steps.

    weights: a safetensors file (PyTorch state_dict names; a checkpoint's
    optim.* tensors are skipped), or None for PyTorch-default initial weights
    drawn from `seed`. threads: the kernels' threads (process-wide; default one
    per core). Use one Model from one thread at a time.
    """

    def __init__(self, weights=None, threads=None, seed=0):
        lib = _lib()
        self._h = None
        if threads is not None:
            lib.check(lib.set_threads(int(threads)))
        if weights is None:
            h = lib.init(int(seed))
        else:
            h = lib.open(_os.fsencode(weights))
        if not h:
            raise RnncError(lib.last_error().decode("utf-8", "replace"))
        self._h = h

    def close(self):
        # (At interpreter exit the library may already be gone: nothing to free then.)
        if getattr(self, "_h", None) and _LIB is not None:
            _LIB.close(self._h)
        self._h = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise RnncError("the model is closed")
        return self._h

    # --- arguments ---------------------------------------------------------

    @staticmethod
    def _inputs(x):
        a = _to_numpy(x)
        if INPUT_IS_TOKENS:
            if a.ndim != 2:
                raise ValueError("inputs: token ids [n, t] expected, got shape %s" % (a.shape,))
            if a.dtype.kind not in "iu":
                raise TypeError("inputs: token ids must be integers, not %s" % a.dtype)
            if a.size and (a.min() < -2**31 or a.max() >= 2**31):
                raise ValueError("inputs: a token id is outside int32")
            a = _np.ascontiguousarray(a, dtype=_np.int32)
        else:
            if a.ndim != 3 or a.shape[2] != INPUT_SIZE:
                raise ValueError("inputs: features [n, t, %d] expected, got shape %s" % (INPUT_SIZE, a.shape))
            a = _np.ascontiguousarray(a, dtype=_np.float32)
        if a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError("inputs: empty batch (shape %s)" % (a.shape,))
        return a, a.shape[0], a.shape[1]

    @staticmethod
    def _lengths(lengths, n):
        if lengths is None:
            return None
        a = _to_numpy(lengths)
        if a.shape != (n,) or a.dtype.kind not in "iu":
            raise ValueError("lengths: integers [%d] expected, got %s %s" % (n, a.dtype, a.shape))
        return _np.ascontiguousarray(a, dtype=_np.int32)

    @staticmethod
    def _states(value, cell, n, what):
        """h0/c0 as the library's flat layout: one array [layers x directions, n,
        width] per recurrent entry, or a list of them in model order."""
        if value is None:
            return None
        entries = [(i, rows, (c if cell else h)) for i, rows, h, c in STATES if not cell or c > 0]
        if not entries:
            raise ValueError("%s: the model has no %s" % (what, "cell states" if cell else "recurrent layer"))
        arrays = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(arrays) != len(entries):
            raise ValueError("%s: %d arrays expected (one per recurrent entry), got %d" %
                             (what, len(entries), len(arrays)))
        flat = []
        for (layer, rows, width), a in zip(entries, arrays):
            a = _to_numpy(a)
            if a.shape != (rows, n, width):
                raise ValueError("%s for layers.%d: shape %s expected, got %s" % (what, layer, (rows, n, width), a.shape))
            flat.append(_np.ascontiguousarray(a, dtype=_np.float32).reshape(-1))
        return _np.concatenate(flat)

    @staticmethod
    def _split_states(flat, cell, n):
        out, at = [], 0
        for _, rows, h, c in STATES:
            width = c if cell else h
            if cell and c == 0:
                continue
            out.append(flat[at:at + rows * n * width].reshape(rows, n, width))
            at += rows * n * width
        return out[0] if len(out) == 1 else out

    def _labels(self, labels, n, t):
        a = _to_numpy(labels)
        rows = (n, t) if OUTPUT_PER_STEP else (n,)
        if LOSS == "cross_entropy":
            if a.shape != rows or a.dtype.kind not in "iu":
                raise ValueError("labels: integer class ids %s expected, got %s %s" % (rows, a.dtype, a.shape))
            return _np.ascontiguousarray(a, dtype=_np.int32)
        if LOSS == "mse":
            if a.shape != rows + (OUTPUT_WIDTH,):
                raise ValueError("labels: targets %s expected, got %s" % (rows + (OUTPUT_WIDTH,), a.shape))
            return _np.ascontiguousarray(a, dtype=_np.float32)
        raise RnncError("model %s has no loss ([loss] kind = \"none\")" % NAME)

    def _out(self, n, t):
        return _np.empty((n, t, OUTPUT_WIDTH) if OUTPUT_PER_STEP else (n, OUTPUT_WIDTH), dtype=_np.float32)

    def _run_forward(self, call, x, lengths, h0, c0, extra):
        lib = _lib()
        xa, n, t = self._inputs(x)
        la = self._lengths(lengths, n)
        h0a = self._states(h0, False, n, "h0")
        c0a = self._states(c0, True, n, "c0")
        out = self._out(n, t)
        states = h0 is not None or c0 is not None
        h_n = _np.empty(lib.state_size(n, 0), dtype=_np.float32) if states else None
        c_n = _np.empty(lib.state_size(n, 1), dtype=_np.float32) if states and HAS_CELL_STATE else None
        lib.check(call(self._handle(), _ptr(xa), _ptr(la), n, t, _ptr(h0a), _ptr(c0a), *extra, _ptr(out), _ptr(h_n),
                       _ptr(c_n)))
        if not states:
            return out
        result = (out, self._split_states(h_n, False, n))
        return result + (self._split_states(c_n, True, n),) if HAS_CELL_STATE else result

    # --- inference ---------------------------------------------------------

    def forward(self, x, lengths=None, h0=None, c0=None):
        """The outputs of the last layer, float32 [n, OUTPUT_WIDTH] (or [n, t,
        OUTPUT_WIDTH] with 0 at padded positions for a per-step readout), as
        the program's `predict` writes them. x: token ids [n, t] or features
        [n, t, INPUT_SIZE]; lengths: [n] in 1..t (None: all t). With h0 or c0
        (PyTorch's layout, one array per recurrent entry or a list of them)
        returns (outputs, h_n) or, for models with LSTM entries, (outputs, h_n,
        c_n)."""
        return self._run_forward(_lib().forward_state, x, lengths, h0, c0, ())

    __call__ = forward

    # --- training ----------------------------------------------------------

    def loss(self, x, labels, lengths=None):
        """The loss in inference mode (dropout off), PyTorch's mean reduction."""
        xa, n, t = self._inputs(x)
        la, ya = self._lengths(lengths, n), self._labels(labels, n, t)
        value = _ct.c_double()
        _lib().check(_lib().loss(self._handle(), _ptr(xa), _ptr(la), _ptr(ya), n, t, _ct.byref(value)))
        return value.value

    def gradients(self, x, labels, lengths=None):
        """(loss, OrderedDict name -> gradient) in training mode, no update."""
        xa, n, t = self._inputs(x)
        la, ya = self._lengths(lengths, n), self._labels(labels, n, t)
        flat = _np.empty(NUM_PARAMS, dtype=_np.float32)
        value = _ct.c_double()
        _lib().check(_lib().gradients(self._handle(), _ptr(xa), _ptr(la), _ptr(ya), n, t, _ptr(flat), _ct.byref(value)))
        return value.value, self._unflatten(flat)

    def train_step(self, x, labels, lengths=None):
        """One optimizer step with the model file's [train] settings (clipping
        included); returns the batch's loss before the step."""
        xa, n, t = self._inputs(x)
        la, ya = self._lengths(lengths, n), self._labels(labels, n, t)
        value = _ct.c_double()
        _lib().check(_lib().train_step(self._handle(), _ptr(xa), _ptr(la), _ptr(ya), n, t, _ct.byref(value)))
        return value.value

    def forward_train(self, x, lengths=None, h0=None, c0=None, dropout=True, seed=0):
        """forward() in training mode: dropout on (masks drawn from `seed`) or
        off; the outputs backward() differentiates for the same arguments."""
        return self._run_forward(_lib().forward_train, x, lengths, h0, c0, (1 if dropout else 0, int(seed)))

    def backward(self, x, grad_outputs, lengths=None, h0=None, c0=None, dropout=True, seed=0, input_grad=False):
        """Runs forward_train(x, lengths, h0, c0, dropout, seed) again and the
        backward pass from grad_outputs (dL/d outputs, shaped as the outputs).
        Returns (OrderedDict name -> dL/d parameter, dL/d x or None); dL/d x
        only for features inputs, when input_grad is true."""
        lib = _lib()
        xa, n, t = self._inputs(x)
        la = self._lengths(lengths, n)
        h0a = self._states(h0, False, n, "h0")
        c0a = self._states(c0, True, n, "c0")
        g = _np.ascontiguousarray(_to_numpy(grad_outputs), dtype=_np.float32)
        if g.shape != self._out(n, t).shape:
            raise ValueError("grad_outputs: shape %s expected, got %s" % (self._out(n, t).shape, g.shape))
        if input_grad and INPUT_IS_TOKENS:
            raise ValueError("input_grad: token ids have no gradient (the embedding's is among the parameters')")
        flat = _np.empty(NUM_PARAMS, dtype=_np.float32)
        dx = _np.empty((n, t, INPUT_SIZE), dtype=_np.float32) if input_grad else None
        lib.check(lib.backward(self._handle(), _ptr(xa), _ptr(la), n, t, _ptr(h0a), _ptr(c0a), 1 if dropout else 0,
                               int(seed), _ptr(g), _ptr(flat), _ptr(dx)))
        return self._unflatten(flat), dx

    # --- parameters --------------------------------------------------------

    @staticmethod
    def _unflatten(flat):
        d, at = _OrderedDict(), 0
        for name, shape in PARAMS:
            size = int(_np.prod(shape))
            d[name] = flat[at:at + size].reshape(shape).copy()
            at += size
        return d

    def state_dict(self):
        """The parameters as an OrderedDict of float32 arrays under PyTorch's names."""
        flat = _np.empty(NUM_PARAMS, dtype=_np.float32)
        _lib().check(_lib().get_params(self._handle(), _ptr(flat)))
        return self._unflatten(flat)

    def load_state_dict(self, state_dict, strict=True):
        """Replaces the parameters from a mapping name -> array (NumPy or torch);
        strict: unknown names are an error too. Nothing changes on error."""
        known = set(name for name, _ in PARAMS)
        if strict:
            unexpected = [k for k in state_dict if k not in known]
            if unexpected:
                raise KeyError("load_state_dict: unexpected tensor '%s' (model %s has no such parameter)" %
                               (unexpected[0], NAME))
        flat = self.state_dict() if not strict else None
        parts = []
        for name, shape in PARAMS:
            if name not in state_dict:
                if strict:
                    raise KeyError("load_state_dict: missing tensor '%s'" % name)
                parts.append(flat[name].reshape(-1))
                continue
            a = _to_numpy(state_dict[name])
            if tuple(a.shape) != tuple(shape):
                raise ValueError("load_state_dict: tensor '%s' has shape %s, the model's is %s" %
                                 (name, tuple(a.shape), tuple(shape)))
            parts.append(_np.asarray(a, dtype=_np.float32).reshape(-1))
        self.set_flat_params(_np.concatenate(parts) if parts else _np.empty(0, _np.float32))

    def set_flat_params(self, flat):
        """Replaces the parameters from one float32 array of NUM_PARAMS elements
        in PARAMS order (each tensor row-major), as the C API lays them out."""
        flat = _np.ascontiguousarray(flat, dtype=_np.float32)
        if flat.shape != (NUM_PARAMS,):
            raise ValueError("set_flat_params: %d floats expected, got shape %s" % (NUM_PARAMS, flat.shape))
        _lib().check(_lib().set_params(self._handle(), _ptr(flat)))

    def save(self, path):
        """Writes the weights as safetensors (atomically)."""
        _lib().check(_lib().save(self._handle(), _os.fsencode(path)))
)PY";

// The body of <name>_torch.py, after the constants.
constexpr const char *kTorchBody = R"PY(
import importlib.util as _ilu
import itertools as _it
import os as _os

import numpy as _np
import torch as _torch


def _load_model_module():
    path = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), NAME + ".py")
    spec = _ilu.spec_from_file_location("_rnnc_" + NAME, path)
    module = _ilu.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rnnc_model = _load_model_module()
RnncError = rnnc_model.RnncError


def _numpy(t, what):
    if t is None:
        return None
    if not isinstance(t, _torch.Tensor):
        return _np.asarray(t)
    if t.device.type != "cpu":
        raise ValueError("%s: this rnnc build runs on the CPU; move the tensor there first" % what)
    return t.detach().numpy()


def _states_numpy(s, what):
    if s is None:
        return None
    if isinstance(s, (list, tuple)):
        return [_numpy(a, what) for a in s]
    return _numpy(s, what)


def _as_tensors(states):
    if isinstance(states, list):
        return [_torch.from_numpy(a) for a in states]
    return _torch.from_numpy(states)


class _RnncFunction(_torch.autograd.Function):
    """Forward and backward of the whole model through rnnc's kernels; the
    gradients of the parameters and, for features inputs, of x."""

    @staticmethod
    def forward(ctx, module, x, lengths, h0, c0, *params):
        model = module._model
        module._load(params)
        ctx.module, ctx.dropout, ctx.seed = module, module.training, module._next_seed()
        ctx.x_dtype = x.dtype if isinstance(x, _torch.Tensor) else _torch.float32
        ctx.args = (_numpy(x, "x"), _numpy(lengths, "lengths"), _states_numpy(h0, "h0"), _states_numpy(c0, "c0"))
        if LOSS is None:
            result = model.forward(*ctx.args)
        else:
            result = model.forward_train(*ctx.args, dropout=ctx.dropout, seed=ctx.seed)
        ctx.save_for_backward(*params)
        if not isinstance(result, tuple):
            return _torch.from_numpy(result)
        out = [_torch.from_numpy(result[0])]
        states = []
        for s in result[1:]:
            states += _as_tensors(s) if isinstance(s, list) else [_as_tensors(s)]
        ctx.mark_non_differentiable(*states)
        return tuple(out + states)

    @staticmethod
    def backward(ctx, grad_out, *grad_states):
        for g in grad_states:
            if g is not None and bool(_torch.any(g != 0)):
                raise RnncError("rnnc's backward takes the gradient of the outputs only, not of h_n / c_n")
        module = ctx.module
        module._load(ctx.saved_tensors)
        x, lengths, h0, c0 = ctx.args
        want_dx = ctx.needs_input_grad[1] and not rnnc_model.INPUT_IS_TOKENS
        grads, dx = module._model.backward(x, _numpy(grad_out.contiguous(), "grad"), lengths, h0, c0,
                                           dropout=ctx.dropout, seed=ctx.seed, input_grad=want_dx)
        # In the dtypes autograd expects (the kernels run in float32 whatever the module's dtype).
        param_grads = tuple(
            _torch.from_numpy(grads[name]).to(p.dtype) for (name, _), p in zip(rnnc_model.PARAMS, ctx.saved_tensors))
        dx = _torch.from_numpy(dx).to(ctx.x_dtype) if want_dx else None
        return (None, dx, None, None, None) + param_grads


class Module(_torch.nn.Module):
    """Model NAME as a torch.nn.Module: its parameters are torch Parameters
    under the PyTorch names (so state_dict() and load_state_dict() match the
    pure PyTorch model's), its forward and backward run rnnc's kernels, on the
    CPU, in float32. forward(x, lengths=None, h0=None, c0=None) returns the
    outputs, or (outputs, h_n[, c_n]) when initial states are given (the
    states carry no gradient). In training mode dropout masks come from rnnc's
    generator (seeded by `seed`), not from torch's."""

    def __init__(self, weights=None, threads=None, seed=0):
        super().__init__()
        self._model = rnnc_model.Model(weights=weights, threads=threads, seed=seed)
        self._seeds = _it.count(int(seed) * 1000003 + 1)
        self._names = [name for name, _ in rnnc_model.PARAMS]
        for name, value in self._model.state_dict().items():
            owner = self
            *path, leaf = name.split(".")
            for part in path:
                if not hasattr(owner, part):
                    owner.add_module(part, _torch.nn.Module())
                owner = getattr(owner, part)
            owner.register_parameter(leaf, _torch.nn.Parameter(_torch.from_numpy(value)))

    def _next_seed(self):
        return next(self._seeds)

    def _parameters_in_order(self):
        named = dict(self.named_parameters())
        return [named[n] for n in self._names]

    def _load(self, params):
        # The parameters in PARAMS order, as the library takes them.
        self._model.set_flat_params(
            _torch.cat([p.detach().reshape(-1).to(_torch.float32) for p in params]).cpu().numpy())

    def forward(self, x, lengths=None, h0=None, c0=None):
        for s, what in ((h0, "h0"), (c0, "c0")):
            for t in (s if isinstance(s, (list, tuple)) else [s]):
                if isinstance(t, _torch.Tensor) and t.requires_grad:
                    raise ValueError("%s requires grad, but rnnc's backward gives no gradient for initial states" % what)
        result = _RnncFunction.apply(self, x, lengths, h0, c0, *self._parameters_in_order())
        if not isinstance(result, tuple):
            return result
        out, states = result[0], list(result[1:])
        grouped = []
        for cell in (False, True):
            entries = [e for e in rnnc_model.STATES if not cell or e[3] > 0]
            if cell and not rnnc_model.HAS_CELL_STATE:
                break
            group, states = states[:len(entries)], states[len(entries):]
            grouped.append(group[0] if len(group) == 1 else group)
        return (out,) + tuple(grouped)
)PY";

}  // namespace

std::string emit_python_module(const ir::Graph &g, const plan::Plan &p, const std::string &rnnc_version) {
  return "\"\"\"Model " + g.name + " compiled by rnnc " + rnnc_version + " from " + g.file + ": lib" + g.name +
         ".so from Python (ctypes + NumPy).\n\n"
         "    import sys; sys.path.insert(0, OUT)\n"
         "    import " +
         g.name +
         "\n"
         "    m = " +
         g.name +
         ".Model()            # or Model(weights=\"W.safetensors\")\n"
         "    y = m.forward(x, lengths)\n\n"
         "Generated by rnnc; do not edit (regenerate with rnnc compile).\n\"\"\"\n\n" +
         model_constants(g, p, rnnc_version) + kModelBody;
}

std::string emit_torch_module(const ir::Graph &g, const plan::Plan &p, const std::string &rnnc_version) {
  return "\"\"\"Model " + g.name + " compiled by rnnc " + rnnc_version + " from " + g.file +
         " as a torch.nn.Module whose forward and backward run rnnc's kernels (through " + g.name +
         ".py).\n\n"
         "    import sys; sys.path.insert(0, OUT)\n"
         "    import " +
         g.name +
         "_torch\n"
         "    net = " +
         g.name +
         "_torch.Module()   # parameters under the PyTorch names\n"
         "    loss = criterion(net(x, lengths), y); loss.backward()\n\n"
         "Generated by rnnc; do not edit (regenerate with rnnc compile).\n\"\"\"\n\n" +
         model_constants(g, p, rnnc_version) + kTorchBody;
}

}  // namespace rnnc::codegen
