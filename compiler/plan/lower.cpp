// Lowering: graph IR → plan. The inference and training forward passes are
// lowered by the same walk (kernels and buffers are shared between them by
// name); the training walk also records a tape that the backward pass
// replays in reverse, mapping each forward step to its adjoint.
#include <map>

#include "plan/plan.h"

namespace rnnc::plan {

using kernels::Family;
using kernels::KernelDesc;
using namespace rnnc_rt;

namespace {

// What flows from one node to the next.
struct Value {
  enum Kind { kInput, kEmbedded, kRecurrent, kBuffer } kind = kInput;
  int64_t width = 0;
  bool per_step = true;
  int embedding = -1;  // kEmbedded: the table (a parameter)
  int h_fwd = -1;      // kRecurrent: output rows of each direction (views of the state buffers);
  int h_rev = -1;      // -1 for a direction the layer does not have
  int directions() const { return (h_fwd >= 0) + (h_rev >= 0); }
  int buffer = -1;  // kBuffer, or a kRecurrent's materialised output
};

// One direction of a stacked sub-layer, as the backward pass needs it.
struct DirectionTape {
  KernelDesc step;  // the training forward step
  bool reverse = false;
  ir::Node::DirectionParams p;  // its parameters
  int hs = -1, cs = -1;
  std::vector<int> acts;  // views of the saved activations the backward step reads, in order
  int m = -1;             // with a projection: the saved o ⊙ tanh(c), W_hr's input
  Arg src;                // what the input projection read
  bool src_gather = false;
  Arg src_idx;
};

struct TapeEntry {
  enum Kind { kSublayer, kDropout, kReadout, kLinear } kind;
  std::string tag;
  // kSublayer
  const ir::Node *node = nullptr;
  std::vector<DirectionTape> dirs;
  Value in, out;
  // kDropout: in -> out with p and site; kLinear: in -> out
  int in_buffer = -1, out_buffer = -1;
  float p = 0.0f;
  int site = 0;
  RowKind rows = kRowsPacked;
  // kReadout
  ReadoutMode mode = ReadoutMode::kLast;
  // kLinear
  int weight = -1, bias = -1;
  int64_t k = 0, n = 0;
};

// A gradient flowing backward: one buffer in the value's own layout, or,
// for a recurrent sub-layer's output, one buffer per direction (each in
// that direction's row order).
struct Grad {
  int buffer = -1;
  int dout_f = -1, dout_r = -1;
};

class Lowerer {
 public:
  Lowerer(const ir::Graph &g, const schedules::ScheduleSource &s) : g_(g), schedules_(s) {}

  Plan run() {
    int64_t offset = 0;
    for (const ir::Param &p : g_.params) {
      plan_.param_offsets.push_back(offset);
      offset += p.numel();
    }
    plan_.param_floats = offset;
    plan_.output_width = g_.output().out.width;
    plan_.per_step_output = g_.output().out.per_step;
    lower_forward(false, plan_.infer);
    if (g_.loss != LossKind::kNone) {
      lower_forward(true, plan_.train_fwd);
      lower_backward();
      lower_optimizer();
    }
    verify(plan_, g_);
    return plan_;
  }

 private:
  // --- tables -------------------------------------------------------------

  int kernel(KernelDesc d) { return intern_kernel(scheduled(d)); }

  KernelDesc scheduled(KernelDesc d) const {
    d.sched = schedules_.params(d);
    return d;
  }

  int intern_kernel(const KernelDesc &d) {
    const std::string name = d.name();
    for (size_t i = 0; i < plan_.kernels.size(); ++i)
      if (plan_.kernels[i].name() == name) return static_cast<int>(i);
    plan_.kernels.push_back(d);
    return static_cast<int>(plan_.kernels.size() - 1);
  }

  int buffer(const std::string &name, RowKind rows, int64_t cols) {
    Buffer b;
    b.name = name;
    b.rows = rows;
    b.cols = static_cast<int>(cols);
    return intern_buffer(b);
  }

  int view(int parent, const std::string &name, int64_t cols, int64_t col_offset, bool skip_state_rows) {
    Buffer b;
    b.name = name;
    b.parent = parent;
    b.rows = skip_state_rows ? kRowsPacked : plan_.buffers[parent].rows;
    b.cols = static_cast<int>(cols);
    b.col_offset = static_cast<int>(col_offset);
    b.skip_state_rows = skip_state_rows;
    return intern_buffer(b);
  }

  int intern_buffer(const Buffer &b) {
    for (size_t i = 0; i < plan_.buffers.size(); ++i) {
      const Buffer &o = plan_.buffers[i];
      if (o.name != b.name) continue;
      if (o.rows != b.rows || o.cols != b.cols || o.parent != b.parent || o.col_offset != b.col_offset ||
          o.skip_state_rows != b.skip_state_rows)
        throw std::logic_error("lowering: buffer " + b.name + " declared twice with different shapes");
      return static_cast<int>(i);
    }
    plan_.buffers.push_back(b);
    return static_cast<int>(plan_.buffers.size() - 1);
  }

