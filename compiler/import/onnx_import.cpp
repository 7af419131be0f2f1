#include "import/onnx_import.h"

#include <onnx/checker.h>
#include <onnx/defs/tensor_proto_util.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "error.h"
#include "frontend/diagnostics.h"
#include "frontend/parser.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "ir/graph.h"

#include <rnnc_version.h>

namespace rnnc::onnx_import {

namespace {

// --- folded constants ----------------------------------------------------------

struct Tensor {
  std::vector<int64_t> dims;
  bool is_float = true;
  std::vector<double> f;   // is_float
  std::vector<int64_t> i;  // !is_float
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
  double at(int64_t k) const { return is_float ? f[k] : static_cast<double>(i[k]); }
  int64_t int_at(int64_t k) const { return is_float ? static_cast<int64_t>(f[k]) : i[k]; }
};

std::vector<int64_t> strides_of(const std::vector<int64_t> &dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

// Gathers elements of t into a new tensor of `dims`, element e taken from
// t's flat index src(e's multi-index).
Tensor remap(const Tensor &t, const std::vector<int64_t> &dims,
             const std::function<int64_t(const std::vector<int64_t> &)> &src) {
  Tensor o;
  o.dims = dims;
  o.is_float = t.is_float;
  const int64_t n = o.numel();
  (o.is_float ? o.f.resize(n) : o.i.resize(n));
  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t e = 0; e < n; ++e) {
    const int64_t s = src(idx);
    if (o.is_float)
      o.f[e] = t.f[s];
    else
      o.i[e] = t.i[s];
    for (int k = static_cast<int>(dims.size()) - 1; k >= 0; --k) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
  return o;
}

// --- abstract values --------------------------------------------------------------

// Axis labels of data-dependent values. kIn0 / kIn1 are the data input's
// first two axes until a recurrent node's layout tells which is time.
enum class Ax { kIn0, kIn1, kBatch, kTime, kFeat, kDir, kState, kOne };

struct Axis {
  Ax label;
  int64_t size = -1;  // known for kFeat, kDir, kState, kOne
};

struct Value {
  enum Kind { kMissing, kConst, kShape, kZeros, kGraphInput, kDyn };
  enum Form { kSeq, kY, kStates, kVec, kLengths, kStateInput };
  Kind kind = kMissing;
  Tensor t;                               // kConst
  int64_t shape_len = 0;                  // kShape: its element count (the values are not needed: the only
                                          // consumers make zero initial states, accepted whatever their shape)
  std::string input;                      // kGraphInput, kStateInput, kLengths: the graph input
  std::vector<int64_t> in_dims;           // kGraphInput: -1 where dynamic
  std::vector<std::string> in_dim_names;  // kGraphInput: the dynamic dimensions' names ("" if none)
  bool in_int = false;                    // kGraphInput: an integer element type
  Form form = kSeq;
  std::vector<Axis> axes;    // kDyn
  int stage = -1;            // kDyn kSeq/kY/kVec: the chain layer whose output this is (-1: the data)
  std::vector<int> states;   // kStates / kVec from states: global state indices
  bool cell = false;         // kStates: c rather than h
  int64_t state_offset = 0;  // kStateInput: the first state it covers
  bool from_states = false;  // kVec: a concatenation of states
  int pending_bias = -1;     // kDyn: output of a MatMul (chain layer) awaiting its bias
};

// --- the layer chain being built ---------------------------------------------------

enum class CellKind { kRnn, kLstm, kGru };

struct Recurrent {
  CellKind cell = CellKind::kLstm;
  int64_t hidden = 0, input = 0;
  int dirs = 1;
  bool bias = true, relu = false, lbr = true, peepholes = false, input_forget = false;
  bool reverse = false;  // direction = "reverse" (dirs = 1)
  double clip = 0;
  std::string node;  // for messages
  // per direction, PyTorch layouts and gate order
  std::vector<Tensor> w_ih, w_hh, b_ih, b_hh, peep;
  enum Init { kZero, kGiven } h0 = kZero, c0 = kZero;
  std::string h0_input, c0_input;
  int first_state = 0;  // global index of its first state
};

struct ChainLayer {
  enum Kind { kEmbedding, kRecurrent, kReadout, kLinear } kind;
  Tensor weight;  // embedding [V, D]; linear [O, I]
  Tensor bias;    // linear, when has_bias
  bool has_bias = false;
  Recurrent rec;
  std::string mode;  // readout
};

class Importer {
 public:
  explicit Importer(const ImportOptions &opt) : opt_(opt) {}

  ImportReport run();

 private:
  const ImportOptions &opt_;
  onnx::ModelProto model_;
  std::map<std::string, Value> values_;
  std::vector<ChainLayer> chain_;
  int states_ = 0;          // states so far (h of every recurrent direction)
  std::map<Ax, Ax> roles_;  // kIn0 / kIn1 → kBatch / kTime
  std::string data_input_, lengths_input_;
  bool tokens_ = false;
  int64_t vocab_ = 0, feat_in_ = 0;
  std::string data_desc_;                  // the data input's ONNX shape, for the report
  const onnx::NodeProto *node_ = nullptr;  // being mapped, for messages
  std::vector<std::string> bindings_;
  std::set<std::string> used_inputs_;
  // Elements constant folding may still create (all folded tensors
  // together): 2^26 plus two per byte of the file, so that folding, whose
  // outputs can outgrow its inputs (ConstantOfShape, Expand, broadcasting,
  // Gather), needs memory in proportion to the file.
  int64_t fold_budget_ = 0;

  // --- errors -------------------------------------------------------------------
  [[noreturn]] void fail(const std::string &why) const {
    if (node_) {
      const std::string name = node_->name().empty() ? "(unnamed, output '" + node_->output(0) + "')" : node_->name();
      throw ImportError(opt_.onnx_path + ": node '" + name + "' (" + node_->op_type() + "): " + why);
    }
    throw ImportError(opt_.onnx_path + ": " + why);
  }

  // --- helpers over values ----------------------------------------------------------
  const Value &value(const std::string &name) {
    auto it = values_.find(name);
    if (it == values_.end())
      fail("input '" + name + "' is neither an initializer, a graph input nor an earlier output");
    return it->second;
  }
  const Value *input(int k) {
    if (k >= node_->input_size() || node_->input(k).empty()) return nullptr;
    return &value(node_->input(k));
  }
  const Value &need(int k, const char *what) {
    const Value *v = input(k);
    if (!v) fail(std::string("missing input ") + std::to_string(k) + " (" + what + ")");
    return *v;
  }
  const Tensor &need_const(int k, const char *what) {
    const Value &v = need(k, what);
    if (v.kind != Value::kConst)
      fail(std::string("input '") + node_->input(k) + "' (" + what +
           ") must be a constant (an initializer or computed from initializers only)");
    return v.t;
  }
  // t, which becomes weights of the model: it must hold floating-point values.
  const Tensor &weights(const Tensor &t, const std::string &what) const {
    if (!t.is_float) fail(what + " holds integers; weights must be float or double tensors");
    return t;
  }
  void set_output(int k, Value v) {
    if (k < node_->output_size() && !node_->output(k).empty()) values_[node_->output(k)] = std::move(v);
  }

  const onnx::AttributeProto *attr(const char *name) const {
    for (const auto &a : node_->attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_int(const char *name, int64_t def) const {
    const auto *a = attr(name);
    return a ? a->i() : def;
  }
  double attr_float(const char *name, double def) const {
    const auto *a = attr(name);
    return a ? a->f() : def;
  }
  std::vector<int64_t> attr_ints(const char *name) const {
    const auto *a = attr(name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
  }
  // An int list from the attribute (older opsets) or the input k (newer).
  std::optional<std::vector<int64_t>> ints_from(const char *name, int k) {
    if (attr(name)) return attr_ints(name);
    if (const Value *v = input(k)) {
      if (v->kind != Value::kConst) fail(std::string("'") + name + "' must be a constant");
      std::vector<int64_t> out;
      for (int64_t e = 0; e < v->t.numel(); ++e) out.push_back(v->t.int_at(e));
      return out;
    }
    return std::nullopt;
  }

  // Slice's bounds: attributes before opset 10, constant inputs from then on.
  struct SliceArgs {
    std::vector<int64_t> starts, ends, axes, steps;
  };
  SliceArgs slice_args() {
    SliceArgs a;
    a.starts = ints_from("starts", 1).value_or(std::vector<int64_t>{});
    a.ends = ints_from("ends", 2).value_or(std::vector<int64_t>{});
    a.axes = ints_from("axes", 3).value_or(std::vector<int64_t>{});
    a.steps = ints_from("steps", 4).value_or(std::vector<int64_t>{});
    return a;
  }

  Tensor tensor_of(const onnx::TensorProto &tp, const std::string &what);
  void fold(const std::string &op);
  void charge_fold(const std::vector<int64_t> &dims);
  void map_node();
  void map_recurrent(CellKind cell);
  void map_reshape(const Value &x, const std::string &op);
  void map_state_pick(const Value &x, const std::string &op);
  void map_last_step(const Value &x, const std::string &op);
  Value to_data(const Value &v);
  Value as_dyn(const Value &v);
  Ax role(Ax a) const {
    auto it = roles_.find(a);
    return it == roles_.end() ? a : it->second;
  }
  void assign_role(Ax in, Ax want);
  int axis_of(const Value &v, Ax label) const {
    for (size_t k = 0; k < v.axes.size(); ++k)
      if (role(v.axes[k].label) == label) return static_cast<int>(k);
    return -1;
  }
  // Transpose's perm must be a permutation of 0..rank-1 (found by fuzzing:
  // an out-of-range entry indexed past the axes).
  void check_perm(const std::vector<int64_t> &perm, size_t rank) {
    std::vector<char> seen(rank, 0);
    bool ok = perm.size() == rank;
    for (int64_t p : perm) {
      if (!ok) break;
      ok = p >= 0 && p < static_cast<int64_t>(rank) && !seen[p];
      if (ok) seen[p] = 1;
    }
    if (!ok) fail("perm is not a permutation of the " + std::to_string(rank) + " axes");
  }
  int normal_axis(int64_t axis, size_t rank) {
    const int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r) fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
    return static_cast<int>(axis < 0 ? axis + r : axis);
  }
  // A single direction's Y without its direction axis is a sequence; one
  // state without its state axis is a vector.
  Value without_lost_axes(Value o) const {
    if (o.form == Value::kY && axis_of(o, Ax::kDir) < 0) o.form = Value::kSeq;
    if (o.form == Value::kStates && axis_of(o, Ax::kState) < 0) {
      o.form = Value::kVec;
      o.from_states = true;
    }
    return o;
  }
  void add_readout(const std::string &mode, int last_stage);
  void readout_states(const Value &v, const std::string &what);
  int end_recurrent() const;
  void linear(const Value &x, Tensor w, std::optional<Tensor> b);
  void attach_bias(ChainLayer &l, const Tensor &b);
  std::string axes_str(const Value &v) const;
  void finish(ImportReport &rep);
  std::string write_toml(const std::string &name) const;
  void write_weights(const ir::Graph &graph) const;
};

// --- reading tensors -------------------------------------------------------------

Tensor Importer::tensor_of(const onnx::TensorProto &tp, const std::string &what) {
  Tensor t;
  for (int64_t d : tp.dims()) {
    if (d < 0) fail(what + " has a negative dimension");
    t.dims.push_back(d);
  }
  if (tp.data_location() == onnx::TensorProto::EXTERNAL)
    fail(what + " keeps its data in an external file; save the model with its weights inside");
  const int64_t n = rnnc_rt::checked_numel(t.dims);
  if (n < 0 || n > (int64_t{1} << 31)) fail(what + " has more than 2^31 elements");
  // ONNX's own reader of a tensor's values (raw_data or the typed field).
  int64_t have = 0;
  try {
    switch (tp.data_type()) {
      case onnx::TensorProto::FLOAT: {
        const std::vector<float> v = onnx::ParseData<float>(&tp);
        t.f.assign(v.begin(), v.end());
        have = static_cast<int64_t>(v.size());
        break;
      }
      case onnx::TensorProto::DOUBLE:
        t.f = onnx::ParseData<double>(&tp);
        have = static_cast<int64_t>(t.f.size());
        break;
      case onnx::TensorProto::INT64:
        t.is_float = false;
        t.i = onnx::ParseData<int64_t>(&tp);
        have = static_cast<int64_t>(t.i.size());
        break;
      case onnx::TensorProto::INT32: {
        t.is_float = false;
        const std::vector<int32_t> v = onnx::ParseData<int32_t>(&tp);
        t.i.assign(v.begin(), v.end());
        have = static_cast<int64_t>(v.size());
        break;
      }
      default:
        fail(what + " has element type " + std::to_string(tp.data_type()) +
             "; only float, double, int32 and int64 tensors are read");
    }
  } catch (const ImportError &) {
    throw;
  } catch (const std::exception &e) {
    fail(what + ": " + e.what());
  }
  if (have != n) fail(what + " holds " + std::to_string(have) + " values for shape " + rnnc_rt::shape_str(t.dims));
  for (double v : t.f)
    if (!std::isfinite(v)) fail(what + " holds a non-finite value");
  return t;
}

// --- constant folding ----------------------------------------------------------------

Tensor slice_tensor(const Tensor &t, const std::vector<int64_t> &starts, const std::vector<int64_t> &ends,
                    const std::vector<int64_t> &axes_in, const std::vector<int64_t> &steps_in,
                    std::vector<int64_t> *first = nullptr, std::vector<int64_t> *step_out = nullptr) {
  const size_t r = t.dims.size();
  // Malformed arguments are std::invalid_argument, which the callers report
  // as the node's error (found by fuzzing: tests/fuzz/FINDINGS.md).
  if (ends.size() != starts.size() || (!axes_in.empty() && axes_in.size() != starts.size()) ||
      (!steps_in.empty() && steps_in.size() != starts.size()))
    throw std::invalid_argument("Slice: starts, ends, axes and steps differ in length");
  std::vector<int64_t> lo(r, 0), step(r, 1), dims = t.dims;
  std::vector<char> seen(r, 0);
  for (size_t q = 0; q < starts.size(); ++q) {
    int64_t a = axes_in.empty() ? static_cast<int64_t>(q) : axes_in[q];
    if (a < -static_cast<int64_t>(r) || a >= static_cast<int64_t>(r))
      throw std::invalid_argument("Slice: axis " + std::to_string(a) + " is outside the tensor's " +
                                  std::to_string(r) + " dimensions");
    if (a < 0) a += static_cast<int64_t>(r);
    if (seen[a]) throw std::invalid_argument("Slice: axis " + std::to_string(a) + " is sliced twice");
    seen[a] = 1;
    const int64_t n = t.dims[a];
    int64_t s = steps_in.empty() ? 1 : steps_in[q];
    if (s == 0) throw std::invalid_argument("Slice: step 0");
    // A step longer than the axis picks at most one element: clamping it
    // keeps the arithmetic below from overflowing without changing that.
    s = std::clamp<int64_t>(s, -(n + 1), n + 1);
    int64_t b = starts[q], e = ends[q];
    if (b < 0) b += n;
    if (e < 0) e += n;
    if (s > 0) {
      b = std::clamp<int64_t>(b, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      dims[a] = e > b ? 1 + (e - b - 1) / s : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      dims[a] = b > e ? 1 + (b - e - 1) / -s : 0;
    }
    lo[a] = b;
    step[a] = s;
  }
  if (first) *first = lo;
  if (step_out) *step_out = step;
  const std::vector<int64_t> st = strides_of(t.dims);
  return remap(t, dims, [&](const std::vector<int64_t> &idx) {
    int64_t s = 0;
    for (size_t k = 0; k < r; ++k) s += (lo[k] + idx[k] * step[k]) * st[k];
    return s;
  });
}

// A folded tensor of `dims` is about to be made: its dimensions must be
// non-negative and its elements fit in what is left of the fold budget.
void Importer::charge_fold(const std::vector<int64_t> &dims) {
  for (int64_t d : dims)
    if (d < 0) fail("would make a tensor of shape " + rnnc_rt::shape_str(dims) + ", with a negative dimension");
  const int64_t n = rnnc_rt::checked_numel(dims);
  if (n < 0 || n > fold_budget_)
    fail("would make a constant of shape " + rnnc_rt::shape_str(dims) +
         (n < 0 ? std::string(" (more elements than int64 counts)") : " (" + std::to_string(n) + " elements)") +
         ", more than constant folding may create for this file (2^26 elements plus two per byte of the file, " +
         "all folded tensors together)");
  fold_budget_ -= n;
}

void Importer::fold(const std::string &op) {
  auto c = [&](int k) -> const Tensor & { return need_const(k, "operand"); };
  Value out;
  out.kind = Value::kConst;
  Tensor &o = out.t;
  // Ops whose output can outgrow their inputs charge it before making it;
  // the others (copies, slices, reshapes) after.
  bool charged = false;
  auto charge = [&](const std::vector<int64_t> &dims) {
    charge_fold(dims);
    charged = true;
  };
  if (op == "Identity" || op == "Dropout") {
    o = c(0);
  } else if (op == "Cast") {
    o = c(0);
    const int64_t to = attr_int("to", 1);
    const bool to_float = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
    if (to_float && !o.is_float) {
      o.f.assign(o.i.begin(), o.i.end());
      o.i.clear();
      o.is_float = true;
    } else if (!to_float && o.is_float) {
      for (double v : o.f) o.i.push_back(static_cast<int64_t>(v));
      o.f.clear();
      o.is_float = false;
    }
  } else if (op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" || op == "Flatten") {
    o = c(0);
    std::vector<int64_t> d;
    if (op == "Reshape") {
      const Tensor &s = c(1);
      int infer = -1;
      int64_t known = 1;
      for (int64_t e = 0; e < s.numel(); ++e) {
        int64_t v = s.int_at(e);
        if (v == 0 && !attr_int("allowzero", 0)) v = e < static_cast<int64_t>(o.dims.size()) ? o.dims[e] : 0;
        if (v < -1) fail("Reshape to a negative dimension " + std::to_string(v));
        if (v == -1 && infer >= 0) fail("Reshape with more than one dimension -1");
        if (v == -1) infer = static_cast<int>(e);
        d.push_back(v);
        if (v != -1 && __builtin_mul_overflow(known, v, &known)) fail("Reshape to more elements than int64 counts");
      }
      if (infer >= 0) d[infer] = known ? o.numel() / known : 0;
    } else if (op == "Flatten") {
      const int a = normal_axis(attr_int("axis", 1), o.dims.size() + 1);
      int64_t lead = 1;
      for (int k = 0; k < a; ++k) lead *= o.dims[k];
      d = {lead, lead ? o.numel() / lead : 0};
    } else if (op == "Squeeze") {
      std::optional<std::vector<int64_t>> axes = ints_from("axes", 1);
      for (size_t k = 0; k < o.dims.size(); ++k) {
        bool drop = !axes ? o.dims[k] == 1 : false;
        if (axes)
          for (int64_t a : *axes) drop |= normal_axis(a, o.dims.size()) == static_cast<int>(k);
        if (!drop) d.push_back(o.dims[k]);
      }
    } else {
      std::optional<std::vector<int64_t>> axes = ints_from("axes", 1);
      if (!axes) fail("Unsqueeze without axes");
      const size_t r = o.dims.size() + axes->size();
      std::vector<bool> is_new(r, false);
      for (int64_t a : *axes) is_new[normal_axis(a, r)] = true;
      size_t q = 0;
      for (size_t k = 0; k < r; ++k) d.push_back(is_new[k] ? 1 : o.dims[q++]);
    }
    if (rnnc_rt::checked_numel(d) != o.numel())
      fail("cannot reshape " + rnnc_rt::shape_str(o.dims) + " to " + rnnc_rt::shape_str(d));
    o.dims = d;
  } else if (op == "Transpose") {
    const Tensor &t = c(0);
    std::vector<int64_t> perm = attr_ints("perm");
    if (perm.empty())
      for (size_t k = 0; k < t.dims.size(); ++k) perm.insert(perm.begin(), static_cast<int64_t>(k));
    check_perm(perm, t.dims.size());
    std::vector<int64_t> d;
    for (int64_t p : perm) d.push_back(t.dims[p]);
    charge(d);
    const std::vector<int64_t> st = strides_of(t.dims);
    o = remap(t, d, [&](const std::vector<int64_t> &idx) {
      int64_t s = 0;
      for (size_t k = 0; k < idx.size(); ++k) s += idx[k] * st[perm[k]];
      return s;
    });
  } else if (op == "Concat") {
    const Tensor &first = c(0);
    const int a = normal_axis(attr_int("axis", 0), first.dims.size());
    std::vector<const Tensor *> parts;
    for (int k = 0; k < node_->input_size(); ++k) parts.push_back(&c(k));
    std::vector<int64_t> d = first.dims;
    d[a] = 0;
    for (const Tensor *p : parts) {
      if (p->dims.size() != first.dims.size()) fail("Concat of tensors of different ranks");
      for (size_t k = 0; k < d.size(); ++k)
        if (static_cast<int>(k) != a && p->dims[k] != first.dims[k])
          fail("Concat of " + rnnc_rt::shape_str(first.dims) + " and " + rnnc_rt::shape_str(p->dims) +
               ", which differ off the axis");
      d[a] += p->dims[a];
    }
    charge(d);
    o.dims = d;
    o.is_float = first.is_float;
    int64_t outer = 1;
    for (int k = 0; k < a; ++k) outer *= d[k];
    for (int64_t q = 0; q < outer; ++q)
      for (const Tensor *p : parts) {
        const int64_t chunk = p->numel() / std::max<int64_t>(outer, 1);
        for (int64_t e = 0; e < chunk; ++e) {
          if (o.is_float)
            o.f.push_back(p->at(q * chunk + e));
          else
            o.i.push_back(p->int_at(q * chunk + e));
        }
      }
  } else if (op == "Slice") {
    const Tensor &t = c(0);
    const SliceArgs sa = slice_args();
    try {
      o = slice_tensor(t, sa.starts, sa.ends, sa.axes, sa.steps);
    } catch (const std::invalid_argument &e) {
      fail(e.what());
    }
  } else if (op == "Gather") {
    const Tensor &t = c(0), &ix = c(1);
    const int a = normal_axis(attr_int("axis", 0), t.dims.size());
    std::vector<int64_t> d(t.dims.begin(), t.dims.begin() + a);
    d.insert(d.end(), ix.dims.begin(), ix.dims.end());
    d.insert(d.end(), t.dims.begin() + a + 1, t.dims.end());
    charge(d);
    const std::vector<int64_t> st = strides_of(t.dims);
    const size_t ir = ix.dims.size();
    const std::vector<int64_t> ist = strides_of(ix.dims);
    o = remap(t, d, [&](const std::vector<int64_t> &idx) {
      int64_t s = 0;
      for (int k = 0; k < a; ++k) s += idx[k] * st[k];
      int64_t flat = 0;
      for (size_t k = 0; k < ir; ++k) flat += idx[a + k] * ist[k];
      int64_t v = ix.int_at(flat);
      if (v < 0) v += t.dims[a];
      if (v < 0 || v >= t.dims[a]) fail("Gather index " + std::to_string(v) + " is out of range");
      s += v * st[a];
      for (size_t k = a + 1; k < t.dims.size(); ++k) s += idx[k + ir - 1] * st[k];
      return s;
    });
  } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    const Tensor &x = c(0), &y = c(1);
    // numpy broadcasting
    const size_t r = std::max(x.dims.size(), y.dims.size());
    std::vector<int64_t> d(r), xd(r, 1), yd(r, 1);
    std::copy(x.dims.begin(), x.dims.end(), xd.begin() + (r - x.dims.size()));
    std::copy(y.dims.begin(), y.dims.end(), yd.begin() + (r - y.dims.size()));
    for (size_t k = 0; k < r; ++k) {
      if (xd[k] != yd[k] && xd[k] != 1 && yd[k] != 1) fail("operands do not broadcast");
      d[k] = std::max(xd[k], yd[k]);
    }
    charge(d);
    const std::vector<int64_t> xs = strides_of(xd), ys = strides_of(yd);
    o.dims = d;
    o.is_float = x.is_float || y.is_float;
    std::vector<int64_t> idx(r, 0);
    const int64_t n = o.numel();
    for (int64_t e = 0; e < n; ++e) {
      int64_t a = 0, b = 0;
      for (size_t k = 0; k < r; ++k) {
        a += (xd[k] == 1 ? 0 : idx[k]) * xs[k];
        b += (yd[k] == 1 ? 0 : idx[k]) * ys[k];
      }
      if (o.is_float) {
        const double u = x.at(a), v = y.at(b);
        o.f.push_back(op == "Add" ? u + v : op == "Sub" ? u - v : op == "Mul" ? u * v : u / v);
      } else {
        const int64_t u = x.int_at(a), v = y.int_at(b);
        if (op == "Div" && v == 0) fail("integer division by zero");
        o.i.push_back(op == "Add" ? u + v : op == "Sub" ? u - v : op == "Mul" ? u * v : u / v);
      }
      for (int k = static_cast<int>(r) - 1; k >= 0; --k) {
        if (++idx[k] < d[k]) break;
        idx[k] = 0;
      }
    }
  } else if (op == "Expand") {
    const Tensor &x = c(0), &shape = c(1);
    std::vector<int64_t> want;
    for (int64_t e = 0; e < shape.numel(); ++e) want.push_back(shape.int_at(e));
    const size_t r = std::max(x.dims.size(), want.size());
    std::vector<int64_t> xd(r, 1), wd(r, 1), d(r);
    std::copy(x.dims.begin(), x.dims.end(), xd.begin() + (r - x.dims.size()));
    std::copy(want.begin(), want.end(), wd.begin() + (r - want.size()));
    for (size_t k = 0; k < r; ++k) {
      if (xd[k] != wd[k] && xd[k] != 1 && wd[k] != 1)
        fail("cannot expand " + rnnc_rt::shape_str(x.dims) + " to " + rnnc_rt::shape_str(want));
      d[k] = std::max(xd[k], wd[k]);
    }
    charge(d);
    const std::vector<int64_t> xs = strides_of(xd);
    o = remap(x, d, [&](const std::vector<int64_t> &idx) {
      int64_t s = 0;
      for (size_t k = 0; k < r; ++k) s += (xd[k] == 1 ? 0 : idx[k]) * xs[k];
      return s;
    });
  } else if (op == "Shape") {
    const Tensor &t = c(0);
    o.is_float = false;
    o.dims = {static_cast<int64_t>(t.dims.size())};
    o.i = t.dims;
  } else if (op == "ConstantOfShape") {
    const Tensor &s = c(0);
    double fill = 0;
    bool is_float = true;
    if (const auto *a = attr("value")) {
      const Tensor v = tensor_of(a->t(), "its value");
      fill = v.numel() ? v.at(0) : 0;
      is_float = v.is_float;
    }
    for (int64_t e = 0; e < s.numel(); ++e) o.dims.push_back(s.int_at(e));
    charge(o.dims);
    o.is_float = is_float;
    if (is_float)
      o.f.assign(o.numel(), fill);
    else
      o.i.assign(o.numel(), static_cast<int64_t>(fill));
  } else {
    fail("this operator is not folded over constants");
  }
  if (!charged) charge_fold(o.dims);
  set_output(0, out);
}

// --- data-dependent values ---------------------------------------------------------------

void Importer::assign_role(Ax in, Ax want) {
  if (in != Ax::kIn0 && in != Ax::kIn1) {
    if (role(in) != want)
      fail(std::string("expects its ") + (want == Ax::kTime ? "time" : "batch") +
           " axis where the value has another axis");
    return;
  }
  auto it = roles_.find(in);
  if (it != roles_.end() && it->second != want) fail("the data input's axes are used both as batch and as time");
  roles_[in] = want;
  roles_[in == Ax::kIn0 ? Ax::kIn1 : Ax::kIn0] = want == Ax::kTime ? Ax::kBatch : Ax::kTime;
}

// A graph input used as the model's data.
Value Importer::to_data(const Value &v) {
  if (!data_input_.empty() && data_input_ != v.input)
    fail("graph input '" + v.input + "' is used as data, but '" + data_input_ +
         "' already is (an rnnc model has one data input)");
  data_input_ = v.input;
  used_inputs_.insert(v.input);
  Value d;
  d.kind = Value::kDyn;
  d.form = Value::kSeq;
  d.stage = -1;
  const size_t r = v.in_dims.size();
  if (v.in_int) {
    if (r != 2)
      fail("integer data input '" + v.input + "' must be [batch, time] token ids, not rank " + std::to_string(r));
    d.axes = {{Ax::kIn0}, {Ax::kIn1}};
  } else {
    if (r != 3)
      fail("data input '" + v.input +
           "' must be rank 3 ([time, batch, features] or [batch, time, "
           "features]), not rank " +
           std::to_string(r));
    if (v.in_dims[2] <= 0) fail("data input '" + v.input + "' has a dynamic feature size; it must be fixed");
    d.axes = {{Ax::kIn0}, {Ax::kIn1}, {Ax::kFeat, v.in_dims[2]}};
    feat_in_ = v.in_dims[2];
  }
  tokens_ = v.in_int;
  data_desc_ = "[";
  for (size_t k = 0; k < r; ++k)
    data_desc_ += (k ? ", " : "") + (v.in_dims[k] > 0             ? std::to_string(v.in_dims[k])
                                     : !v.in_dim_names[k].empty() ? v.in_dim_names[k]
                                                                  : std::string("?"));
  data_desc_ += "]";
  return d;
}

Value Importer::as_dyn(const Value &v) {
  if (v.kind == Value::kDyn) return v;
  if (v.kind == Value::kGraphInput) return to_data(v);
  fail("expects a data-dependent input here");
}

std::string Importer::axes_str(const Value &v) const {
  std::string s = "[";
  for (size_t k = 0; k < v.axes.size(); ++k) {
    const Axis &a = v.axes[k];
    s += k ? ", " : "";
    switch (role(a.label)) {
      case Ax::kBatch:
        s += "N";
        break;
      case Ax::kTime:
        s += "T";
        break;
      case Ax::kIn0:
      case Ax::kIn1:
        s += "?";
        break;
      default:
        s += std::to_string(a.size);
    }
  }
  return s + "]";
}

int Importer::end_recurrent() const {
  return !chain_.empty() && chain_.back().kind == ChainLayer::kRecurrent ? static_cast<int>(chain_.size()) - 1 : -1;
}

void Importer::add_readout(const std::string &mode, int last_stage) {
  if (last_stage != end_recurrent())
    fail("reads out a recurrent layer's outputs after later layers were added (rnnc models are one chain)");
  ChainLayer l;
  l.kind = ChainLayer::kReadout;
  l.mode = mode;
  chain_.push_back(l);
}

// Final states used as a vector: rnnc's readout 'last' when they are the last
// layer's, forward then reverse.
void Importer::readout_states(const Value &v, const std::string &what) {
  const int end = end_recurrent();
  if (end < 0) fail(what + " reads final states after later layers");
  const Recurrent &r = chain_[end].rec;
  std::vector<int> want;
  for (int d = 0; d < r.dirs; ++d) want.push_back(r.first_state + d);
  if (v.states != want || v.cell)
    fail(what +
         " uses final states other than the last layer's h (forward, then reverse): rnnc's readout 'last' "
         "is exactly those");
  add_readout("last", end);
}

// A linear layer on x (a Seq or a Vec): out = x W^T (+ b).
// The linear layer's bias, from Gemm's C or the Add after a MatMul.
void Importer::attach_bias(ChainLayer &l, const Tensor &b) {
  weights(b, "the bias");
  if (b.numel() != l.weight.dims[0])
    fail("bias of " + std::to_string(b.numel()) + " values for " + std::to_string(l.weight.dims[0]) + " outputs");
  l.bias = b;
  l.bias.dims = {l.weight.dims[0]};
  l.has_bias = true;
}

void Importer::linear(const Value &xin, Tensor w, std::optional<Tensor> b) {
  weights(w, "the weight matrix");  // the bias is checked by attach_bias
  Value x = as_dyn(xin);
  if (x.form == Value::kSeq && x.stage >= 0 && chain_[x.stage].kind == ChainLayer::kRecurrent) {
    add_readout("all", x.stage);
    x.stage = static_cast<int>(chain_.size()) - 1;
  }
  if (x.form == Value::kVec && x.from_states) {
    readout_states(x, "the linear layer");
    x.stage = static_cast<int>(chain_.size()) - 1;
  }
  if (x.form != Value::kSeq && x.form != Value::kVec) fail("a linear layer needs per-step outputs or a readout");
  if (x.stage != static_cast<int>(chain_.size()) - 1 || chain_.empty() || chain_.back().kind == ChainLayer::kEmbedding)
    fail("a linear layer must follow the readout (rnnc models are one chain)");
  if (x.axes.back().label != Ax::kFeat) fail("a linear layer must act on the feature axis (the last)");
  const int64_t in = x.axes.back().size;
  if (w.dims.size() != 2 || w.dims[1] != in)
    fail("weight " + rnnc_rt::shape_str(w.dims) + " does not fit " + std::to_string(in) + " input features");
  ChainLayer l;
  l.kind = ChainLayer::kLinear;
  l.weight = w;
  if (b) attach_bias(l, *b);
  chain_.push_back(l);
  Value o = x;
  o.axes.back().size = w.dims[0];
  o.stage = static_cast<int>(chain_.size()) - 1;
  o.from_states = false;
  o.states.clear();
  o.pending_bias = b ? -1 : o.stage;
  set_output(0, o);
}

Tensor transposed(const Tensor &w) {
  Tensor o =
      remap(w, {w.dims[1], w.dims[0]}, [&](const std::vector<int64_t> &idx) { return idx[1] * w.dims[1] + idx[0]; });
  return o;
}

// Rows of one direction of an ONNX weight [dirs, G*H, K] in PyTorch's gate
// order: torch gate q is ONNX gate order[q].
Tensor gate_rows(const Tensor &w, int dir, int64_t h, const std::vector<int> &order, int64_t offset_rows = 0) {
  const int64_t k = w.dims.size() == 3 ? w.dims[2] : 1;
  const int64_t per_dir = w.numel() / w.dims[0];
  Tensor o;
  o.dims = w.dims.size() == 3 ? std::vector<int64_t>{static_cast<int64_t>(order.size()) * h, k}
                              : std::vector<int64_t>{static_cast<int64_t>(order.size()) * h};
  for (size_t q = 0; q < order.size(); ++q)
    for (int64_t j = 0; j < h; ++j)
      for (int64_t c = 0; c < k; ++c) o.f.push_back(w.f[dir * per_dir + (offset_rows + order[q] * h + j) * k + c]);
  return o;
}

void Importer::map_recurrent(CellKind cell) {
  const std::string op = node_->op_type();
  static const std::set<std::string> known = {"activation_alpha",   "activation_beta", "activations",  "clip",
                                              "direction",          "hidden_size",     "input_forget", "layout",
                                              "linear_before_reset"};
  for (const auto &a : node_->attribute()) {
    if (!known.count(a.name())) fail("unknown attribute '" + a.name() + "'");
    if ((a.name() == "input_forget" && cell != CellKind::kLstm) ||
        (a.name() == "linear_before_reset" && cell != CellKind::kGru))
      fail("attribute '" + a.name() + "' does not belong to " + op);
    if (a.name() == "activation_alpha" || a.name() == "activation_beta")
      fail("attribute '" + a.name() + "' is not supported (rnnc has only the default activations, and Relu for RNN)");
  }
  Recurrent rc;
  rc.cell = cell;
  rc.node = node_->name().empty() ? "output " + node_->output(0) : node_->name();
  const auto *hs = attr("hidden_size");
  if (!hs) fail("attribute 'hidden_size' is missing: rnnc needs the hidden size fixed in the model");
  rc.hidden = hs->i();
  if (rc.hidden < 1 || rc.hidden > kMaxSize) fail("hidden_size " + std::to_string(rc.hidden) + " is out of range");
  const auto *dir = attr("direction");
  const std::string direction = dir ? dir->s() : "forward";
  if (direction == "bidirectional") {
    rc.dirs = 2;
  } else if (direction == "reverse") {
    rc.reverse = true;
  } else if (direction != "forward") {
    fail("attribute 'direction' is '" + direction + "'; expected forward, reverse or bidirectional");
  }
  const int64_t layout = attr_int("layout", 0);
  if (layout != 0 && layout != 1) fail("attribute 'layout' must be 0 or 1");
  rc.clip = attr_float("clip", 0);
  if (attr("clip") && !(rc.clip > 0)) fail("attribute 'clip' must be positive");
  rc.input_forget = attr_int("input_forget", 0) != 0;
  rc.lbr = cell != CellKind::kGru || attr_int("linear_before_reset", 0) != 0;
  // activations: the defaults per direction; Relu for RNN.
  const std::vector<std::string> defaults = cell == CellKind::kLstm
                                                ? std::vector<std::string>{"sigmoid", "tanh", "tanh"}
                                            : cell == CellKind::kGru ? std::vector<std::string>{"sigmoid", "tanh"}
                                                                     : std::vector<std::string>{"tanh"};
  if (const auto *acts = attr("activations")) {
    std::vector<std::string> got;
    for (const auto &s : acts->strings()) {
      std::string l = s;
      for (char &ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      got.push_back(l);
    }
    bool ok = got.size() == defaults.size() * rc.dirs;
    bool relu = false;
    for (size_t k = 0; ok && k < got.size(); ++k) {
      const std::string &want = defaults[k % defaults.size()];
      if (cell == CellKind::kRnn && got[k] == "relu") {
        relu = true;
        if (k > 0 && got[0] != "relu") ok = false;
      } else if (got[k] != want || (cell == CellKind::kRnn && relu)) {
        ok = false;
      }
    }
    if (!ok) {
      std::string list;
      for (const auto &s : acts->strings()) list += (list.empty() ? "" : ", ") + s;
      fail("attribute 'activations' [" + list + "] is not supported: rnnc runs the default activations" +
           std::string(cell == CellKind::kRnn ? " (Tanh) or Relu" : "") + " in every direction");
    }
    rc.relu = relu;
  }

  // X
  Value x = as_dyn(need(0, "X"));
  if (x.form != Value::kSeq || x.axes.size() != 3) fail("X must be a sequence [time, batch, features]");
  const Ax t_label = x.axes[layout == 0 ? 0 : 1].label, n_label = x.axes[layout == 0 ? 1 : 0].label;
  if (x.axes[2].label != Ax::kFeat) fail("X's last axis must be the features");
  assign_role(t_label, Ax::kTime);
  assign_role(n_label, Ax::kBatch);
  const int last = static_cast<int>(chain_.size()) - 1;
  if (x.stage != last) fail("X is not the output of the layer before (rnnc models are one chain)");
  if (!chain_.empty() && chain_.back().kind != ChainLayer::kEmbedding && chain_.back().kind != ChainLayer::kRecurrent)
    fail("a recurrent layer after the readout or a linear layer is not an rnnc model");
  rc.input = x.axes[2].size;

  // W, R, B, P
  const int gates = cell == CellKind::kLstm ? 4 : cell == CellKind::kGru ? 3 : 1;
  const int64_t gh = gates * rc.hidden;
  const Tensor &w = weights(need_const(1, "W"), "W");
  const Tensor &r = weights(need_const(2, "R"), "R");
  if (w.dims != std::vector<int64_t>{rc.dirs, gh, rc.input})
    fail("W is " + rnnc_rt::shape_str(w.dims) + ", expected " + rnnc_rt::shape_str({rc.dirs, gh, rc.input}) +
         " for hidden_size " + std::to_string(rc.hidden) + " and " + std::to_string(rc.input) + " input features");
  if (r.dims != std::vector<int64_t>{rc.dirs, gh, rc.hidden})
    fail("R is " + rnnc_rt::shape_str(r.dims) + ", expected " + rnnc_rt::shape_str({rc.dirs, gh, rc.hidden}));
  const Tensor *b = nullptr;
  if (const Value *bv = input(3)) {
    if (bv->kind != Value::kConst) fail("B must be a constant");
    b = &weights(bv->t, "B");
    if (b->dims != std::vector<int64_t>{rc.dirs, 2 * gh})
      fail("B is " + rnnc_rt::shape_str(b->dims) + ", expected " + rnnc_rt::shape_str({rc.dirs, 2 * gh}));
  }
  rc.bias = b != nullptr;
  const Tensor *p = nullptr;
  if (cell == CellKind::kLstm)
    if (const Value *pv = input(7)) {
      if (pv->kind != Value::kConst) fail("P must be a constant");
      p = &weights(pv->t, "P");
      if (p->dims != std::vector<int64_t>{rc.dirs, 3 * rc.hidden})
        fail("P is " + rnnc_rt::shape_str(p->dims) + ", expected " + rnnc_rt::shape_str({rc.dirs, 3 * rc.hidden}));
      rc.peepholes = true;
    }
  const std::vector<int> order = cell == CellKind::kLstm  ? std::vector<int>{0, 2, 3, 1}  // iofc → ifgo
                                 : cell == CellKind::kGru ? std::vector<int>{1, 0, 2}     // zrh → rzn
                                                          : std::vector<int>{0};
  for (int d = 0; d < rc.dirs; ++d) {
    rc.w_ih.push_back(gate_rows(w, d, rc.hidden, order));
    rc.w_hh.push_back(gate_rows(r, d, rc.hidden, order));
    if (b) {
      rc.b_ih.push_back(gate_rows(*b, d, rc.hidden, order));
      rc.b_hh.push_back(gate_rows(*b, d, rc.hidden, order, gh));
    }
    if (p) rc.peep.push_back(gate_rows(*p, d, rc.hidden, {0, 2, 1}));  // iof → ifo
  }

  // sequence_lens, initial_h, initial_c
  if (const Value *sl = input(4)) {
    if (sl->kind == Value::kConst) fail("sequence_lens is a constant; rnnc takes the lengths at run time (--lengths)");
    if (sl->kind != Value::kGraphInput || sl->in_dims.size() != 1)
      fail("sequence_lens must be a graph input of shape [batch]");
    if (!lengths_input_.empty() && lengths_input_ != sl->input)
      fail("sequence_lens '" + sl->input + "' differs from an earlier layer's '" + lengths_input_ + "'");
    lengths_input_ = sl->input;
    used_inputs_.insert(sl->input);
  }
  auto initial = [&](int k, const char *what, Recurrent::Init &init, std::string &name) {
    const Value *v = input(k);
    if (!v || v->kind == Value::kZeros) return;
    if (v->kind == Value::kConst) {
      for (int64_t e = 0; e < v->t.numel(); ++e)
        if (v->t.at(e) != 0)
          fail(std::string(what) + " is a constant non-zero tensor; rnnc takes initial states at run time (" +
               (k == 5 ? "--h0" : "--c0") + "): make it a graph input");
      return;
    }
    Value s = *v;
    if (s.kind == Value::kGraphInput) {
      s.kind = Value::kDyn;
      s.form = Value::kStateInput;
      s.state_offset = 0;
    }
    if (s.kind != Value::kDyn || s.form != Value::kStateInput)
      fail(std::string(what) + " must be zeros, a graph input or a slice of one along its first axis");
    if (s.state_offset != states_)
      fail(std::string(what) + " covers states from " + std::to_string(s.state_offset) + ", but this layer's are " +
           std::to_string(states_) + ".. (rnnc's --h0 / --c0 hold every layer's states in order)");
    init = Recurrent::kGiven;
    name = s.input;
    used_inputs_.insert(s.input);
  };
  initial(5, "initial_h", rc.h0, rc.h0_input);
  if (cell == CellKind::kLstm) initial(6, "initial_c", rc.c0, rc.c0_input);
  rc.first_state = states_;

  ChainLayer cl;
  cl.kind = ChainLayer::kRecurrent;
  cl.rec = rc;
  chain_.push_back(cl);
  const int stage = static_cast<int>(chain_.size()) - 1;

  // Y: [T, dirs, N, H] (layout 0) or [N, T, dirs, H]; Y_h, Y_c: [dirs, N, H] or [N, dirs, H].
  Value y;
  y.kind = Value::kDyn;
  y.form = Value::kY;
  y.stage = stage;
  const Axis T{t_label}, N{n_label}, D{Ax::kDir, rc.dirs}, H{Ax::kFeat, rc.hidden};
  y.axes = layout == 0 ? std::vector<Axis>{T, D, N, H} : std::vector<Axis>{N, T, D, H};
  set_output(0, y);
  Value yh;
  yh.kind = Value::kDyn;
  yh.form = Value::kStates;
  yh.stage = stage;
  const Axis S{Ax::kState, rc.dirs};
  yh.axes = layout == 0 ? std::vector<Axis>{S, N, H} : std::vector<Axis>{N, S, H};
  for (int d = 0; d < rc.dirs; ++d) yh.states.push_back(states_ + d);
  set_output(1, yh);
  if (cell == CellKind::kLstm) {
    yh.cell = true;
    set_output(2, yh);
  }
  states_ += rc.dirs;
}

// Reshape / Flatten of a data-dependent value: merging a direction axis into
// the features that follow it ([.., dirs, H] → [.., dirs·H]) and dropping or
// adding size-1 axes.
void Importer::map_reshape(const Value &x, const std::string &op) {
  std::vector<int64_t> target;
  if (op == "Reshape") {
    const Tensor &s = need_const(1, "shape");
    for (int64_t e = 0; e < s.numel(); ++e) target.push_back(s.int_at(e));
  } else {
    const int a = normal_axis(attr_int("axis", 1), x.axes.size() + 1);
    if (a != static_cast<int>(x.axes.size()) - 1 && a != static_cast<int>(x.axes.size()) - 2)
      fail("Flatten of a data-dependent tensor is supported over its last two axes only");
    for (int k = 0; k < a; ++k) target.push_back(0);
    target.push_back(-1);
  }
  Value o = x;
  o.pending_bias = -1;
  o.axes.clear();
  size_t q = 0;  // next input axis
  for (size_t k = 0; k < target.size(); ++k) {
    int64_t t = target[k];
    while (q < x.axes.size() && x.axes[q].size == 1 && !(t == 1 && k == q) && !(t == 0 && k == q)) {
      // a size-1 input axis that is dropped
      if (x.axes[q].label == Ax::kFeat) break;
      ++q;
    }
    if (q >= x.axes.size()) {
      if (t == 1) {
        o.axes.push_back({Ax::kOne, 1});
        continue;
      }
      fail("cannot reshape " + axes_str(x) + " to " + rnnc_rt::shape_str(target));
    }
    const Axis &a = x.axes[q];
    if (t == 0 && !attr_int("allowzero", 0)) {
      if (k != q) fail("cannot reshape " + axes_str(x) + " to " + rnnc_rt::shape_str(target));
      o.axes.push_back(a);
      ++q;
    } else if (a.size < 0) {
      // batch or time: only kept (0, or -1 standing for it alone)
      if (t != -1) fail("reshapes the batch or time axis to a fixed size");
      o.axes.push_back(a);
      ++q;
    } else if (a.label == Ax::kDir && q + 1 < x.axes.size() && x.axes[q + 1].label == Ax::kFeat &&
               (t == -1 || t == a.size * x.axes[q + 1].size)) {
      o.axes.push_back({Ax::kFeat, a.size * x.axes[q + 1].size});
      q += 2;
    } else if (t == a.size || (t == -1 && q + 1 == x.axes.size())) {
      o.axes.push_back(a);
      ++q;
    } else if (t == 1) {
      o.axes.push_back({Ax::kOne, 1});
    } else {
      fail("cannot reshape " + axes_str(x) + " to " + rnnc_rt::shape_str(target));
    }
  }
  while (q < x.axes.size() && x.axes[q].size == 1) ++q;
  if (q != x.axes.size()) fail("cannot reshape " + axes_str(x) + " to " + rnnc_rt::shape_str(target));
  set_output(0, without_lost_axes(o));
  return;
}

// Gather / Slice along the states axis of final states.
void Importer::map_state_pick(const Value &x, const std::string &op) {
  const int sa = axis_of(x, Ax::kState);
  std::vector<int64_t> pick;
  bool keep_axis = true;
  const int64_t n = static_cast<int64_t>(x.states.size());
  if (op == "Gather") {
    if (normal_axis(attr_int("axis", 0), x.axes.size()) != sa) fail("gathers states along another axis");
    const Tensor &ix = need_const(1, "indices");
    keep_axis = !ix.dims.empty();
    for (int64_t e = 0; e < ix.numel(); ++e) pick.push_back(ix.int_at(e) < 0 ? ix.int_at(e) + n : ix.int_at(e));
  } else {
    const SliceArgs args = slice_args();
    if (args.starts.size() != 1 || (args.axes.empty() ? 0 : normal_axis(args.axes[0], x.axes.size())) != sa)
      fail("slices states along another axis");
    Tensor idx;
    idx.is_float = false;
    idx.dims = {n};
    for (int64_t e = 0; e < n; ++e) idx.i.push_back(e);
    try {
      pick = slice_tensor(idx, args.starts, args.ends, {0}, args.steps).i;
    } catch (const std::invalid_argument &e) {
      fail(e.what());
    }
  }
  Value o = x;
  o.states.clear();
  for (int64_t k : pick) {
    if (k < 0 || k >= n) fail("state index out of range");
    o.states.push_back(x.states[k]);
  }
  if (keep_axis) {
    o.axes[sa].size = static_cast<int64_t>(o.states.size());
  } else {
    o.axes.erase(o.axes.begin() + sa);
    o.form = Value::kVec;
    o.from_states = true;
  }
  set_output(0, o);
  return;
}

// The last time step of a forward layer's outputs: rnnc's readout 'last'.
void Importer::map_last_step(const Value &x, const std::string &op) {
  const int ta = axis_of(x, Ax::kTime);
  int64_t at;
  bool keep_axis = true;
  if (op == "Gather") {
    if (normal_axis(attr_int("axis", 0), x.axes.size()) != ta) fail("gathers outputs along another axis than time");
    const Tensor &ix = need_const(1, "indices");
    if (ix.numel() != 1) fail("gathers several time steps");
    at = ix.int_at(0);
    keep_axis = !ix.dims.empty();
  } else {
    const SliceArgs args = slice_args();
    if (args.starts.size() != 1 || args.axes.size() != 1 || normal_axis(args.axes[0], x.axes.size()) != ta)
      fail("slices outputs along another axis than time");
    at = args.starts[0];
  }
  if (at != -1) fail("picks time step " + std::to_string(at) + "; only the last (-1) maps to a readout");
  if (x.stage < 0 || chain_[x.stage].kind != ChainLayer::kRecurrent || chain_[x.stage].rec.dirs != 1)
    fail(
        "the last time step is rnnc's readout 'last' only for a forward layer's outputs (for a bidirectional "
        "layer use its final states Y_h)");
  add_readout("last", x.stage);
  Value o = x;
  o.form = Value::kVec;
  o.stage = static_cast<int>(chain_.size()) - 1;
  if (keep_axis)
    o.axes[ta] = {Ax::kOne, 1};
  else
    o.axes.erase(o.axes.begin() + ta);
  if (o.axes.size() == 3 && o.axes[1].label == Ax::kDir) o.axes.erase(o.axes.begin() + 1);
  set_output(0, o);
  return;
}

void Importer::map_node() {
  const std::string op = node_->op_type();
  if (op == "Constant") {
    const auto *a = attr("value");
    if (!a) fail("only Constant nodes with a 'value' tensor are read");
    Value v;
    v.kind = Value::kConst;
    v.t = tensor_of(a->t(), "its value");
    set_output(0, v);
    return;
  }
  if (op == "LSTM") return map_recurrent(CellKind::kLstm);
  if (op == "GRU") return map_recurrent(CellKind::kGru);
  if (op == "RNN") return map_recurrent(CellKind::kRnn);

  // Constant subgraphs fold.
  bool all_const = node_->input_size() > 0;
  for (int k = 0; k < node_->input_size(); ++k) {
    const Value *v = input(k);
    if (v && v->kind != Value::kConst) all_const = false;
  }
  if (all_const && op != "Split") return fold(op);

  if (op == "Identity" || op == "Dropout") {
    set_output(0, need(0, "input"));
    return;
  }
  if (op == "Split") {
    const Tensor &t = need_const(0, "input");
    const int a = normal_axis(attr_int("axis", 0), t.dims.size());
    std::vector<int64_t> sizes = attr_ints("split");
    if (sizes.empty() && input(1)) {
      const Tensor &s = need_const(1, "split");
      for (int64_t e = 0; e < s.numel(); ++e) sizes.push_back(s.int_at(e));
    }
    if (node_->output_size() < 1) fail("has no outputs");
    if (sizes.empty()) sizes.assign(node_->output_size(), t.dims[a] / node_->output_size());
    if (static_cast<int64_t>(sizes.size()) < node_->output_size())
      fail("gives " + std::to_string(sizes.size()) + " split sizes for " + std::to_string(node_->output_size()) +
           " outputs");
    int64_t at = 0;
    for (int k = 0; k < node_->output_size(); ++k) {
      Value v;
      v.kind = Value::kConst;
      if (sizes[k] < 0 || sizes[k] > t.dims[a] - at) fail("split sizes exceed the axis");
      v.t = slice_tensor(t, {at}, {at + sizes[k]}, {a}, {});
      charge_fold(v.t.dims);
      at += sizes[k];
      set_output(k, v);
    }
    return;
  }
  if (op == "Shape") {
    const Value x = as_dyn(need(0, "data"));
    Value s;
    s.kind = Value::kShape;
    s.shape_len = static_cast<int64_t>(x.axes.size());
    set_output(0, s);
    return;
  }
  if (op == "ConstantOfShape") {
    const Value &s = need(0, "shape");
    if (s.kind != Value::kShape) fail("the shape must be a constant or come from Shape");
    if (const auto *a = attr("value")) {
      const Tensor v = tensor_of(a->t(), "its value");
      if (v.numel() && v.at(0) != 0)
        fail("a data-dependent tensor filled with " + std::to_string(v.at(0)) +
             ": only zeros (initial states) are supported");
    }
    Value z;
    z.kind = Value::kZeros;
    set_output(0, z);
    return;
  }

  const Value &x0 = need(0, "input");
  if (op == "Expand" && x0.kind == Value::kConst && input(1) && input(1)->kind == Value::kShape) {
    // A constant broadcast to a data-dependent shape: zero initial states only.
    for (int64_t e = 0; e < x0.t.numel(); ++e)
      if (x0.t.at(e) != 0)
        fail("a data-dependent tensor filled with " + std::to_string(x0.t.at(e)) +
             ": only zeros (initial states) are supported");
    Value z;
    z.kind = Value::kZeros;
    set_output(0, z);
    return;
  }
  // Shape arithmetic (the zero initial states' shapes).
  if (x0.kind == Value::kShape || (op == "Concat" && [&] {
        for (int k = 0; k < node_->input_size(); ++k)
          if (input(k) && input(k)->kind == Value::kShape) return true;
        return false;
      }())) {
    Value s;
    s.kind = Value::kShape;
    if (op == "Gather") {
      const Tensor &ix = need_const(1, "indices");
      if (ix.numel() != 1) fail("gathers more than one element of a shape");
      int64_t k = ix.int_at(0);
      if (k < 0) k += x0.shape_len;
      if (k < 0 || k >= x0.shape_len) fail("index out of range");
      s.shape_len = 1;
    } else if (op == "Unsqueeze" || op == "Squeeze" || op == "Cast" || op == "Reshape") {
      s = x0;
    } else if (op == "Concat") {
      for (int k = 0; k < node_->input_size(); ++k) {
        const Value &v = need(k, "part");
        if (v.kind == Value::kShape) {
          s.shape_len += v.shape_len;
        } else if (v.kind == Value::kConst) {
          s.shape_len += v.t.numel();
        } else {
          fail("concatenates a shape with a tensor");
        }
      }
    } else if (op == "Slice") {
      fail("slices of a data-dependent shape are not supported");
    } else {
      fail("this operator on a data-dependent shape is not supported");
    }
    set_output(0, s);
    return;
  }
  if (x0.kind == Value::kZeros) {
    if (op == "Slice" || op == "Reshape" || op == "Unsqueeze" || op == "Squeeze" || op == "Cast" || op == "Expand" ||
        op == "Transpose") {
      set_output(0, x0);  // still zeros, of whatever shape: a zero state needs none
      return;
    }
    fail("this operator on a zero initial state is not supported");
  }
  if (x0.kind == Value::kGraphInput && op == "Slice") {
    // initial states of one layer out of a graph input holding every layer's
    Value s;
    s.kind = Value::kDyn;
    s.form = Value::kStateInput;
    s.input = x0.input;
    const SliceArgs sa = slice_args();
    if (!sa.steps.empty() && sa.steps != std::vector<int64_t>(sa.steps.size(), 1)) fail("Slice with a step");
    if (sa.starts.size() != 1 || (!sa.axes.empty() && sa.axes[0] != 0))
      fail("an initial state must be sliced along its first axis only");
    s.state_offset = sa.starts[0];
    set_output(0, s);
    return;
  }

  if (op == "Gather" && input(1) && (input(1)->kind == Value::kGraphInput || input(1)->kind == Value::kDyn) &&
      x0.kind == Value::kConst) {
    // The embedding: rows of a constant table picked by the token ids.
    if (attr_int("axis", 0) != 0) fail("an embedding gathers rows (axis 0)");
    Value ids = as_dyn(*input(1));
    if (ids.stage != -1 || !tokens_) fail("an embedding's indices must be the integer data input");
    if (!chain_.empty()) fail("an embedding must come first");
    if (x0.t.dims.size() != 2) fail("the embedding table must be [vocab, dim], not " + rnnc_rt::shape_str(x0.t.dims));
    ChainLayer l;
    l.kind = ChainLayer::kEmbedding;
    l.weight = weights(x0.t, "the embedding table");
    chain_.push_back(l);
    vocab_ = x0.t.dims[0];
    Value e = ids;
    e.axes.push_back({Ax::kFeat, x0.t.dims[1]});
    e.stage = 0;
    set_output(0, e);
    return;
  }

  if (op == "Gemm") {
    if (attr_int("transA", 0)) fail("transA = 1 is not supported");
    Tensor w = need_const(1, "B");
    if (w.dims.size() != 2) fail("B must be a matrix");
    if (!attr_int("transB", 0)) w = transposed(w);
    const double alpha = attr_float("alpha", 1.0), beta = attr_float("beta", 1.0);
    for (double &v : w.f) v *= alpha;
    std::optional<Tensor> bias;
    if (input(2)) {
      bias = need_const(2, "C");
      for (double &v : bias->f) v *= beta;
    }
    Value a = as_dyn(x0);
    if (a.axes.size() != 2) fail("Gemm's A must be [batch, features]");
    return linear(a, w, bias);
  }
  if (op == "MatMul") {
    const Tensor &w = need_const(1, "B");
    if (w.dims.size() != 2) fail("MatMul by a constant matrix [in, out] only");
    return linear(x0, transposed(w), std::nullopt);
  }
  if (op == "Add") {
    const Value *a = &x0, *b = input(1);
    if (!b) fail("missing operand");
    if (a->kind == Value::kConst) std::swap(a, b);
    if (a->kind != Value::kDyn || b->kind != Value::kConst || a->pending_bias < 0)
      fail("only the bias of a linear layer (MatMul + Add) is supported");
    ChainLayer &l = chain_[a->pending_bias];
    if (a->pending_bias != static_cast<int>(chain_.size()) - 1) fail("a bias added after later layers");
    attach_bias(l, b->t);
    Value o = *a;
    o.pending_bias = -1;
    set_output(0, o);
    return;
  }

  Value x = as_dyn(x0);
  if (op == "Cast") {
    set_output(0, x);
    return;
  }
  if (op == "Transpose") {
    std::vector<int64_t> perm = attr_ints("perm");
    if (perm.empty())
      for (size_t k = 0; k < x.axes.size(); ++k) perm.insert(perm.begin(), static_cast<int64_t>(k));
    check_perm(perm, x.axes.size());
    Value o = x;
    for (size_t k = 0; k < perm.size(); ++k) o.axes[k] = x.axes[perm[k]];
    o.pending_bias = -1;
    set_output(0, o);
    return;
  }
  if (op == "Squeeze" || op == "Unsqueeze") {
    std::optional<std::vector<int64_t>> axes = ints_from("axes", 1);
    Value o = x;
    o.pending_bias = -1;
    if (op == "Unsqueeze") {
      if (!axes) fail("Unsqueeze without axes");
      const size_t r = x.axes.size() + axes->size();
      std::vector<bool> is_new(r, false);
      for (int64_t a : *axes) is_new[normal_axis(a, r)] = true;
      o.axes.clear();
      size_t q = 0;
      for (size_t k = 0; k < r; ++k) o.axes.push_back(is_new[k] ? Axis{Ax::kOne, 1} : x.axes[q++]);
    } else {
      o.axes.clear();
      for (size_t k = 0; k < x.axes.size(); ++k) {
        bool drop = false;
        if (axes) {
          for (int64_t a : *axes) drop |= normal_axis(a, x.axes.size()) == static_cast<int>(k);
        } else {
          drop = x.axes[k].size == 1;
        }
        if (drop && x.axes[k].size != 1) fail("squeezes an axis whose size is not 1");
        if (!drop) o.axes.push_back(x.axes[k]);
      }
    }
    set_output(0, without_lost_axes(o));
    return;
  }
  if (op == "Reshape" || op == "Flatten") {
    return map_reshape(x, op);
  }
  if ((op == "Gather" || op == "Slice") && x.form == Value::kStates) {
    return map_state_pick(x, op);
  }
  if (op == "Concat") {
    std::vector<Value> parts;
    for (int k = 0; k < node_->input_size(); ++k) parts.push_back(as_dyn(need(k, "part")));
    const int a = normal_axis(attr_int("axis", 0), parts[0].axes.size());
    Value o = parts[0];
    o.states.clear();
    for (const Value &p : parts) {
      if (p.form != parts[0].form || p.axes.size() != parts[0].axes.size() || p.cell != parts[0].cell)
        fail("concatenates values of different kinds");
      if (p.form != Value::kStates && !(p.form == Value::kVec && p.from_states))
        fail("only final states are concatenated (of layers, or of directions into a readout)");
      o.states.insert(o.states.end(), p.states.begin(), p.states.end());
    }
    int64_t size = 0;
    for (const Value &p : parts) size += p.axes[a].size;
    if (o.form == Value::kStates && role(o.axes[a].label) != Ax::kState) fail("concatenates states along another axis");
    if (o.form == Value::kVec && o.axes[a].label != Ax::kFeat) fail("concatenates vectors along another axis");
    o.axes[a].size = size;
    set_output(0, o);
    return;
  }
  if ((op == "Gather" || op == "Slice") && (x.form == Value::kSeq || x.form == Value::kY)) {
    return map_last_step(x, op);
  }
  if (op == "ReduceMean") {
    std::optional<std::vector<int64_t>> axes = ints_from("axes", 1);
    const int ta = axis_of(x, Ax::kTime);
    if (x.form != Value::kSeq || !axes || axes->size() != 1 || normal_axis((*axes)[0], x.axes.size()) != ta)
      fail("only the mean over the time axis of a recurrent layer's outputs is supported (readout 'mean')");
    add_readout("mean", x.stage);
    Value o = x;
    o.form = Value::kVec;
    o.stage = static_cast<int>(chain_.size()) - 1;
    if (attr_int("keepdims", 1))
      o.axes[ta] = {Ax::kOne, 1};
    else
      o.axes.erase(o.axes.begin() + ta);
    set_output(0, o);
    return;
  }
  fail(
      "cannot be mapped onto an rnnc model (supported: LSTM, GRU, RNN, the embedding Gather, Gemm, MatMul + Add, "
      "the readouts of final states, the last step or the mean over time, and shape glue)");
}

// --- finishing -----------------------------------------------------------------------

// A model name made of `s`: other characters become '_', and a name the
// parser would refuse (a leading digit, a keyword, a reserved prefix) gets
// "m_" in front; "" when even that is refused.
std::string identifier_of(const std::string &s) {
  std::string o;
  for (char c : s) o += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  while (o.find("__") != std::string::npos) o.replace(o.find("__"), 2, "_");
  while (!o.empty() && o.front() == '_') o.erase(o.begin());
  while (!o.empty() && o.back() == '_') o.pop_back();
  if (o.size() > 62) o.resize(62);
  if (!o.empty() && !model_name_problem(o).empty()) o = "m_" + o;
  return model_name_problem(o).empty() ? o : "";
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  std::string t = s.str();
  if (t.find_first_of(".eE") == std::string::npos) t += ".0";
  return t;
}

const char *cell_name(CellKind c) { return c == CellKind::kLstm ? "lstm" : c == CellKind::kGru ? "gru" : "rnn"; }

bool stackable(const Recurrent &a, const Recurrent &b) {
  return a.cell == b.cell && a.hidden == b.hidden && a.dirs == b.dirs && a.bias == b.bias && a.relu == b.relu &&
         a.lbr == b.lbr && a.peepholes == b.peepholes && a.input_forget == b.input_forget && a.clip == b.clip &&
         a.reverse == b.reverse;
}

// One [[layers]] entry per embedding / readout / linear, and per run of
// stackable recurrent layers (one nn.LSTM with num_layers, as PyTorch names it).
struct Entry {
  const ChainLayer *first;
  std::vector<const Recurrent *> stack;
};

std::vector<Entry> entries_of(const std::vector<ChainLayer> &chain) {
  std::vector<Entry> out;
  for (const ChainLayer &l : chain) {
    if (l.kind == ChainLayer::kRecurrent && !out.empty() && out.back().first->kind == ChainLayer::kRecurrent &&
        stackable(*out.back().stack[0], l.rec)) {
      out.back().stack.push_back(&l.rec);
      continue;
    }
    Entry e{&l, {}};
    if (l.kind == ChainLayer::kRecurrent) e.stack.push_back(&l.rec);
    out.push_back(e);
  }
  return out;
}

std::string Importer::write_toml(const std::string &name) const {
  std::ostringstream s;
  s << "# Imported by rnnc import from " << opt_.onnx_path << ".\n";
  for (const std::string &b : bindings_) s << "# " << b << "\n";
  s << "name = \"" << name << "\"\n\n[input]\n";
  if (tokens_)
    s << "kind = \"tokens\"\nvocab = " << vocab_ << "\n";
  else
    s << "kind = \"features\"\nsize = " << feat_in_ << "\n";
  for (const Entry &e : entries_of(chain_)) {
    s << "\n[[layers]]\n";
    switch (e.first->kind) {
      case ChainLayer::kEmbedding:
        s << "kind = \"embedding\"\ndim = " << e.first->weight.dims[1] << "\n";
        break;
      case ChainLayer::kRecurrent: {
        const Recurrent &r = *e.stack[0];
        s << "kind = \"" << cell_name(r.cell) << "\"\nhidden = " << r.hidden << "\n";
        if (e.stack.size() > 1) s << "num_layers = " << e.stack.size() << "\n";
        if (r.dirs == 2) s << "bidirectional = true\n";
        if (r.reverse) s << "reverse = true\n";
        if (!r.bias) s << "bias = false\n";
        if (r.relu) s << "nonlinearity = \"relu\"\n";
        if (!r.lbr) s << "linear_before_reset = false\n";
        if (r.clip > 0) s << "clip = " << num(r.clip) << "\n";
        if (r.peepholes) s << "peepholes = true\n";
        if (r.input_forget) s << "input_forget = true\n";
        break;
      }
      case ChainLayer::kReadout:
        s << "kind = \"readout\"\nmode = \"" << e.first->mode << "\"\n";
        break;
      case ChainLayer::kLinear:
        s << "kind = \"linear\"\nout = " << e.first->weight.dims[0] << "\n";
        if (!e.first->has_bias) s << "bias = false\n";
        break;
    }
  }
  return s.str();
}

// The weights under the names and in the order of the mapped model's own
// parameters (the graph built from the model file the import wrote).
void Importer::write_weights(const ir::Graph &graph) const {
  std::vector<const Tensor *> tensors;  // in the model's parameter order
  for (const Entry &e : entries_of(chain_)) {
    if (e.first->kind == ChainLayer::kEmbedding || e.first->kind == ChainLayer::kLinear)
      tensors.push_back(&e.first->weight);
    if (e.first->kind == ChainLayer::kLinear && e.first->has_bias) tensors.push_back(&e.first->bias);
    for (const Recurrent *r : e.stack)
      for (int d = 0; d < r->dirs; ++d) {
        tensors.push_back(&r->w_ih[d]);
        tensors.push_back(&r->w_hh[d]);
        if (r->bias) {
          tensors.push_back(&r->b_ih[d]);
          tensors.push_back(&r->b_hh[d]);
        }
        if (r->peepholes) tensors.push_back(&r->peep[d]);
      }
  }
  if (tensors.size() != graph.params.size())
    throw std::logic_error("import: " + std::to_string(tensors.size()) + " tensors for the model's " +
                           std::to_string(graph.params.size()) + " parameters");
  rnnc_rt::SafeTensorsFile file;
  for (size_t q = 0; q < tensors.size(); ++q) {
    const Tensor &t = *tensors[q];
    const ir::Param &p = graph.params[q];
    if (t.dims != p.shape)
      throw std::logic_error("import: " + p.name + " is " + rnnc_rt::shape_str(t.dims) + ", the model wants " +
                             rnnc_rt::shape_str(p.shape));
    rnnc_rt::SafeTensor st;
    st.name = p.name;
    st.dtype = "F32";
    st.shape = t.dims;
    st.data.resize(t.f.size() * 4);
    for (size_t k = 0; k < t.f.size(); ++k) {
      const float v = static_cast<float>(t.f[k]);
      std::memcpy(st.data.data() + 4 * k, &v, 4);
    }
    file.tensors.push_back(std::move(st));
  }
  file.metadata.push_back({"format", "pt"});
  file.metadata.push_back({"source", opt_.onnx_path});
  file.metadata.push_back({"rnnc_version", RNNC_VERSION});
  rnnc_rt::write_safetensors(opt_.weights_path, file);
}

ImportReport Importer::run() {
  {
    std::ifstream in(opt_.onnx_path, std::ios::binary);
    if (!in) throw ImportError(opt_.onnx_path + ": cannot open: " + std::strerror(errno));
    if (!model_.ParseFromIstream(&in))
      throw ImportError(opt_.onnx_path +
                        ": not an ONNX model (the protobuf does not parse; truncated or another "
                        "format?)");
    fold_budget_ = (int64_t{1} << 26) + 2 * static_cast<int64_t>(model_.ByteSizeLong());
  }
  if (!model_.has_graph()) fail("the model has no graph");
  int64_t opset = -1;
  for (const auto &o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx")
      opset = o.version();
    else
      fail("uses operator set domain '" + o.domain() + "', which rnnc does not read");
  if (opset < 7 || opset > 17) fail("opset " + std::to_string(opset) + " is outside the opsets rnnc reads (7 to 17)");
  try {
    onnx::checker::check_model(model_);
  } catch (const std::exception &e) {
    // One line: the checker's messages span several.
    std::string what;
    for (char ch : std::string(e.what())) {
      if (ch == '\n' || ch == '\r') ch = ' ';
      if (ch == ' ' && (what.empty() || what.back() == ' ')) continue;
      what += ch;
    }
    while (!what.empty() && what.back() == ' ') what.pop_back();
    fail("is not a valid ONNX model: " + what);
  }
  const onnx::GraphProto &g = model_.graph();
  std::set<std::string> inits;
  for (const auto &t : g.initializer()) {
    Value v;
    v.kind = Value::kConst;
    v.t = tensor_of(t, "initializer '" + t.name() + "'");
    values_[t.name()] = v;
    inits.insert(t.name());
  }
  for (const auto &in : g.input()) {
    if (inits.count(in.name())) continue;
    Value v;
    v.kind = Value::kGraphInput;
    v.input = in.name();
    const auto &tt = in.type().tensor_type();
    const int et = tt.elem_type();
    v.in_int = et == onnx::TensorProto::INT64 || et == onnx::TensorProto::INT32;
    if (!v.in_int && et != onnx::TensorProto::FLOAT && et != onnx::TensorProto::DOUBLE)
      fail("graph input '" + in.name() + "' has element type " + std::to_string(et) +
           "; expected float (features) or int32 / int64 (token ids, lengths)");
    for (const auto &d : tt.shape().dim()) {
      v.in_dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      v.in_dim_names.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    values_[in.name()] = v;
  }
  for (const auto &n : g.node()) {
    node_ = &n;
    if (!n.domain().empty() && n.domain() != "ai.onnx") fail("is in domain '" + n.domain() + "'");
    map_node();
  }
  node_ = nullptr;
  ImportReport rep;
  finish(rep);
  return rep;
}

void Importer::finish(ImportReport &rep) {
  const onnx::GraphProto &g = model_.graph();
  // Graph inputs nothing consumed in a known role.
  for (const auto &in : g.input())
    if (values_.count(in.name()) && values_[in.name()].kind == Value::kGraphInput && !used_inputs_.count(in.name()))
      fail("graph input '" + in.name() +
           "' is neither the data, sequence_lens, initial_h nor initial_c of a recurrent layer");
  if (data_input_.empty()) fail("no graph input reaches a recurrent layer as its data");
  if (std::none_of(chain_.begin(), chain_.end(), [](const ChainLayer &l) { return l.kind == ChainLayer::kRecurrent; }))
    fail("the graph has no LSTM, GRU or RNN node");
  const bool t_first = role(Ax::kIn0) == Ax::kTime;
  bindings_.push_back("input '" + data_input_ + "' " + data_desc_ + " (" + (t_first ? "time" : "batch") +
                      " first) -> --inputs as [N, T" + (tokens_ ? "" : ", " + std::to_string(feat_in_)) + "]" +
                      (t_first ? " (batch first)" : ""));
  if (!lengths_input_.empty()) bindings_.push_back("input '" + lengths_input_ + "' [N] -> --lengths");
  std::string h0, c0;
  bool all_h = true, all_c = true;
  for (const ChainLayer &l : chain_)
    if (l.kind == ChainLayer::kRecurrent) {
      all_h &= l.rec.h0 == Recurrent::kGiven;
      if (l.rec.cell == CellKind::kLstm) all_c &= l.rec.c0 == Recurrent::kGiven;
      if (l.rec.h0 == Recurrent::kGiven) h0 = l.rec.h0_input;
      if (l.rec.c0 == Recurrent::kGiven) c0 = l.rec.c0_input;
    }
  if (!h0.empty() && !all_h)
    fail("some recurrent layers take initial_h from '" + h0 + "' and others start at zero; " +
         "rnnc's --h0 gives every layer's states or none");
  if (!c0.empty() && !all_c) fail("some LSTM layers take initial_c from '" + c0 + "' and others start at zero");
  if (!h0.empty()) bindings_.push_back("input '" + h0 + "' -> --h0 as [layers * directions, N, H]");
  if (!c0.empty()) bindings_.push_back("input '" + c0 + "' -> --c0 as [layers * directions, N, H]");

  // Outputs: one primary (the model's output), the rest final states.
  const Value *primary = nullptr;
  std::string primary_name;
  for (const auto &out : g.output()) {
    if (!values_.count(out.name())) fail("graph output '" + out.name() + "' is not computed");
    const Value &v = values_[out.name()];
    if (v.kind != Value::kDyn) fail("graph output '" + out.name() + "' does not depend on the data");
    if (v.form == Value::kStates) {
      std::string which = v.states.size() == static_cast<size_t>(states_)
                              ? "all states"
                              : "states " + std::to_string(v.states.front()) + ".." + std::to_string(v.states.back());
      for (size_t k = 1; k < v.states.size(); ++k)
        if (v.states[k] != v.states[k - 1] + 1) fail("graph output '" + out.name() + "' reorders the final states");
      bindings_.push_back("output '" + out.name() + "' " + axes_str(v) + " -> predict " +
                          (v.cell ? "--output-c" : "--output-h") + " [layers * directions, N, H] (" + which + ")");
      continue;
    }
    if (primary)
      fail("graph outputs '" + primary_name + "' and '" + out.name() + "' are both model outputs; rnnc " +
           "models have one output (and the final states)");
    primary = &v;
    primary_name = out.name();
  }
  if (primary) {
    const Value &v = *primary;
    if (v.form == Value::kSeq || v.form == Value::kY) {
      if (v.stage == end_recurrent()) add_readout("all", v.stage);
      if (v.stage != static_cast<int>(chain_.size()) - 1 &&
          !(v.stage == static_cast<int>(chain_.size()) - 2 && chain_.back().kind == ChainLayer::kReadout))
        fail("graph output '" + primary_name + "' is not the output of the last layer");
      const int64_t width = v.axes.back().size * (v.form == Value::kY ? v.axes[axis_of(v, Ax::kDir)].size : 1);
      bindings_.push_back("output '" + primary_name + "' " + axes_str(v) + " -> predict --output as [N, T, " +
                          std::to_string(width) + "] (zero past each length)");
    } else if (v.form == Value::kVec) {
      if (v.from_states) {
        readout_states(v, "graph output '" + primary_name + "'");
      } else if (v.stage != static_cast<int>(chain_.size()) - 1) {
        fail("graph output '" + primary_name + "' is not the output of the last layer");
      }
      bindings_.push_back("output '" + primary_name + "' " + axes_str(v) + " -> predict --output as [N, " +
                          std::to_string(v.axes.back().size) + "]");
    } else {
      fail("graph output '" + primary_name + "' is not a model output");
    }
  } else {
    const int end = end_recurrent();
    if (end < 0) fail("the model has no output");
    add_readout("last", end);
    bindings_.push_back(
        "(no output besides final states: predict --output gives the last layer's final states, "
        "directions concatenated)");
  }
  if (std::none_of(chain_.begin(), chain_.end(), [](const ChainLayer &l) { return l.kind == ChainLayer::kReadout; }))
    fail("no readout");

  // Name, model file, parse back, weights.
  std::string name = identifier_of(g.name());
  if (name.empty()) {
    std::string stem = opt_.toml_path.substr(opt_.toml_path.find_last_of('/') + 1);
    stem = stem.substr(0, stem.find('.'));
    name = identifier_of(stem);
  }
  if (name.empty()) name = "imported";
  const std::string text = write_toml(name);
  ir::Graph graph;
  try {
    graph = ir::build_graph(parse_model_text(text, opt_.toml_path));
  } catch (const CompileError &e) {
    throw ImportError(opt_.onnx_path + ": the mapped model is not valid: " + e.what());
  }
  write_weights(graph);
  rnnc_rt::write_file_atomically(opt_.toml_path, {{text.data(), text.size()}});
  rep.model_name = name;
  rep.bindings = bindings_;
  for (const Entry &e : entries_of(chain_)) {
    std::string line;
    switch (e.first->kind) {
      case ChainLayer::kEmbedding:
        line = "embedding " + std::to_string(e.first->weight.dims[0]) + " x " + std::to_string(e.first->weight.dims[1]);
        break;
      case ChainLayer::kRecurrent: {
        const Recurrent &r = *e.stack[0];
        line = std::string(cell_name(r.cell)) + " hidden " + std::to_string(r.hidden);
        if (e.stack.size() > 1) line += ", " + std::to_string(e.stack.size()) + " layers";
        if (r.dirs == 2) line += ", bidirectional";
        if (r.reverse) line += ", reverse";
        line += " (from";
        for (const Recurrent *s : e.stack) line += " '" + s->node + "'";
        line += ")";
        break;
      }
      case ChainLayer::kReadout:
        line = "readout " + e.first->mode;
        break;
      case ChainLayer::kLinear:
        line = "linear " + std::to_string(e.first->weight.dims[1]) + " -> " + std::to_string(e.first->weight.dims[0]);
        break;
    }
    rep.layers.push_back(line);
  }
}

}  // namespace

ImportReport import_onnx(const ImportOptions &opt) {
  try {
    return Importer(opt).run();
  } catch (const ImportError &) {
    throw;
  } catch (const rnnc_rt::RtError &e) {
    throw ImportError(e.what());
  }
}

}  // namespace rnnc::onnx_import
