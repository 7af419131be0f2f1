// Lowering: graph IR → plan. One pass per mode (inference, training
// forward); kernels and buffers are shared between the modes by name.
#include <map>

#include "codegen/kernel_builder.h"
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
  int h_fwd = -1;      // kRecurrent: output rows of each direction (views of the state buffers)
  int h_rev = -1;
  int buffer = -1;     // kBuffer, or a kRecurrent's materialised output
};

class Lowerer {
 public:
  Lowerer(const ir::Graph &g, const Halide::Target &t) : g_(g), target_(t) {}

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
    verify(plan_, g_);
    return plan_;
  }

 private:
  // --- tables -------------------------------------------------------------

  int kernel(KernelDesc d) {
    d = codegen::with_default_schedule(d, target_);
    return intern_kernel(d);
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

  // The packed copy of parameter `param` (g gates x h units, k inputs) in
  // the layout of `consumer`'s schedule.
  int packed(int param, const KernelDesc &consumer, int g, int64_t h, int64_t k) {
    KernelDesc d;
    d.family = Family::kPackWeights;
    d.g = g;
    d.h = h;
    d.k = k;
    d = codegen::with_default_schedule(d, target_);
    d.sched.tile = consumer.sched.tile;
    const int kern = intern_kernel(d);
    const std::string name = g_.params[param].name + ".packed_t" + std::to_string(d.sched.tile);
    for (size_t i = 0; i < plan_.packed.size(); ++i)
      if (plan_.packed[i].name == name) return static_cast<int>(i);
    Packed p;
    p.name = name;
    p.param = param;
    p.kernel = kern;
    p.dims = {d.sched.tile, g, k, (h + d.sched.tile - 1) / d.sched.tile};
    plan_.packed.push_back(p);
    return static_cast<int>(plan_.packed.size() - 1);
  }

  static Arg buf(int id, SliceKind s = kSliceAll) { return Arg{kArgBuffer, id, s, 0.0f}; }
  static Arg par(int id) { return Arg{kArgParam, id, kSliceAll, 0.0f}; }
  static Arg pk(int id) { return Arg{kArgPacked, id, kSliceAll, 0.0f}; }
  static Arg idx(IndexKind k) { return Arg{kArgIndex, k, kSliceAll, 0.0f}; }
  static Arg zeros(int64_t n) { return Arg{kArgZeros, static_cast<int>(n), kSliceAll, 0.0f}; }
  static Arg input() { return Arg{kArgInput, 0, kSliceAll, 0.0f}; }

  static Step call(int kernel, std::vector<Arg> args, std::string comment) {
    Step s;
    s.op = kOpCall;
    s.kernel = kernel;
    s.args = std::move(args);
    s.comment = std::move(comment);
    return s;
  }

  // --- forward ------------------------------------------------------------

  // A packed [R, width] buffer holding v (materialising a bidirectional
  // output on first use).
  int as_buffer(Value &v, std::vector<Step> &steps, const std::string &name) {
    if (v.kind == Value::kBuffer) return v.buffer;
    if (v.kind != Value::kRecurrent) throw std::logic_error("lowering: a non-recurrent value used as a buffer");
    if (v.h_rev < 0) return v.h_fwd;
    if (v.buffer < 0) {
      const int64_t h = v.width / 2;
      v.buffer = buffer(name, kRowsPacked, v.width);
      const int fwd = view(v.buffer, name + "[:, :H]", h, 0, false);
      const int rev = view(v.buffer, name + "[:, H:]", h, h, false);
      Step a;
      a.op = kOpGatherRows;
      a.args = {buf(fwd), buf(v.h_fwd), Arg{kArgConstI, -1, kSliceAll, 0.0f}};
      a.comment = "concatenate directions: forward half";
      Step b;
      b.op = kOpGatherRows;
      b.args = {buf(rev), buf(v.h_rev), idx(kIdxPerm)};
      b.comment = "concatenate directions: reverse half, back to packed order";
      steps.push_back(a);
      steps.push_back(b);
    }
    return v.buffer;
  }

  void lower_forward(bool train, std::vector<Step> &steps) {
    Value v;
    v.kind = Value::kInput;
    v.width = g_.input.kind == InputKind::kTokens ? 0 : g_.input.size;
    plan_.states.clear();
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
          break;  // the identity outside training
        case ir::Op::kReadout:
          lower_readout(n, v, steps, tag);
          break;
        case ir::Op::kLinear: {
          const int in = as_buffer(v, steps, tag + ".in");
          const RowKind rows = v.per_step ? kRowsPacked : kRowsBatch;
          KernelDesc d;
          d.family = Family::kGemmFwd;
          d.k = n.in.width;
          d.n = n.out_features;
          const int k = kernel(d);
          const int w = packed(n.params[0], plan_.kernels[k], 1, d.n, d.k);
          const int out = buffer(tag + ".out", rows, d.n);
          steps.push_back(call(k, {buf(in), pk(w), n.bias ? par(n.params[1]) : zeros(d.n), buf(out)},
                               tag + ": linear " + std::to_string(d.k) + " -> " + std::to_string(d.n)));
          v = Value{};
          v.kind = Value::kBuffer;
          v.buffer = out;
          v.width = d.n;
          v.per_step = rows == kRowsPacked;
          break;
        }
        case ir::Op::kInput:
          break;
      }
    }
    const int out = as_buffer(v, steps, "output");
    if (plan_.output_buffer >= 0 && plan_.output_buffer != out)
      throw std::logic_error("lowering: modes disagree on the output buffer");
    plan_.output_buffer = out;
  }

  void lower_recurrent(const ir::Node &n, Value &v, bool train, std::vector<Step> &steps) {
    const int64_t h = n.hidden;
    const int gates = ir::gate_count(n.cell);
    const size_t per = n.bias ? 4 : 2;
    for (int64_t l = 0; l < n.num_layers; ++l) {
      Value next;
      next.kind = Value::kRecurrent;
      next.width = h * n.directions();
      int src = -1;
      if (v.kind == Value::kRecurrent || v.kind == Value::kBuffer) {
        src = as_buffer(v, steps, "layers." + std::to_string(n.layer) + ".l" + std::to_string(l) + ".in");
      }
      for (int dir = 0; dir < n.directions(); ++dir) {
        const std::string tag = "layers." + std::to_string(n.layer) + ".l" + std::to_string(l) + (dir ? "r" : "f");
        const std::string what = "layers." + std::to_string(n.layer) + " " + ir::to_string(n.cell) + " layer " +
                                 std::to_string(l) + (dir ? " reverse" : " forward");
        const size_t base = (l * n.directions() + dir) * per;
        const int w_ih = n.params[base], w_hh = n.params[base + 1];
        const int b_ih = n.bias ? n.params[base + 2] : -1, b_hh = n.bias ? n.params[base + 3] : -1;
        const int64_t in_width = n.sublayer_input(l);

        // Input projection of every step at once.
        KernelDesc pd;
        pd.family = Family::kGemmFwd;
        pd.k = in_width;
        pd.n = gates * h;
        std::vector<Arg> pargs;
        if (v.kind == Value::kInput || v.kind == Value::kEmbedded) {
          pd.gather = true;
          pargs = {v.kind == Value::kInput ? input() : par(v.embedding), idx(dir ? kIdxInputRev : kIdxInputFwd)};
        } else if (dir == 0) {
          pargs = {buf(src)};
        } else {
          pd.gather = true;
          pargs = {buf(src), idx(kIdxPerm)};
        }
        const int pk_ = kernel(pd);
        const int wp_ih = packed(w_ih, plan_.kernels[pk_], 1, pd.n, pd.k);
        const int xp = buffer(tag + ".xp", kRowsPacked, pd.n);
        pargs.push_back(pk(wp_ih));
        pargs.push_back(b_ih >= 0 ? par(b_ih) : zeros(pd.n));
        pargs.push_back(buf(xp));
        steps.push_back(call(pk_, pargs, what + ": input projection"));

        // The time loop of fused steps.
        KernelDesc sd;
        sd.family = n.cell == ir::Cell::kRnn ? Family::kRnnStepFwd
                    : n.cell == ir::Cell::kLstm ? Family::kLstmStepFwd
                                                : Family::kGruStepFwd;
        sd.h = h;
        sd.g = gates;
        sd.train = train;
        sd.relu = n.nonlinearity == Nonlinearity::kRelu;
        sd.linear_before_reset = n.linear_before_reset;
        const int sk = kernel(sd);
        const int wp_hh = packed(w_hh, plan_.kernels[sk], gates, h, h);
        const int hs = buffer(tag + ".h", kRowsState, h);
        const int cs = n.cell == ir::Cell::kLstm ? buffer(tag + ".c", kRowsState, h) : -1;
        Step loop;
        loop.op = kOpTimeLoop;
        loop.kernel = sk;
        loop.direction = kForward;
        loop.comment = what + ": recurrence";
        loop.args = {buf(xp, kSliceStep), buf(hs, kSliceStatePrev)};
        if (cs >= 0) loop.args.push_back(buf(cs, kSliceStatePrev));
        loop.args.push_back(pk(wp_hh));
        loop.args.push_back(b_hh >= 0 ? par(b_hh) : zeros(gates * h));
        loop.args.push_back(buf(hs, kSliceStateCur));
        if (cs >= 0) loop.args.push_back(buf(cs, kSliceStateCur));
        if (train) {
          const int saved = static_cast<int>(kernels::signature(plan_.kernels[sk]).size() - loop.args.size());
          const int acts = buffer(tag + ".acts", kRowsPacked, saved * h);
          for (int i = 0; i < saved; ++i)
            loop.args.push_back(buf(view(acts, tag + ".acts." + std::to_string(i), h, i * h, false), kSliceStep));
        }
        steps.push_back(loop);

        plan_.states.push_back(State{hs, cs, static_cast<int>(h)});
        const int rows = view(hs, tag + ".out", h, 0, true);
        (dir ? next.h_rev : next.h_fwd) = rows;
      }
      v = next;
    }
  }

  void lower_readout(const ir::Node &n, Value &v, std::vector<Step> &steps, const std::string &tag) {
    const int64_t width = n.in.width;
    if (n.mode == ReadoutMode::kAll) {
      v.per_step = true;
      return;
    }
    KernelDesc d;
    d.h = v.h_rev >= 0 ? width / 2 : width;
    d.dirs = v.h_rev >= 0 ? 2 : 1;
    const int out = buffer(tag + ".out", kRowsBatch, width);
    if (n.mode == ReadoutMode::kLast) {
      d.family = Family::kReadoutLast;
      std::vector<Arg> args = {buf(v.h_fwd)};
      if (v.h_rev >= 0) args.push_back(buf(v.h_rev));
      args.push_back(idx(kIdxLastRow));
      args.push_back(buf(out));
      steps.push_back(call(kernel(d), args, tag + ": readout last"));
    } else {
      d.family = Family::kReadoutMean;
      d.h = width;
      d.dirs = 1;
      const int src = as_buffer(v, steps, tag + ".in");
      steps.push_back(call(kernel(d), {buf(src), idx(kIdxStepOffsets), idx(kIdxSortPos), idx(kIdxLengths), buf(out)},
                           tag + ": readout mean"));
    }
    v = Value{};
    v.kind = Value::kBuffer;
    v.buffer = out;
    v.width = width;
    v.per_step = false;
  }

  const ir::Graph &g_;
  Halide::Target target_;
  Plan plan_;
};

}  // namespace

Plan lower(const ir::Graph &g, const Halide::Target &target) { return Lowerer(g, target).run(); }

}  // namespace rnnc::plan