  // The packed copy of parameter `param` in the layout of `consumer`'s
  // schedule: g gates x h units over k inputs, or (transposed) its columns
  // as h units over its k rows.
  int packed(int param, const KernelDesc &consumer, int g, int64_t h, int64_t k, bool transpose = false) {
    KernelDesc d;
    d.family = Family::kPackWeights;
    d.g = g;
    d.h = h;
    d.k = k;
    d.transpose = transpose;
    d = scheduled(d);
    d.sched.tile = consumer.sched.tile;
    const int kern = intern_kernel(d);
    const std::string name =
        g_.params[param].name + (transpose ? ".packed_t_t" : ".packed_t") + std::to_string(d.sched.tile);
    for (size_t i = 0; i < plan_.packed.size(); ++i)
      if (plan_.packed[i].name == name) return static_cast<int>(i);
    Packed p;
    p.name = name;
    p.param = param;
    p.kernel = kern;
    p.dims = {d.sched.tile, g, k, (h + d.sched.tile - 1) / d.sched.tile};
    // The copy pads h up to whole tiles, so a parameter just under the
    // buffer limit can have a packed copy above it. h and k are at most
    // 2^20 and g at most 4, so the product fits in int64.
    const int64_t bytes = p.dims[0] * p.dims[1] * p.dims[2] * p.dims[3] * 4;
    if (bytes > kMaxTensorBytes) {
      const ir::Param &par = g_.params[param];
      throw CompileError(g_.nodes[par.node].loc,
                         "the packed copy of parameter '" + par.name + "' (" + std::to_string(h) +
                             " units padded to whole tiles of " + std::to_string(d.sched.tile) + ") would have " +
                             std::to_string(bytes) + " bytes, above the limit of 2^31 - 1 bytes per kernel buffer");
    }
    plan_.packed.push_back(p);
    return static_cast<int>(plan_.packed.size() - 1);
  }

  static Arg buf(int id, SliceKind s = kSliceAll) { return Arg{kArgBuffer, id, s}; }
  static Arg par(int id) { return Arg{kArgParam, id}; }
  static Arg grad(int id, int64_t row0 = 0, int64_t nrows = 0) {
    return Arg{kArgGrad, id, kSliceAll, 0.0f, row0, nrows};
  }
  static Arg pk(int id) { return Arg{kArgPacked, id}; }
  static Arg idx(IndexKind k) { return Arg{kArgIndex, k}; }
  static Arg zeros(int64_t n) { return Arg{kArgZeros, static_cast<int>(n)}; }
  static Arg input() { return Arg{kArgInput, 0}; }
  static Arg const_f(double v) { return Arg{kArgConstF, 0, kSliceAll, static_cast<float>(v)}; }
  // A dropout site's rate, which the runtime zeroes for a batch run without dropout.
  static Arg dropout_rate(double p) { return Arg{kArgDropoutRate, 0, kSliceAll, static_cast<float>(p)}; }
  static Arg const_i(int v) { return Arg{kArgConstI, v}; }
  static Arg scalar(RuntimeScalar s) { return Arg{kArgScalar, s}; }
  static Arg flat(FlatArray a, int64_t row0 = 0, int64_t n = 0) { return Arg{kArgFlat, a, kSliceAll, 0.0f, row0, n}; }

  static Step call(int kernel, std::vector<Arg> args, std::string comment) {
    Step s;
    s.op = kOpCall;
    s.kernel = kernel;
    s.args = std::move(args);
    s.comment = std::move(comment);
    return s;
  }

  static Step gather(int dst, int src, Arg index, std::string comment) {
    Step s;
    s.op = kOpGatherRows;
    s.args = {buf(dst), buf(src), index};
    s.comment = std::move(comment);
    return s;
  }

  static Step zero(int b, std::string comment) {
    Step s;
    s.op = kOpZero;
    s.args = {buf(b)};
    s.comment = std::move(comment);
    return s;
  }

  // out[r] = sum_k a[idx(r), k] w[n, k] (+ a2[idx2(r)] w2) + bias: the
  // kernel call of one product (or two, summed).
  struct Term {
    Arg a;
    bool gather = false;
    Arg index;
    int packed = -1;
  };
  Step gemm(const std::vector<Term> &terms, int64_t k, int64_t n, Arg bias, int out, const std::string &comment,
            KernelDesc *used = nullptr) {
    const int kern = intern_kernel(gemm_desc(k, n, terms[0].gather, static_cast<int>(terms.size())));
    if (used) *used = plan_.kernels[kern];
    std::vector<Arg> args;
    for (size_t t = 0; t < terms.size(); ++t) {
      args.push_back(terms[t].a);
      if (t > 0 || terms[t].gather) args.push_back(terms[t].index);
      args.push_back(pk(terms[t].packed));
    }
    args.push_back(bias);
    args.push_back(buf(out));
    return call(kern, args, comment);
  }

  // The cell variant of a recurrent node's step kernels.
  static void set_variant(KernelDesc &d, const ir::Node &n) {
    d.clip = n.clip > 0;
    d.proj = n.cell == ir::Cell::kLstm ? n.proj_size : 0;
    d.peephole = n.cell == ir::Cell::kLstm && n.peepholes;
    d.input_forget = n.cell == ir::Cell::kLstm && n.input_forget;
  }

