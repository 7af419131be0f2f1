#include <sstream>

#include "plan/plan.h"

namespace rnnc::plan {

using namespace rnnc_rt;

namespace {

const char *rows_name(int r) {
  switch (r) {
    case kRowsPacked:
      return "R";
    case kRowsState:
      return "N+R";
    case kRowsBatch:
      return "N";
    default:
      return "1";
  }
}

const char *index_name(int i) {
  static const char *names[] = {"input_fwd",    "input_rev", "perm",    "last_row",    "row_seq", "lengths",
                                "step_offsets", "sort_pos",  "last_of", "batch_sizes", "prev_row"};
  return i >= 0 && i < kIdxCount ? names[i] : "?";
}

const char *slice_name(int s) {
  switch (s) {
    case kSliceStep:
      return "[t]";
    case kSliceStateCur:
      return "[state t]";
    case kSliceStatePrev:
      return "[state t-1]";
    default:
      return "";
  }
}

std::string arg_str(const Arg &a, const Plan &p, const ir::Graph &g) {
  std::ostringstream s;
  switch (a.kind) {
    case kArgBuffer:
      s << "%" << p.buffers[a.id].name << slice_name(a.slice);
      break;
    case kArgParam:
    case kArgGrad:
      s << (a.kind == kArgParam ? "param " : "grad ") << g.params[a.id].name;
      if (a.nrows) s << "[" << a.row0 << ":" << a.row0 + a.nrows << "]";
      break;
    case kArgPacked:
      s << "packed " << p.packed[a.id].name;
      break;
    case kArgIndex:
      s << "index " << index_name(a.id);
      break;
    case kArgInput:
      s << "input";
      break;
    case kArgZeros:
      s << "zeros(" << a.id << ")";
      break;
    case kArgConstF:
      s << a.fvalue;
      break;
    case kArgDropoutRate:
      s << "dropout rate " << a.fvalue;
      break;
    case kArgConstI:
      s << a.id;
      break;
    case kArgScalar: {
      static const char *scalars[] = {"dropout_seed",     "loss_scale",       "learning_rate",
                                      "bias_correction1", "bias_correction2", "grad_scale"};
      s << "scalar " << (a.id >= 0 && a.id < kScalarCount ? scalars[a.id] : "?");
      break;
    }
    case kArgFlat: {
      static const char *flats[] = {"params", "grads", "slot1", "slot2", "params_next", "slot1_next", "slot2_next"};
      s << "flat " << (a.id >= 0 && a.id < kFlatCount ? flats[a.id] : "?");
      if (a.nrows) s << "[" << a.row0 << ":" << a.row0 + a.nrows << "]";
      break;
    }
    case kArgLabels:
      s << "labels";
      break;
  }
  return s.str();
}

void print_steps(std::ostringstream &s, const char *title, const std::vector<Step> &steps, const Plan &p,
                 const ir::Graph &g) {
  if (steps.empty()) return;
  s << title << ":\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step &st = steps[i];
    s << "  " << i << ": ";
    switch (st.op) {
      case kOpCall:
        s << "call " << p.kernels[st.kernel].name();
        break;
      case kOpTimeLoop:
        s << "for t " << (st.direction == kForward ? "in 0..T-1" : "in T-1..0") << ": " << p.kernels[st.kernel].name();
        break;
      case kOpWholeLoop:
        s << "loop kernel " << p.kernels[st.kernel].name();
        break;
      case kOpGatherRows:
        s << "gather rows";
        break;
      case kOpZero:
        s << "zero";
        break;
    }
    s << "(";
    std::vector<kernels::ArgSig> sig;
    if (st.kernel >= 0) sig = kernels::signature(p.kernels[st.kernel]);
    for (size_t a = 0; a < st.args.size(); ++a) {
      s << (a ? ", " : "");
      if (a < sig.size()) s << sig[a].name << "=";
      s << arg_str(st.args[a], p, g);
    }
    s << ")\n      # " << st.comment << "\n";
  }
}

}  // namespace

std::string print_plan(const Plan &p, const ir::Graph &g) {
  std::ostringstream s;
  s << "plan " << g.name << "\n";
  s << "kernels:\n";
  for (size_t i = 0; i < p.kernels.size(); ++i) s << "  k" << i << " " << p.kernels[i].name() << "\n";
  s << "parameters (" << p.param_floats << " floats):\n";
  for (size_t i = 0; i < g.params.size(); ++i)
    s << "  " << g.params[i].name << " @" << p.param_offsets[i] << " (" << g.params[i].numel() << ")\n";
  s << "packed weights:\n";
  for (const Packed &pk : p.packed) {
    s << "  " << pk.name << " (";
    for (size_t d = 0; d < pk.dims.size(); ++d) s << (d ? ", " : "") << pk.dims[d];
    s << ") by " << p.kernels[pk.kernel].name() << "\n";
  }
  s << "buffers:\n";
  for (const Buffer &b : p.buffers) {
    s << "  %" << b.name << " [" << rows_name(b.rows) << ", " << b.cols << "]";
    if (b.parent >= 0)
      s << " = %" << p.buffers[b.parent].name << "[" << (b.skip_state_rows ? "N:" : ":") << ", " << b.col_offset << ":"
        << b.col_offset + b.cols << "]";
    s << "\n";
  }
  print_steps(s, "inference", p.infer, p, g);
  print_steps(s, "training forward", p.train_fwd, p, g);
  print_steps(s, "loss", p.loss, p, g);
  print_steps(s, "training backward", p.train_bwd, p, g);
  print_steps(s, "gradient norms", p.grad_norm, p, g);
  print_steps(s, "optimizer update", p.update, p, g);
  print_steps(s, "input gradient", p.input_grad, p, g);
  s << "output: %" << p.buffers[p.output_buffer].name << (p.per_step_output ? " (per step)" : "") << "\n";
  return s.str();
}

}  // namespace rnnc::plan
