#include "kernels/kernel_desc.h"

namespace rnnc::kernels {

const char *to_string(Family f) {
  switch (f) {
    case Family::kPackWeights:
      return "pack_weights";
    case Family::kGemmFwd:
      return "gemm_fwd";
    case Family::kRnnStepFwd:
      return "rnn_step_fwd";
    case Family::kLstmStepFwd:
      return "lstm_step_fwd";
    case Family::kGruStepFwd:
      return "gru_step_fwd";
    case Family::kReadoutLast:
      return "readout_last";
    case Family::kReadoutMean:
      return "readout_mean";
    case Family::kDropout:
      return "dropout";
    case Family::kGemmWgrad:
      return "gemm_wgrad";
    case Family::kColSum:
      return "colsum";
    case Family::kScatterRows:
      return "scatter_rows";
    case Family::kRnnStepBwd:
      return "rnn_step_bwd";
    case Family::kLstmStepBwd:
      return "lstm_step_bwd";
    case Family::kGruStepBwd:
      return "gru_step_bwd";
    case Family::kReadoutLastBwd:
      return "readout_last_bwd";
    case Family::kReadoutMeanBwd:
      return "readout_mean_bwd";
    case Family::kSoftmaxXent:
      return "softmax_xent";
    case Family::kMseLoss:
      return "mse_loss";
    case Family::kSumSquares:
      return "sum_squares";
    case Family::kAdamUpdate:
      return "adam_update";
    case Family::kSgdUpdate:
      return "sgd_update";
  }
  return "?";
}

std::string KernelDesc::workload_key() const {
  std::string s = to_string(family);
  auto add = [&](const char *tag, int64_t v) { s += std::string("_") + tag + std::to_string(v); };
  switch (family) {
    case Family::kPackWeights:
      add("g", g);
      add("h", h);
      add("k", k);
      if (transpose) s += "_transposed";
      break;
    case Family::kGemmFwd:
    case Family::kGemmWgrad:
      add("k", k);
      add("n", n);
      if (gather) s += "_gather";
      if (terms == 2) s += "_2terms";
      break;
    case Family::kRnnStepFwd:
    case Family::kLstmStepFwd:
    case Family::kGruStepFwd:
    case Family::kRnnStepBwd:
    case Family::kLstmStepBwd:
    case Family::kGruStepBwd:
      add("h", h);
      if ((family == Family::kRnnStepFwd || family == Family::kRnnStepBwd) && relu) s += "_relu";
      if ((family == Family::kGruStepFwd || family == Family::kGruStepBwd) && !linear_before_reset) s += "_onnx";
      if (train) s += "_train";
      break;
    case Family::kReadoutLast:
    case Family::kReadoutMean:
    case Family::kReadoutLastBwd:
    case Family::kReadoutMeanBwd:
      add("h", h);
      add("d", dirs);
      break;
    case Family::kScatterRows:
      add("n", n);
      add("v", k);
      break;
    case Family::kDropout:
    case Family::kColSum:
    case Family::kSoftmaxXent:
    case Family::kMseLoss:
      add("n", n);
      break;
    case Family::kSumSquares:
    case Family::kAdamUpdate:
    case Family::kSgdUpdate:
      break;
  }
  return s;
}

std::string KernelDesc::name() const { return workload_key() + "_" + sched.key(); }

namespace {
ArgSig in_f(const char *n, int dims, int64_t width) { return {n, ArgType::kBufferF32, dims, false, width}; }
ArgSig in_i(const char *n) { return {n, ArgType::kBufferI32, 1, false, -1}; }
ArgSig out_f(const char *n, int dims, int64_t width) { return {n, ArgType::kBufferF32, dims, true, width}; }
ArgSig sc_f(const char *n) { return {n, ArgType::kScalarF32, 0, false, -1}; }
ArgSig sc_i(const char *n) { return {n, ArgType::kScalarI32, 0, false, -1}; }
}  // namespace

std::vector<ArgSig> signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  switch (d.family) {
    case Family::kPackWeights:
      return {in_f("w", 2, d.transpose ? d.h : d.k), out_f("packed", 4, t)};
    case Family::kGemmFwd: {
      std::vector<ArgSig> s = {in_f("a", 2, d.k)};
      if (d.gather) s.push_back(in_i("idx"));
      s.push_back(in_f("w", 4, t));
      if (d.terms == 2) {
        s.push_back(in_f("a2", 2, d.k));
        s.push_back(in_i("idx2"));
        s.push_back(in_f("w2", 4, t));
      }
      s.push_back(in_f("bias", 1, d.n));
      s.push_back(out_f("out", 2, d.n));
      return s;
    }
    case Family::kRnnStepFwd:
      return {in_f("xp", 2, d.h), in_f("h_prev", 2, d.h), in_f("w", 4, t), in_f("bias", 1, d.h), out_f("h", 2, d.h)};
    case Family::kLstmStepFwd: {
      std::vector<ArgSig> s = {in_f("xp", 2, 4 * d.h), in_f("h_prev", 2, d.h),   in_f("c_prev", 2, d.h),
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
    case Family::kDropout:
      return {in_f("x", 2, d.n), sc_i("seed"), sc_i("site"), sc_f("p"), out_f("out", 2, d.n)};
    case Family::kGemmWgrad:
      if (d.gather) return {in_f("dy", 2, d.n), in_f("a", 2, d.k), in_i("idx"), out_f("dw", 2, d.k)};
      return {in_f("dy", 2, d.n), in_f("a", 2, d.k), out_f("dw", 2, d.k)};
    case Family::kColSum:
      return {in_f("dy", 2, d.n), out_f("db", 1, d.n)};
    case Family::kScatterRows:
      return {in_f("dx", 2, d.n), in_i("idx"), out_f("out", 2, d.n)};
    case Family::kRnnStepBwd:
      return {in_f("dout", 2, d.h), in_f("dh_next", 2, d.h), in_f("h", 2, d.h),
              in_f("wt", 4, t),     out_f("da", 2, d.h),     out_f("dh_prev", 2, d.h)};
    case Family::kLstmStepBwd:
      return {in_f("dout", 2, d.h),    in_f("dh_next", 2, d.h), in_f("dc_next", 2, d.h), in_f("gate_i", 2, d.h),
              in_f("gate_f", 2, d.h),  in_f("gate_g", 2, d.h),  in_f("gate_o", 2, d.h),  in_f("c", 2, d.h),
              in_f("c_prev", 2, d.h),  in_f("wt", 4, t),        out_f("da", 2, 4 * d.h), out_f("dh_prev", 2, d.h),
              out_f("dc_prev", 2, d.h)};
    case Family::kGruStepBwd:
      if (d.linear_before_reset)
        return {in_f("dout", 2, d.h),     in_f("dh_next", 2, d.h),  in_f("h_prev", 2, d.h),  in_f("gate_r", 2, d.h),
                in_f("gate_z", 2, d.h),   in_f("gate_n", 2, d.h),   in_f("hn", 2, d.h),      in_f("wt", 4, t),
                out_f("dxp", 2, 3 * d.h), out_f("dhp", 2, 3 * d.h), out_f("dh_prev", 2, d.h)};
      return {in_f("dout", 2, d.h),     in_f("dh_next", 2, d.h), in_f("h_prev", 2, d.h), in_f("gate_r", 2, d.h),
              in_f("gate_z", 2, d.h),   in_f("gate_n", 2, d.h),  in_f("wt", 4, t),       out_f("da", 2, 3 * d.h),
              out_f("dh_prev", 2, d.h), out_f("rh", 2, d.h)};
    case Family::kReadoutLastBwd:
      if (d.dirs == 2)
        return {in_f("dy", 2, 2 * d.h), in_i("last_of"), out_f("dout_f", 2, d.h), out_f("dout_r", 2, d.h)};
      return {in_f("dy", 2, d.h), in_i("last_of"), out_f("dout_f", 2, d.h)};
    case Family::kReadoutMeanBwd:
      return {in_f("dy", 2, d.h), in_i("row_seq"), in_i("lengths"), out_f("dsrc", 2, d.h)};
    case Family::kSoftmaxXent:
      return {in_f("logits", 2, d.n), in_i("labels"), sc_f("scale"), out_f("loss", 2, 1), out_f("dlogits", 2, d.n)};
    case Family::kMseLoss:
      return {in_f("pred", 2, d.n), in_f("target", 2, d.n), sc_f("scale"), out_f("loss", 2, 1), out_f("dpred", 2, d.n)};
    case Family::kSumSquares:
      return {in_f("g", 1, -1), out_f("sum", 2, 1)};
    case Family::kAdamUpdate:
      return {in_f("p", 1, -1),
              in_f("g", 1, -1),
              in_f("m", 1, -1),
              in_f("v", 1, -1),
              sc_f("lr"),
              sc_f("beta1"),
              sc_f("beta2"),
              sc_f("eps"),
              sc_f("weight_decay"),
              sc_f("bias_correction1"),
              sc_f("bias_correction2"),
              sc_f("grad_scale"),
              out_f("p_out", 1, -1),
              out_f("m_out", 1, -1),
              out_f("v_out", 1, -1)};
    case Family::kSgdUpdate:
      return {in_f("p", 1, -1),   in_f("g", 1, -1),      in_f("buf", 1, -1),
              sc_f("lr"),         sc_f("momentum"),      sc_f("weight_decay"),
              sc_f("grad_scale"), out_f("p_out", 1, -1), out_f("buf_out", 1, -1)};
  }
  return {};
}

}  // namespace rnnc::kernels