  // The tile a gemm over (k -> n) schedules with, for packing its weights.
  KernelDesc gemm_desc(int64_t k, int64_t n, bool gather, int terms) {
    KernelDesc d;
    d.family = Family::kGemmFwd;
    d.k = k;
    d.n = n;
    d.gather = gather;
    d.terms = terms;
    return scheduled(d);
  }

  // --- forward ------------------------------------------------------------

  // A packed [R, width] buffer holding v (materialising a bidirectional
  // output on first use).
  int as_buffer(Value &v, std::vector<Step> &steps, const std::string &name) {
    if (v.kind == Value::kBuffer) return v.buffer;
    if (v.kind != Value::kRecurrent) throw std::logic_error("lowering: a non-recurrent value used as a buffer");
    if (v.h_rev < 0) return v.h_fwd;
    if (v.buffer < 0 && v.h_fwd < 0) {  // reverse direction only
      v.buffer = buffer(name, kRowsPacked, v.width);
      steps.push_back(gather(v.buffer, v.h_rev, idx(kIdxPerm), "reverse direction, to packed order"));
    }
    if (v.buffer < 0) {
      const int64_t h = v.width / 2;
      v.buffer = buffer(name, kRowsPacked, v.width);
      const int fwd = view(v.buffer, name + "[:, :H]", h, 0, false);
      const int rev = view(v.buffer, name + "[:, H:]", h, h, false);
      steps.push_back(gather(fwd, v.h_fwd, const_i(-1), "concatenate directions: forward half"));
      steps.push_back(gather(rev, v.h_rev, idx(kIdxPerm), "concatenate directions: reverse half, to packed order"));
    }
    return v.buffer;
  }

  // Dropout of the packed buffer behind v (training only); returns the new value.
  Value apply_dropout(Value v, double p, std::vector<Step> &steps, const std::string &tag) {
    const RowKind rows = v.per_step ? kRowsPacked : kRowsBatch;
    const int in = as_buffer(v, steps, tag + ".in");
    KernelDesc d;
    d.family = Family::kDropout;
    d.n = v.width;
    const int out = buffer(tag + ".dropped", rows, v.width);
    const int site = next_site_++;
    steps.push_back(call(kernel(d), {buf(in), scalar(kScalarDropoutSeed), const_i(site), dropout_rate(p), buf(out)},
                         tag + ": dropout p=" + std::to_string(p)));
    TapeEntry e;
    e.kind = TapeEntry::kDropout;
    e.tag = tag;
    e.in_buffer = in;
    e.out_buffer = out;
    e.p = static_cast<float>(p);
    e.site = site;
    e.rows = rows;
    e.n = v.width;
    tape_.push_back(e);
    Value o;
    o.kind = Value::kBuffer;
    o.buffer = out;
    o.width = v.width;
    o.per_step = v.per_step;
    return o;
  }

  void lower_forward(bool train, std::vector<Step> &steps) {
    Value v;
    v.kind = Value::kInput;
    v.width = g_.input.kind == InputKind::kTokens ? 0 : g_.input.size;
    plan_.states.clear();
    tape_.clear();
    next_site_ = 0;
    for (size_t ni = 1; ni < g_.nodes.size(); ++ni) {
      const ir::Node &n = g_.nodes[ni];
      const std::string tag = "layers." + std::to_string(n.layer);
      switch (n.op) {
        case ir::Op::kEmbedding:
          v.kind = Value::kEmbedded;
          v.embedding = n.params[0];
          v.width = n.out.width;
          break;
        case ir::Op::kRecurrent:
          lower_recurrent(n, v, train, steps);
          break;
        case ir::Op::kDropout:
          if (train && n.p > 0) v = apply_dropout(v, n.p, steps, tag);
          break;
        case ir::Op::kReadout:
          lower_readout(n, v, train, steps, tag);
          break;
        case ir::Op::kLinear:
          lower_linear(n, v, train, steps, tag);
          break;
        case ir::Op::kInput:
          break;
      }
    }
    const int out = as_buffer(v, steps, "output");
    if (plan_.output_buffer >= 0 && plan_.output_buffer != out)
      throw std::logic_error("lowering: modes disagree on the output buffer");
    plan_.output_buffer = out;
  }

  void lower_linear(const ir::Node &n, Value &v, bool train, std::vector<Step> &steps, const std::string &tag) {
    const int in = as_buffer(v, steps, tag + ".in");
    const RowKind rows = v.per_step ? kRowsPacked : kRowsBatch;
    const int64_t k = n.in.width, out_n = n.out_features;
    const int w = packed(n.params[0], gemm_desc(k, out_n, false, 1), 1, out_n, k);
    const int out = buffer(tag + ".out", rows, out_n);
    steps.push_back(gemm({Term{buf(in), false, {}, w}}, k, out_n, n.bias ? par(n.params[1]) : zeros(out_n), out,
                         tag + ": linear " + std::to_string(k) + " -> " + std::to_string(out_n)));
    if (train) {
      TapeEntry e;
      e.kind = TapeEntry::kLinear;
      e.tag = tag;
      e.in_buffer = in;
      e.out_buffer = out;
      e.rows = rows;
      e.weight = n.params[0];
      e.bias = n.bias ? n.params[1] : -1;
      e.k = k;
      e.n = out_n;
      tape_.push_back(e);
    }
    Value o;
    o.kind = Value::kBuffer;
    o.buffer = out;
    o.width = out_n;
    o.per_step = rows == kRowsPacked;
    v = o;
  }

