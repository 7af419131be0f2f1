#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "plan/plan.h"

namespace rnnc::plan {

using namespace rnnc_rt;
using kernels::ArgType;

namespace {

bool is_scalar_arg(const Arg &a) {
  return a.kind == kArgConstF || a.kind == kArgConstI || a.kind == kArgScalar || a.kind == kArgDropoutRate;
}

class Verifier {
 public:
  Verifier(const Plan &p, const ir::Graph &g) : p_(p), g_(g) {}

  void run() {
    if (p_.param_offsets.size() != g_.params.size()) fail("parameter offsets do not match the graph");
    for (size_t i = 0; i < p_.buffers.size(); ++i) check_buffer(static_cast<int>(i));
    for (const Packed &pk : p_.packed) {
      if (pk.param < 0 || pk.param >= static_cast<int>(g_.params.size())) fail("packed " + pk.name + ": bad parameter");
      if (pk.kernel < 0 || pk.kernel >= static_cast<int>(p_.kernels.size())) fail("packed " + pk.name + ": bad kernel");
      const auto &kd = p_.kernels[pk.kernel];
      if (kd.family != kernels::Family::kPackWeights) fail("packed " + pk.name + ": not a pack kernel");
      const ir::Param &par = g_.params[pk.param];
      // W is [g*h, k], or [k, h] when packed transposed.
      const int64_t rows = kd.transpose ? kd.k : kd.g * kd.h, cols = kd.transpose ? kd.h : kd.k;
      if (par.shape.size() != 2 || par.shape[0] != rows || par.shape[1] != cols)
        fail("packed " + pk.name + ": pack kernel does not match the parameter's shape");
    }
    check_list(p_.infer, "infer");
    check_list(p_.train_fwd, "train_fwd");
    check_list(p_.loss, "loss");
    check_list(p_.train_bwd, "train_bwd");
    check_list(p_.grad_norm, "grad_norm");
    check_list(p_.update, "update");
    check_list(p_.input_grad, "input_grad");
    if (!p_.train_bwd.empty()) check_gradient_coverage();
    check_states();
    if (p_.output_buffer < 0 || p_.output_buffer >= static_cast<int>(p_.buffers.size())) fail("no output buffer");
    if (p_.buffers[p_.output_buffer].cols != p_.output_width) fail("output buffer width differs from the model's");
  }

 private:
  // Every state names buffers whose rows and widths fit what the runtime
  // reads through them (h, c, and after a backward the two halves of dL/dh_t).
  void check_states() const {
    const int nb = static_cast<int>(p_.buffers.size());
    auto fits = [&](int id, RowKind rows, int hidden) {
      return id >= 0 && id < nb && p_.buffers[id].rows == rows && p_.buffers[id].cols == hidden;
    };
    for (const State &st : p_.states) {
      const std::string what = "state of layers." + std::to_string(st.layer) + " sub-layer " +
                               std::to_string(st.sublayer) + (st.reverse ? " reverse" : " forward");
      if (!fits(st.h_buffer, kRowsState, st.hidden)) fail(what + ": h is not a state buffer of its width");
      if (st.c_buffer >= 0 && !fits(st.c_buffer, kRowsState, st.c_hidden))
        fail(what + ": c is not a state buffer of its width");
      if ((st.c_buffer >= 0) != (st.c_hidden > 0)) fail(what + ": c's width and buffer disagree");
      if (p_.train_bwd.empty()) continue;
      if (!fits(st.out_grad, kRowsPacked, st.hidden)) fail(what + ": no output gradient of its width");
      if (!fits(st.rec_grad, kRowsState, st.hidden)) fail(what + ": no recurrent gradient of its width");
    }
  }

  [[noreturn]] void fail(const std::string &m) const {
    throw std::logic_error("plan of '" + g_.name + "' is invalid: " + m);
  }

  void check_buffer(int i) {
    const Buffer &b = p_.buffers[i];
    if (b.cols <= 0) fail("buffer " + b.name + " has no columns");
    if (b.parent < 0) return;
    if (b.parent >= i) fail("view " + b.name + " precedes its parent");
    const Buffer &par = p_.buffers[b.parent];
    if (par.parent >= 0) fail("view " + b.name + " is a view of a view");
    if (b.col_offset < 0 || b.col_offset + b.cols > par.cols) fail("view " + b.name + " exceeds its parent's columns");
    if (b.skip_state_rows && (par.rows != kRowsState || b.rows != kRowsPacked))
      fail("view " + b.name + " skips state rows of a non-state buffer");
    if (!b.skip_state_rows && b.rows != par.rows) fail("view " + b.name + " has other rows than its parent");
  }

