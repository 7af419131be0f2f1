#include "kernels/kernel_desc.h"

namespace rnnc::kernels {

const char *to_string(Family f) {
  switch (f) {
    case Family::kPackWeights: return "pack_weights";
    case Family::kGemmFwd: return "gemm_fwd";
    case Family::kRnnStepFwd: return "rnn_step_fwd";
    case Family::kLstmStepFwd: return "lstm_step_fwd";
    case Family::kGruStepFwd: return "gru_step_fwd";
    case Family::kReadoutLast: return "readout_last";
    case Family::kReadoutMean: return "readout_mean";
  }
  return "?";
}

std::string KernelDesc::name() const {
  std::string s = to_string(family);
  auto add = [&](const char *tag, int64_t v) { s += std::string("_") + tag + std::to_string(v); };
  switch (family) {
    case Family::kPackWeights:
      add("g", g);
      add("h", h);
      add("k", k);
      break;
    case Family::kGemmFwd:
      add("k", k);
      add("n", n);
      if (gather) s += "_gather";
      break;
    case Family::kRnnStepFwd:
    case Family::kLstmStepFwd:
    case Family::kGruStepFwd:
      add("h", h);
      if (family == Family::kRnnStepFwd && relu) s += "_relu";
      if (family == Family::kGruStepFwd && !linear_before_reset) s += "_onnx";
      if (train) s += "_train";
      break;
    case Family::kReadoutLast:
    case Family::kReadoutMean:
      add("h", h);
      add("d", dirs);
      break;
  }
  return s + "_" + sched.key();
}

namespace {
ArgSig in_f(const char *n, int dims, int64_t width) { return {n, ArgType::kBufferF32, dims, false, width}; }
ArgSig in_i(const char *n) { return {n, ArgType::kBufferI32, 1, false, -1}; }
ArgSig out_f(const char *n, int dims, int64_t width) { return {n, ArgType::kBufferF32, dims, true, width}; }
}  // namespace

std::vector<ArgSig> signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  switch (d.family) {
    case Family::kPackWeights:
      return {in_f("w", 2, d.k), out_f("packed", 4, t)};
    case Family::kGemmFwd:
      if (d.gather)
        return {in_f("a", 2, d.k), in_i("idx"), in_f("w", 4, t), in_f("bias", 1, d.n), out_f("out", 2, d.n)};
      return {in_f("a", 2, d.k), in_f("w", 4, t), in_f("bias", 1, d.n), out_f("out", 2, d.n)};
    case Family::kRnnStepFwd:
      return {in_f("xp", 2, d.h), in_f("h_prev", 2, d.h), in_f("w", 4, t), in_f("bias", 1, d.h), out_f("h", 2, d.h)};
    case Family::kLstmStepFwd: {
      std::vector<ArgSig> s = {in_f("xp", 2, 4 * d.h), in_f("h_prev", 2, d.h), in_f("c_prev", 2, d.h),
                               in_f("w", 4, t),        in_f("bias", 1, 4 * d.h), out_f("h", 2, d.h),
                               out_f("c", 2, d.h)};
      if (d.train)
        for (const char *gname : {"gate_i", "gate_f", "gate_g", "gate_o"}) s.push_back(out_f(gname, 2, d.h));
      return s;
    }
    case Family::kGruStepFwd: {
      std::vector<ArgSig> s = {in_f("xp", 2, 3 * d.h), in_f("h_prev", 2, d.h), in_f("w", 4, t),
                               in_f("bias", 1, 3 * d.h), out_f("h", 2, d.h)};
      if (d.train) {
        for (const char *gname : {"gate_r", "gate_z", "gate_n"}) s.push_back(out_f(gname, 2, d.h));
        if (d.linear_before_reset) s.push_back(out_f("hn", 2, d.h));
      }
      return s;
    }
    case Family::kReadoutLast:
      if (d.dirs == 2)
        return {in_f("src_f", 2, d.h), in_f("src_r", 2, d.h), in_i("last_row"), out_f("out", 2, 2 * d.h)};
      return {in_f("src_f", 2, d.h), in_i("last_row"), out_f("out", 2, d.h)};
    case Family::kReadoutMean:
      return {in_f("src", 2, d.h), in_i("step_offsets"), in_i("sort_pos"), in_i("lengths"), out_f("out", 2, d.h)};
  }
  return {};
}

}  // namespace rnnc::kernels