  void lower_recurrent(const ir::Node &n, Value &v, bool train, std::vector<Step> &steps) {
    const int64_t h = n.hidden, sw = n.state_width();
    const int gates = ir::gate_count(n.cell);
    for (int64_t l = 0; l < n.num_layers; ++l) {
      const std::string ltag = "layers." + std::to_string(n.layer) + ".l" + std::to_string(l);
      if (train && l > 0 && n.inner_dropout > 0) v = apply_dropout(v, n.inner_dropout, steps, ltag + ".in");
      Value next;
      next.kind = Value::kRecurrent;
      next.width = sw * n.directions();
      int src = -1;
      if (v.kind == Value::kRecurrent || v.kind == Value::kBuffer) src = as_buffer(v, steps, ltag + ".in");
      TapeEntry entry;
      entry.kind = TapeEntry::kSublayer;
      entry.tag = ltag;
      entry.node = &n;
      entry.in = v;
      for (int k = 0; k < n.directions(); ++k) {
        const int dir = n.direction_id(k);
        const std::string tag = ltag + (dir ? "r" : "f");
        const std::string what = "layers." + std::to_string(n.layer) + " " + ir::to_string(n.cell) + " layer " +
                                 std::to_string(l) + (dir ? " reverse" : " forward");
        DirectionTape dt;
        dt.reverse = dir == 1;
        dt.p = n.direction_params(l, k);
        const int64_t in_width = n.sublayer_input(l);

        // Input projection of every step at once.
        Term t;
        if (v.kind == Value::kInput || v.kind == Value::kEmbedded) {
          t.a = v.kind == Value::kInput ? input() : par(v.embedding);
          t.gather = true;
          t.index = idx(dir ? kIdxInputRev : kIdxInputFwd);
        } else {
          t.a = buf(src);
          t.gather = dir == 1;
          t.index = idx(kIdxPerm);
        }
        t.packed = packed(dt.p.w_ih, gemm_desc(in_width, gates * h, t.gather, 1), 1, gates * h, in_width);
        dt.src = t.a;
        dt.src_gather = t.gather;
        dt.src_idx = t.index;
        const int xp = buffer(tag + ".xp", kRowsPacked, gates * h);
        steps.push_back(gemm({t}, in_width, gates * h, dt.p.b_ih >= 0 ? par(dt.p.b_ih) : zeros(gates * h), xp,
                             what + ": input projection"));

        // The time loop of fused steps.
        KernelDesc sd;
        sd.family = n.cell == ir::Cell::kRnn    ? Family::kRnnStepFwd
                    : n.cell == ir::Cell::kLstm ? Family::kLstmStepFwd
                                                : Family::kGruStepFwd;
        sd.h = h;
        sd.g = gates;
        sd.train = train;
        sd.relu = n.nonlinearity == Nonlinearity::kRelu;
        sd.linear_before_reset = n.linear_before_reset;
        set_variant(sd, n);
        const int sk = kernel(sd);
        dt.step = plan_.kernels[sk];
        const int wp_hh = packed(dt.p.w_hh, plan_.kernels[sk], gates, h, sw);
        dt.hs = buffer(tag + ".h", kRowsState, sw);
        dt.cs = n.cell == ir::Cell::kLstm ? buffer(tag + ".c", kRowsState, h) : -1;
        Step loop;
        loop.op = kOpTimeLoop;
        loop.kernel = sk;
        loop.direction = kForward;
        loop.comment = what + ": recurrence";
        loop.args = {buf(xp, kSliceStep), buf(dt.hs, kSliceStatePrev)};
        if (dt.cs >= 0) loop.args.push_back(buf(dt.cs, kSliceStatePrev));
        loop.args.push_back(pk(wp_hh));
        if (dt.p.w_hr >= 0) loop.args.push_back(pk(packed(dt.p.w_hr, plan_.kernels[sk], 1, sw, h)));
        loop.args.push_back(dt.p.b_hh >= 0 ? par(dt.p.b_hh) : zeros(gates * h));
        if (dt.p.peephole >= 0) loop.args.push_back(par(dt.p.peephole));
        if (n.clip > 0) loop.args.push_back(const_f(n.clip));
        loop.args.push_back(buf(dt.hs, kSliceStateCur));
        if (dt.cs >= 0) loop.args.push_back(buf(dt.cs, kSliceStateCur));
        if (train) {
          const int saved = static_cast<int>(kernels::signature(dt.step).size() - loop.args.size());
          if (saved > 0) {
            const int acts = buffer(tag + ".acts", kRowsPacked, saved * h);
            for (int i = 0; i < saved; ++i) {
              dt.acts.push_back(view(acts, tag + ".acts." + std::to_string(i), h, i * h, false));
              loop.args.push_back(buf(dt.acts.back(), kSliceStep));
            }
          }
          if (dt.p.w_hr >= 0) {  // m comes last; the backward step does not read it
            dt.m = dt.acts.back();
            dt.acts.pop_back();
          }
        }
        steps.push_back(loop);

        State st;
        st.h_buffer = dt.hs;
        st.c_buffer = dt.cs;
        st.hidden = static_cast<int>(sw);
        st.c_hidden = n.cell == ir::Cell::kLstm ? static_cast<int>(h) : 0;
        st.layer = n.layer;
        st.sublayer = static_cast<int>(l);
        st.reverse = dir == 1;
        plan_.states.push_back(st);
        const int rows = view(dt.hs, tag + ".out", sw, 0, true);
        (dir ? next.h_rev : next.h_fwd) = rows;
        entry.dirs.push_back(dt);
      }
      v = next;
      entry.out = next;
      if (train) tape_.push_back(entry);
    }
  }