  // The extent of dimension 0 an argument provides, or -1 if unknown.
  int64_t width_of(const Arg &a) const {
    switch (a.kind) {
      case kArgBuffer:
        return p_.buffers.at(a.id).cols;
      case kArgParam:
      case kArgGrad:
        return g_.params.at(a.id).shape.back();
      case kArgPacked:
        return p_.packed.at(a.id).dims.at(0);
      case kArgZeros:
        return a.id;
      case kArgInput:
        return g_.input.kind == InputKind::kFeatures ? g_.input.size : -1;
      case kArgLabels:
        return g_.loss == LossKind::kMse ? p_.output_width : -1;
      default:
        return -1;
    }
  }

  int dims_of(const Arg &a) const {
    switch (a.kind) {
      case kArgBuffer:
        return 2;
      case kArgParam:
      case kArgGrad:
        return static_cast<int>(g_.params.at(a.id).shape.size());
      case kArgPacked:
        return static_cast<int>(p_.packed.at(a.id).dims.size());
      case kArgInput:
        return g_.input.kind == InputKind::kFeatures ? 2 : 1;
      case kArgLabels:
        return g_.loss == LossKind::kMse ? 2 : 1;
      case kArgIndex:
      case kArgZeros:
      case kArgFlat:
        return 1;
      default:
        return 0;
    }
  }

  bool is_float(const Arg &a) const {
    switch (a.kind) {
      case kArgIndex:
        return false;
      case kArgInput:
        return g_.input.kind == InputKind::kFeatures;
      case kArgLabels:
        return g_.loss == LossKind::kMse;
      default:
        return true;
    }
  }

  void check_ids(const Arg &a, const std::string &where) const {
    auto in = [&](int n) {
      if (a.id < 0 || a.id >= n) fail(where + ": id " + std::to_string(a.id) + " out of range");
    };
    switch (a.kind) {
      case kArgBuffer:
        in(static_cast<int>(p_.buffers.size()));
        break;
      case kArgParam:
      case kArgGrad: {
        in(static_cast<int>(g_.params.size()));
        const int64_t rows = g_.params[a.id].shape[0];
        if (a.row0 < 0 || a.nrows < 0 || a.row0 + a.nrows > rows || (a.nrows == 0 && a.row0 != 0))
          fail(where + ": rows out of the tensor's range");
        break;
      }
      case kArgFlat:
        in(kFlatCount);
        if (a.row0 < 0 || a.nrows < 0 || a.row0 + a.nrows > p_.param_floats || (a.nrows == 0 && a.row0 != 0))
          fail(where + ": elements out of the flat array's range");
        break;
      case kArgPacked:
        in(static_cast<int>(p_.packed.size()));
        break;
      case kArgIndex:
        in(kIdxCount);
        break;
      case kArgScalar:
        in(kScalarCount);
        break;
      case kArgZeros:
        if (a.id <= 0) fail(where + ": empty zero vector");
        break;
      default:
        break;
    }
  }

  void check_list(const std::vector<Step> &steps, const std::string &list) {
    for (size_t si = 0; si < steps.size(); ++si) {
      const Step &s = steps[si];
      const std::string where = list + "[" + std::to_string(si) + "] (" + s.comment + ")";
      for (size_t ai = 0; ai < s.args.size(); ++ai) {
        const Arg &a = s.args[ai];
        const std::string aw = where + " argument " + std::to_string(ai);
        check_ids(a, aw);
        if (a.slice != kSliceAll) {
          if (s.op != kOpTimeLoop) fail(aw + ": a step slice outside a time loop");
          if (a.kind != kArgBuffer) fail(aw + ": a step slice of a non-buffer");
          const RowKind rows = static_cast<RowKind>(p_.buffers[a.id].rows);
          const bool want_state = a.slice == kSliceStateCur || a.slice == kSliceStatePrev;
          if (want_state != (rows == kRowsState)) fail(aw + ": slice does not fit the buffer's rows");
          if (!want_state && rows != kRowsPacked) fail(aw + ": step slice of a non-packed buffer");
        }
      }
      switch (s.op) {
        case kOpCall:
        case kOpTimeLoop:
        case kOpWholeLoop:
          check_call(s, where);
          break;
        case kOpGatherRows:
          if (s.args.size() != 3 || s.args[0].kind != kArgBuffer || s.args[1].kind != kArgBuffer)
            fail(where + ": gather takes (dst, src, index)");
          if (p_.buffers[s.args[0].id].cols != p_.buffers[s.args[1].id].cols) fail(where + ": gather widths differ");
          break;
        case kOpZero:
          if (s.args.size() != 1 || s.args[0].kind != kArgBuffer) fail(where + ": zero takes one buffer");
          break;
        default:
          fail(where + ": unknown op");
      }
    }
  }