  void lower_readout(const ir::Node &n, Value &v, bool train, std::vector<Step> &steps, const std::string &tag) {
    const int64_t width = n.in.width;
    TapeEntry e;
    e.kind = TapeEntry::kReadout;
    e.tag = tag;
    e.mode = n.mode;
    e.in = v;
    if (n.mode == ReadoutMode::kAll) {
      v.per_step = true;
      if (train) tape_.push_back(e);
      return;
    }
    KernelDesc d;
    d.dirs = v.directions();
    d.h = width / d.dirs;
    const int out = buffer(tag + ".out", kRowsBatch, width);
    if (n.mode == ReadoutMode::kLast) {
      d.family = Family::kReadoutLast;
      std::vector<Arg> args;
      if (v.h_fwd >= 0) args.push_back(buf(v.h_fwd));
      if (v.h_rev >= 0) args.push_back(buf(v.h_rev));
      args.push_back(idx(kIdxLastRow));
      args.push_back(buf(out));
      steps.push_back(call(kernel(d), args, tag + ": readout last"));
    } else {
      d.family = Family::kReadoutMean;
      d.h = width;
      d.dirs = 1;
      const int src = as_buffer(v, steps, tag + ".in");
      e.in = v;  // now materialised
      steps.push_back(call(kernel(d), {buf(src), idx(kIdxStepOffsets), idx(kIdxSortPos), idx(kIdxLengths), buf(out)},
                           tag + ": readout mean"));
    }
    e.out_buffer = out;
    e.n = width;
    if (train) tape_.push_back(e);
    v = Value{};
    v.kind = Value::kBuffer;
    v.buffer = out;
    v.width = width;
    v.per_step = false;
  }

  // --- backward -----------------------------------------------------------

  void lower_backward() {
    std::vector<Step> &steps = plan_.train_bwd;
    std::vector<Step> &loss = plan_.loss;
    const Buffer &ob = plan_.buffers[plan_.output_buffer];
    const RowKind rows = static_cast<RowKind>(ob.rows);
    const int64_t width = plan_.output_width;
    plan_.loss_buffer = buffer("loss", rows, 1);
    const int dout = buffer("output.grad", rows, width);
    plan_.output_grad_buffer = dout;
    KernelDesc d;
    d.n = width;
    const bool ce = g_.loss == LossKind::kCrossEntropy;
    d.family = ce ? Family::kSoftmaxXent : Family::kMseLoss;
    loss.push_back(
        call(kernel(d),
             {buf(plan_.output_buffer), Arg{kArgLabels}, scalar(kScalarLossScale), buf(plan_.loss_buffer), buf(dout)},
             ce ? "loss: cross-entropy and its gradient" : "loss: squared error and its gradient"));
    Grad gr;
    gr.buffer = dout;
    for (auto it = tape_.rbegin(); it != tape_.rend(); ++it) {
      switch (it->kind) {
        case TapeEntry::kLinear:
          gr = backward_linear(*it, gr, steps);
          break;
        case TapeEntry::kDropout:
          gr = backward_dropout(*it, gr, steps);
          break;
        case TapeEntry::kReadout:
          gr = backward_readout(*it, gr, steps);
          break;
        case TapeEntry::kSublayer:
          gr = backward_sublayer(*it, gr, steps);
          break;
      }
    }
  }

  Grad backward_linear(const TapeEntry &e, const Grad &gr, std::vector<Step> &steps) {
    KernelDesc wd;
    wd.family = Family::kGemmWgrad;
    wd.k = e.k;
    wd.n = e.n;
    steps.push_back(call(kernel(wd), {buf(gr.buffer), buf(e.in_buffer), grad(e.weight)}, e.tag + ": weight gradient"));
    if (e.bias >= 0) steps.push_back(colsum(gr.buffer, e.n, grad(e.bias), e.tag + ": bias gradient"));
    // dx = dy W: a product with W^T, whose units are W's columns.
    const int dx = buffer(e.tag + ".in.grad", e.rows, e.k);
    const int wt = packed(e.weight, gemm_desc(e.n, e.k, false, 1), 1, e.k, e.n, true);
    steps.push_back(gemm({Term{buf(gr.buffer), false, {}, wt}}, e.n, e.k, zeros(e.k), dx, e.tag + ": input gradient"));
    Grad o;
    o.buffer = dx;
    return o;
  }

  Step colsum(int dy, int64_t n, Arg out, const std::string &comment) {
    KernelDesc d;
    d.family = Family::kColSum;
    d.n = n;
    return call(kernel(d), {buf(dy), out}, comment);
  }

  Grad backward_dropout(const TapeEntry &e, const Grad &gr, std::vector<Step> &steps) {
    // The same mask (same seed and site), applied to the gradient.
    KernelDesc d;
    d.family = Family::kDropout;
    d.n = e.n;
    const int dx = buffer(e.tag + ".dropout.grad", e.rows, e.n);
    steps.push_back(call(kernel(d),
                         {buf(gr.buffer), scalar(kScalarDropoutSeed), const_i(e.site), dropout_rate(e.p), buf(dx)},
                         e.tag + ": dropout gradient"));
    Grad o;
    o.buffer = dx;
    return o;
  }

  Grad backward_readout(const TapeEntry &e, const Grad &gr, std::vector<Step> &steps) {
    const Value &v = e.in;
    const int64_t width = v.width;
    Grad o;
    switch (e.mode) {
      case ReadoutMode::kAll:
        return gr;
      case ReadoutMode::kMean: {
        KernelDesc d;
        d.family = Family::kReadoutMeanBwd;
        d.h = width;
        o.buffer = buffer(e.tag + ".in.grad", kRowsPacked, width);
        steps.push_back(call(kernel(d), {buf(gr.buffer), idx(kIdxRowSeq), idx(kIdxLengths), buf(o.buffer)},
                             e.tag + ": readout mean gradient"));
        return o;
      }
      case ReadoutMode::kLast: {
        // One output per direction, in the direction's own row order.
        KernelDesc d;
        d.family = Family::kReadoutLastBwd;
        d.dirs = v.directions();
        d.h = width / d.dirs;
        std::vector<Arg> args = {buf(gr.buffer), idx(kIdxLastOf)};
        if (v.h_fwd >= 0) {
          o.dout_f = buffer(e.tag + ".in.grad_f", kRowsPacked, d.h);
          args.push_back(buf(o.dout_f));
        }
        if (v.h_rev >= 0) {
          o.dout_r = buffer(e.tag + ".in.grad_r", kRowsPacked, d.h);
          args.push_back(buf(o.dout_r));
        }
        steps.push_back(call(kernel(d), args, e.tag + ": readout last gradient"));
        return o;
      }
    }
    return o;
  }