  void check_call(const Step &s, const std::string &where) {
    if (s.kernel < 0 || s.kernel >= static_cast<int>(p_.kernels.size())) fail(where + ": bad kernel index");
    const auto sig = kernels::signature(p_.kernels[s.kernel]);
    if (sig.size() != s.args.size())
      fail(where + ": kernel " + p_.kernels[s.kernel].name() + " takes " + std::to_string(sig.size()) +
           " arguments, the step passes " + std::to_string(s.args.size()));
    for (size_t i = 0; i < sig.size(); ++i) {
      const Arg &a = s.args[i];
      const kernels::ArgSig &want = sig[i];
      const std::string aw = where + " argument '" + want.name + "'";
      const bool scalar = want.type == ArgType::kScalarF32 || want.type == ArgType::kScalarI32;
      if (scalar) {
        if (!is_scalar_arg(a)) fail(aw + ": expects a scalar");
        continue;
      }
      if (is_scalar_arg(a)) fail(aw + ": expects a buffer");
      if (is_float(a) != (want.type == ArgType::kBufferF32)) fail(aw + ": element type differs");
      if (dims_of(a) != want.dims)
        fail(aw + ": has " + std::to_string(dims_of(a)) + " dimensions, expects " + std::to_string(want.dims));
      if (want.width >= 0 && width_of(a) != want.width)
        fail(aw + ": width " + std::to_string(width_of(a)) + ", expects " + std::to_string(want.width));
      if (want.output && a.kind != kArgBuffer && a.kind != kArgGrad && a.kind != kArgPacked && a.kind != kArgFlat)
        fail(aw + ": an output must be writable");
      // Updates write fresh arrays and read the current ones: never in place.
      if (a.kind == kArgFlat && want.output != (a.id >= kFlatParamsNext))
        fail(aw + (want.output ? ": writes a current flat array" : ": reads a next flat array"));
    }
  }

  // Every parameter's gradient is written exactly once per backward pass
  // (a row range at a time, the ranges tiling the tensor).
  void check_gradient_coverage() {
    std::vector<std::vector<std::pair<int64_t, int64_t>>> written(g_.params.size());
    for (const Step &s : p_.train_bwd) {
      if (s.kernel < 0) continue;
      const auto sig = kernels::signature(p_.kernels[s.kernel]);
      for (size_t i = 0; i < s.args.size() && i < sig.size(); ++i) {
        const Arg &a = s.args[i];
        if (a.kind != kArgGrad) continue;
        if (!sig[i].output) fail("step '" + s.comment + "' reads a gradient");
        const int64_t rows = g_.params[a.id].shape[0];
        written[a.id].push_back({a.row0, a.nrows ? a.row0 + a.nrows : rows});
      }
    }
    for (size_t p = 0; p < written.size(); ++p) {
      auto w = written[p];
      std::sort(w.begin(), w.end());
      int64_t next = 0;
      for (const auto &[b, e] : w) {
        if (b != next) fail("the gradient of " + g_.params[p].name + " is written twice or not everywhere");
        next = e;
      }
      if (next != g_.params[p].shape[0]) fail("the gradient of " + g_.params[p].name + " is not written everywhere");
    }
  }

  const Plan &p_;
  const ir::Graph &g_;
};

}  // namespace

void verify(const Plan &p, const ir::Graph &g) { Verifier(p, g).run(); }

}  // namespace rnnc::plan