  Grad backward_sublayer(const TapeEntry &e, Grad gr, std::vector<Step> &steps) {
    const ir::Node &n = *e.node;
    const int64_t h = n.hidden, sw = n.state_width();
    const int gates = ir::gate_count(n.cell);
    // The output gradient per direction, each in its direction's row order.
    if (gr.buffer >= 0) {
      if (e.dirs.size() == 1 && !e.dirs[0].reverse) {
        gr.dout_f = gr.buffer;
      } else if (e.dirs.size() == 1) {
        gr.dout_r = buffer(e.tag + ".out.grad_r", kRowsPacked, sw);
        steps.push_back(gather(gr.dout_r, gr.buffer, idx(kIdxPerm), e.tag + ": output gradient, reverse order"));
      } else {
        gr.dout_f = view(gr.buffer, e.tag + ".out.grad[:, :H]", sw, 0, false);
        const int rev_half = view(gr.buffer, e.tag + ".out.grad[:, H:]", sw, sw, false);
        gr.dout_r = buffer(e.tag + ".out.grad_r", kRowsPacked, sw);
        steps.push_back(gather(gr.dout_r, rev_half, idx(kIdxPerm), e.tag + ": reverse output gradient, reverse order"));
      }
    }
    std::vector<Term> input_terms;  // dx = sum over directions of dxp W_ih
    std::vector<int> dxps;
    for (size_t k = 0; k < e.dirs.size(); ++k) {
      const DirectionTape &dt = e.dirs[k];
      const int dir = dt.reverse ? 1 : 0;
      const std::string tag = e.tag + (dir ? "r" : "f");
      const std::string what = "layers." + std::to_string(n.layer) + " " + ir::to_string(n.cell) + " " +
                               e.tag.substr(e.tag.rfind('.') + 1) + (dir ? " reverse" : " forward");
      const int dout = dir ? gr.dout_r : gr.dout_f;
      // Recurrent gradients flow through state buffers: rows of step t hold
      // dL/dh_t from step t+1 (0 for sequences that ended at t), rows 0..N-1
      // receive dL/dh0.
      const int dhs = buffer(tag + ".h.grad", kRowsState, sw);
      steps.push_back(zero(dhs, what + ": clear the recurrent gradient"));
      for (State &st : plan_.states)
        if (st.h_buffer == dt.hs) {
          st.out_grad = dout;
          st.rec_grad = dhs;
        }
      int dcs = -1;
      if (dt.cs >= 0) {
        dcs = buffer(tag + ".c.grad", kRowsState, h);
        steps.push_back(zero(dcs, what + ": clear the cell-state gradient"));
      }
      KernelDesc bd;
      bd.family = n.cell == ir::Cell::kRnn    ? Family::kRnnStepBwd
                  : n.cell == ir::Cell::kLstm ? Family::kLstmStepBwd
                                              : Family::kGruStepBwd;
      bd.h = h;
      bd.g = gates;
      bd.relu = n.nonlinearity == Nonlinearity::kRelu;
      bd.linear_before_reset = n.linear_before_reset;
      set_variant(bd, n);
      const int bk = kernel(bd);
      const int wt = packed(dt.p.w_hh, plan_.kernels[bk], 1, sw, gates * h, true);
      const bool lbr_gru = n.cell == ir::Cell::kGru && n.linear_before_reset;
      const bool onnx_gru = n.cell == ir::Cell::kGru && !n.linear_before_reset;
      const int dxp = buffer(tag + ".xp.grad", kRowsPacked, gates * h);
      const int dhp = lbr_gru ? buffer(tag + ".hp.grad", kRowsPacked, gates * h) : dxp;
      const int rh = onnx_gru ? buffer(tag + ".rh", kRowsPacked, h) : -1;
      int dpeep = -1, dh_rows = -1;
      Step loop;
      loop.op = kOpTimeLoop;
      loop.kernel = bk;
      loop.direction = kBackward;
      loop.comment = what + ": backward recurrence";
      auto &a = loop.args;
      a = {buf(dout, kSliceStep), buf(dhs, kSliceStateCur)};
      switch (n.cell) {
        case ir::Cell::kRnn:
          a.push_back(buf(dt.hs, kSliceStateCur));
          for (int act : dt.acts) a.push_back(buf(act, kSliceStep));
          a.push_back(pk(wt));
          a.push_back(buf(dxp, kSliceStep));
          a.push_back(buf(dhs, kSliceStatePrev));
          break;
        case ir::Cell::kLstm:
          a.push_back(buf(dcs, kSliceStateCur));
          for (int act : dt.acts) a.push_back(buf(act, kSliceStep));
          a.push_back(buf(dt.cs, kSliceStateCur));
          a.push_back(buf(dt.cs, kSliceStatePrev));
          a.push_back(pk(wt));
          if (dt.p.w_hr >= 0) a.push_back(pk(packed(dt.p.w_hr, plan_.kernels[bk], 1, h, sw, true)));
          if (dt.p.peephole >= 0) a.push_back(par(dt.p.peephole));
          a.push_back(buf(dxp, kSliceStep));
          a.push_back(buf(dhs, kSliceStatePrev));
          a.push_back(buf(dcs, kSliceStatePrev));
          if (dt.p.peephole >= 0) {
            // Per-row peephole gradients, summed over every step below.
            dpeep = buffer(tag + ".peephole.grad_rows", kRowsPacked, 3 * h);
            for (int q = 0; q < 3; ++q)
              a.push_back(
                  buf(view(dpeep, tag + ".peephole.grad_rows." + std::to_string(q), h, q * h, false), kSliceStep));
          }
          if (dt.p.w_hr >= 0) {  // dL/dh_t per step, for dW_hr
            dh_rows = buffer(tag + ".h.grad_rows", kRowsPacked, sw);
            a.push_back(buf(dh_rows, kSliceStep));
          }
          break;
        case ir::Cell::kGru:
          a.push_back(buf(dt.hs, kSliceStatePrev));
          for (int act : dt.acts) a.push_back(buf(act, kSliceStep));
          a.push_back(pk(wt));
          a.push_back(buf(dxp, kSliceStep));
          if (lbr_gru) a.push_back(buf(dhp, kSliceStep));
          a.push_back(buf(dhs, kSliceStatePrev));
          if (onnx_gru) a.push_back(buf(rh, kSliceStep));
          break;
      }
      steps.push_back(loop);

      // Weight gradients over every step at once.
      KernelDesc wg;
      wg.family = Family::kGemmWgrad;
      wg.k = sw;
      wg.gather = true;
      if (onnx_gru) {
        // W_hr, W_hz read h_{t-1}; W_hn reads r ⊙ h_{t-1}.
        wg.n = 2 * h;
        const int rz = view(dxp, tag + ".xp.grad[:, :2H]", 2 * h, 0, false);
        const int nn = view(dxp, tag + ".xp.grad[:, 2H:]", h, 2 * h, false);
        steps.push_back(call(kernel(wg), {buf(rz), buf(dt.hs), idx(kIdxPrevRow), grad(dt.p.w_hh, 0, 2 * h)},
                             what + ": recurrent weight gradient (r, z)"));
        KernelDesc wn = wg;
        wn.n = h;
        wn.gather = false;
        steps.push_back(
            call(kernel(wn), {buf(nn), buf(rh), grad(dt.p.w_hh, 2 * h, h)}, what + ": recurrent weight gradient (n)"));
      } else {
        wg.n = gates * h;
        steps.push_back(call(kernel(wg), {buf(dhp), buf(dt.hs), idx(kIdxPrevRow), grad(dt.p.w_hh)},
                             what + ": recurrent weight gradient"));
      }
      if (dt.p.b_hh >= 0) steps.push_back(colsum(dhp, gates * h, grad(dt.p.b_hh), what + ": recurrent bias gradient"));
      if (dpeep >= 0) steps.push_back(colsum(dpeep, 3 * h, grad(dt.p.peephole), what + ": peephole gradient"));
      if (dh_rows >= 0) {
        KernelDesc pg;
        pg.family = Family::kGemmWgrad;
        pg.k = h;
        pg.n = sw;
        steps.push_back(call(kernel(pg), {buf(dh_rows), buf(dt.m), grad(dt.p.w_hr)}, what + ": projection gradient"));
      }
      const int64_t in_width = n.sublayer_input(std::stoll(e.tag.substr(e.tag.rfind(".l") + 2)));
      KernelDesc iw;
      iw.family = Family::kGemmWgrad;
      iw.k = in_width;
      iw.n = gates * h;
      iw.gather = dt.src_gather;
      std::vector<Arg> iargs = {buf(dxp), dt.src};
      if (dt.src_gather) iargs.push_back(dt.src_idx);
      iargs.push_back(grad(dt.p.w_ih));
      steps.push_back(call(kernel(iw), iargs, what + ": input weight gradient"));
      if (dt.p.b_ih >= 0) steps.push_back(colsum(dxp, gates * h, grad(dt.p.b_ih), what + ": input bias gradient"));
      dxps.push_back(dxp);
    }

    // The gradient of the sub-layer's input, in packed order: both
    // directions' input-side gradients times W_ih, the reverse one gathered
    // back from reverse order.
    const Value &in = e.in;
    const int64_t in_width = in.width;
    const std::string itag = e.tag + ".in.grad";
    const int dx = buffer(itag, kRowsPacked, in_width);
    // The features' gradient only for those who ask (<name>_backward), in a list of its own.
    std::vector<Step> &dx_steps = in.kind == Value::kInput ? plan_.input_grad : steps;
    if (in.kind == Value::kInput) plan_.input_grad_buffer = dx;
    const bool two = e.dirs.size() == 2;
    const KernelDesc gd = gemm_desc(gates * h, in_width, !two && e.dirs[0].reverse, two ? 2 : 1);
    std::vector<Term> terms;
    for (size_t k = 0; k < e.dirs.size(); ++k) {
      Term t;
      t.a = buf(dxps[k]);
      t.gather = e.dirs[k].reverse;
      t.index = idx(kIdxPerm);
      t.packed = packed(e.dirs[k].p.w_ih, gd, 1, in_width, gates * h, true);
      terms.push_back(t);
    }
    dx_steps.push_back(gemm(terms, gates * h, in_width, zeros(in_width), dx, e.tag + ": input gradient"));
    if (in.kind == Value::kInput) return Grad{};
    if (in.kind == Value::kEmbedded) {
      KernelDesc sd;
      sd.family = Family::kScatterRows;
      sd.n = in_width;
      sd.k = g_.input.vocab;
      steps.push_back(call(kernel(sd), {buf(dx), idx(kIdxInputFwd), grad(in.embedding)}, "embedding gradient"));
      return Grad{};
    }
    Grad o;
    o.buffer = dx;
    return o;
  }

  // --- optimizer ----------------------------------------------------------

  void lower_optimizer() {
    const int np = static_cast<int>(g_.params.size());
    plan_.grad_sq_buffer = buffer("grad_sq", kRowsOne, np);
    KernelDesc sq;
    sq.family = Family::kSumSquares;
    const int sk = kernel(sq);
    for (int p = 0; p < np; ++p) {
      const int slot = view(plan_.grad_sq_buffer, "grad_sq." + g_.params[p].name, 1, p, false);
      plan_.grad_norm.push_back(call(sk, {flat(kFlatGrads, plan_.param_offsets[p], g_.params[p].numel()), buf(slot)},
                                     "sum of squares of the gradient of " + g_.params[p].name));
    }
    const TrainSpec &t = g_.train;
    KernelDesc ud;
    if (t.optimizer == OptimizerKind::kAdam) {
      ud.family = Family::kAdamUpdate;
      plan_.update.push_back(
          call(kernel(ud),
               {flat(kFlatParams), flat(kFlatGrads), flat(kFlatSlot1), flat(kFlatSlot2), scalar(kScalarLearningRate),
                const_f(t.beta1), const_f(t.beta2), const_f(t.eps), const_f(t.weight_decay),
                scalar(kScalarBiasCorrection1), scalar(kScalarBiasCorrection2), scalar(kScalarGradScale),
                flat(kFlatParamsNext), flat(kFlatSlot1Next), flat(kFlatSlot2Next)},
               "Adam update of every parameter"));
    } else {
      ud.family = Family::kSgdUpdate;
      plan_.update.push_back(
          call(kernel(ud),
               {flat(kFlatParams), flat(kFlatGrads), flat(kFlatSlot1), scalar(kScalarLearningRate), const_f(t.momentum),
                const_f(t.weight_decay), scalar(kScalarGradScale), flat(kFlatParamsNext), flat(kFlatSlot1Next)},
               "SGD update of every parameter"));
    }
  }

  const ir::Graph &g_;
  const schedules::ScheduleSource &schedules_;
  Plan plan_;
  std::vector<TapeEntry> tape_;
  int next_site_ = 0;
};

}  // namespace

Plan lower(const ir::Graph &g, const schedules::ScheduleSource &schedules) { return Lowerer(g, schedules).run(); }

}  // namespace rnnc::plan
