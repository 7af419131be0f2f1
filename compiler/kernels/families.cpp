#include "kernels/families.h"

#include <cctype>
#include <stdexcept>

namespace rnnc::kernels {

namespace {

ArgSig in_f(const char *n, int dims, int64_t width) { return {n, ArgType::kBufferF32, dims, false, width}; }
ArgSig in_i(const char *n) { return {n, ArgType::kBufferI32, 1, false, -1}; }
ArgSig out_f(const char *n, int dims, int64_t width) { return {n, ArgType::kBufferF32, dims, true, width}; }
ArgSig sc_f(const char *n) { return {n, ArgType::kScalarF32, 0, false, -1}; }
ArgSig sc_i(const char *n) { return {n, ArgType::kScalarI32, 0, false, -1}; }

std::string tag(const char *t, int64_t v) { return std::string("_") + t + std::to_string(v); }

// --- workload keys -----------------------------------------------------------

std::string pack_sizes(const KernelDesc &d) {
  return tag("g", d.g) + tag("h", d.h) + tag("k", d.k) + (d.transpose ? "_transposed" : "");
}
std::string gemm_sizes(const KernelDesc &d) {
  return tag("k", d.k) + tag("n", d.n) + (d.gather ? "_gather" : "") + (d.terms == 2 ? "_2terms" : "");
}
std::string step_sizes(const KernelDesc &d) {
  const bool rnn = d.family == Family::kRnnStepFwd || d.family == Family::kRnnStepBwd;
  const bool gru = d.family == Family::kGruStepFwd || d.family == Family::kGruStepBwd;
  const bool lstm = d.family == Family::kLstmStepFwd || d.family == Family::kLstmStepBwd;
  return tag("h", d.h) + (rnn && d.relu ? "_relu" : "") + (gru && !d.linear_before_reset ? "_onnx" : "") +
         (lstm && d.proj > 0 ? tag("p", d.proj) : "") + (lstm && d.peephole ? "_peep" : "") +
         (lstm && d.input_forget ? "_cifg" : "") + (d.clip ? "_clip" : "") + (d.train ? "_train" : "");
}
std::string readout_sizes(const KernelDesc &d) { return tag("h", d.h) + tag("d", d.dirs); }
std::string scatter_sizes(const KernelDesc &d) { return tag("n", d.n) + tag("v", d.k); }
std::string cols_sizes(const KernelDesc &d) { return tag("n", d.n); }
std::string none_sizes(const KernelDesc &) { return ""; }

// --- signatures: inputs, then outputs ------------------------------------------

std::vector<ArgSig> pack_weights_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  return {in_f("w", 2, d.transpose ? d.h : d.k), out_f("packed", 4, t)};
}

std::vector<ArgSig> gemm_fwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
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

// What a clipping step saves in training for its backward: per unit, the
// clamp's derivative of every gate as bits (gate q: 2^q when not clamped).
void add_clip_mask(std::vector<ArgSig> &s, const KernelDesc &d, bool output) {
  if (d.clip) s.push_back(output ? out_f("clip_mask", 2, d.h) : in_f("clip_mask", 2, d.h));
}

std::vector<ArgSig> rnn_step_fwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  std::vector<ArgSig> s = {in_f("xp", 2, d.h), in_f("h_prev", 2, d.h), in_f("w", 4, t), in_f("bias", 1, d.h)};
  if (d.clip) s.push_back(sc_f("clip"));
  s.push_back(out_f("h", 2, d.h));
  if (d.train) add_clip_mask(s, d, true);
  return s;
}

std::vector<ArgSig> lstm_step_fwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile, sw = d.state_width();
  std::vector<ArgSig> s = {in_f("xp", 2, 4 * d.h), in_f("h_prev", 2, sw), in_f("c_prev", 2, d.h), in_f("w", 4, t)};
  if (d.proj > 0) s.push_back(in_f("w_hr", 4, t));
  s.push_back(in_f("bias", 1, 4 * d.h));
  if (d.peephole) s.push_back(in_f("peephole", 1, 3 * d.h));
  if (d.clip) s.push_back(sc_f("clip"));
  s.push_back(out_f("h", 2, sw));
  s.push_back(out_f("c", 2, d.h));
  if (d.train) {
    for (const char *gname : {"gate_i", "gate_f", "gate_g", "gate_o"}) s.push_back(out_f(gname, 2, d.h));
    add_clip_mask(s, d, true);
    if (d.proj > 0) s.push_back(out_f("m", 2, d.h));  // o ⊙ tanh(c), the projection's input
  }
  return s;
}

std::vector<ArgSig> gru_step_fwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  std::vector<ArgSig> s = {in_f("xp", 2, 3 * d.h), in_f("h_prev", 2, d.h), in_f("w", 4, t), in_f("bias", 1, 3 * d.h)};
  if (d.clip) s.push_back(sc_f("clip"));
  s.push_back(out_f("h", 2, d.h));
  if (d.train) {
    for (const char *gname : {"gate_r", "gate_z", "gate_n"}) s.push_back(out_f(gname, 2, d.h));
    if (d.linear_before_reset) s.push_back(out_f("hn", 2, d.h));
    add_clip_mask(s, d, true);
  }
  return s;
}

std::vector<ArgSig> readout_last_signature(const KernelDesc &d) {
  if (d.dirs == 2) return {in_f("src_f", 2, d.h), in_f("src_r", 2, d.h), in_i("last_row"), out_f("out", 2, 2 * d.h)};
  return {in_f("src_f", 2, d.h), in_i("last_row"), out_f("out", 2, d.h)};
}

std::vector<ArgSig> readout_mean_signature(const KernelDesc &d) {
  return {in_f("src", 2, d.h), in_i("step_offsets"), in_i("sort_pos"), in_i("lengths"), out_f("out", 2, d.h)};
}

std::vector<ArgSig> dropout_signature(const KernelDesc &d) {
  return {in_f("x", 2, d.n), sc_i("seed"), sc_i("site"), sc_f("p"), out_f("out", 2, d.n)};
}

std::vector<ArgSig> gemm_wgrad_signature(const KernelDesc &d) {
  if (d.gather) return {in_f("dy", 2, d.n), in_f("a", 2, d.k), in_i("idx"), out_f("dw", 2, d.k)};
  return {in_f("dy", 2, d.n), in_f("a", 2, d.k), out_f("dw", 2, d.k)};
}

std::vector<ArgSig> colsum_signature(const KernelDesc &d) { return {in_f("dy", 2, d.n), out_f("db", 1, d.n)}; }

std::vector<ArgSig> scatter_rows_signature(const KernelDesc &d) {
  return {in_f("dx", 2, d.n), in_i("idx"), out_f("out", 2, d.n)};
}

std::vector<ArgSig> rnn_step_bwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  std::vector<ArgSig> s = {in_f("dout", 2, d.h), in_f("dh_next", 2, d.h), in_f("h", 2, d.h)};
  add_clip_mask(s, d, false);
  for (ArgSig a : {in_f("wt", 4, t), out_f("da", 2, d.h), out_f("dh_prev", 2, d.h)}) s.push_back(a);
  return s;
}

std::vector<ArgSig> lstm_step_bwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile, sw = d.state_width();
  std::vector<ArgSig> s = {in_f("dout", 2, sw),    in_f("dh_next", 2, sw), in_f("dc_next", 2, d.h),
                           in_f("gate_i", 2, d.h), in_f("gate_f", 2, d.h), in_f("gate_g", 2, d.h),
                           in_f("gate_o", 2, d.h)};
  add_clip_mask(s, d, false);
  for (ArgSig a : {in_f("c", 2, d.h), in_f("c_prev", 2, d.h), in_f("wt", 4, t)}) s.push_back(a);
  if (d.proj > 0) s.push_back(in_f("w_hr_t", 4, t));
  if (d.peephole) s.push_back(in_f("peephole", 1, 3 * d.h));
  for (ArgSig a : {out_f("da", 2, 4 * d.h), out_f("dh_prev", 2, sw), out_f("dc_prev", 2, d.h)}) s.push_back(a);
  if (d.peephole)
    for (const char *p : {"dpeephole_i", "dpeephole_f", "dpeephole_o"}) s.push_back(out_f(p, 2, d.h));
  if (d.proj > 0) s.push_back(out_f("dh", 2, sw));  // dL/dh_t, for dW_hr
  return s;
}

std::vector<ArgSig> gru_step_bwd_signature(const KernelDesc &d) {
  const int64_t t = d.sched.tile;
  std::vector<ArgSig> s = {in_f("dout", 2, d.h),   in_f("dh_next", 2, d.h), in_f("h_prev", 2, d.h),
                           in_f("gate_r", 2, d.h), in_f("gate_z", 2, d.h),  in_f("gate_n", 2, d.h)};
  if (d.linear_before_reset) s.push_back(in_f("hn", 2, d.h));
  add_clip_mask(s, d, false);
  s.push_back(in_f("wt", 4, t));
  if (d.linear_before_reset) {
    for (ArgSig a : {out_f("dxp", 2, 3 * d.h), out_f("dhp", 2, 3 * d.h), out_f("dh_prev", 2, d.h)}) s.push_back(a);
  } else {
    for (ArgSig a : {out_f("da", 2, 3 * d.h), out_f("dh_prev", 2, d.h), out_f("rh", 2, d.h)}) s.push_back(a);
  }
  return s;
}

std::vector<ArgSig> readout_last_bwd_signature(const KernelDesc &d) {
  if (d.dirs == 2) return {in_f("dy", 2, 2 * d.h), in_i("last_of"), out_f("dout_f", 2, d.h), out_f("dout_r", 2, d.h)};
  return {in_f("dy", 2, d.h), in_i("last_of"), out_f("dout_f", 2, d.h)};
}

std::vector<ArgSig> readout_mean_bwd_signature(const KernelDesc &d) {
  return {in_f("dy", 2, d.h), in_i("row_seq"), in_i("lengths"), out_f("dsrc", 2, d.h)};
}

std::vector<ArgSig> softmax_xent_signature(const KernelDesc &d) {
  return {in_f("logits", 2, d.n), in_i("labels"), sc_f("scale"), out_f("loss", 2, 1), out_f("dlogits", 2, d.n)};
}

std::vector<ArgSig> mse_loss_signature(const KernelDesc &d) {
  return {in_f("pred", 2, d.n), in_f("target", 2, d.n), sc_f("scale"), out_f("loss", 2, 1), out_f("dpred", 2, d.n)};
}

std::vector<ArgSig> sum_squares_signature(const KernelDesc &d) { return {in_f("g", 1, -1), out_f("sum", 2, 1)}; }

std::vector<ArgSig> adam_update_signature(const KernelDesc &d) {
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
}

std::vector<ArgSig> sgd_update_signature(const KernelDesc &d) {
  return {in_f("p", 1, -1),   in_f("g", 1, -1),      in_f("buf", 1, -1),
          sc_f("lr"),         sc_f("momentum"),      sc_f("weight_decay"),
          sc_f("grad_scale"), out_f("p_out", 1, -1), out_f("buf_out", 1, -1)};
}

const std::vector<FamilyEntry> kTable = {
    {Family::kPackWeights, "pack_weights", 1, pack_sizes, pack_weights_signature},
    {Family::kGemmFwd, "gemm_fwd", 1, gemm_sizes, gemm_fwd_signature},
    {Family::kRnnStepFwd, "rnn_step_fwd", 1, step_sizes, rnn_step_fwd_signature},
    {Family::kLstmStepFwd, "lstm_step_fwd", 4, step_sizes, lstm_step_fwd_signature},
    {Family::kGruStepFwd, "gru_step_fwd", 3, step_sizes, gru_step_fwd_signature},
    {Family::kReadoutLast, "readout_last", 1, readout_sizes, readout_last_signature},
    {Family::kReadoutMean, "readout_mean", 1, readout_sizes, readout_mean_signature},
    {Family::kDropout, "dropout", 1, cols_sizes, dropout_signature},
    {Family::kGemmWgrad, "gemm_wgrad", 1, gemm_sizes, gemm_wgrad_signature},
    {Family::kColSum, "colsum", 1, cols_sizes, colsum_signature},
    {Family::kScatterRows, "scatter_rows", 1, scatter_sizes, scatter_rows_signature},
    {Family::kRnnStepBwd, "rnn_step_bwd", 1, step_sizes, rnn_step_bwd_signature},
    {Family::kLstmStepBwd, "lstm_step_bwd", 4, step_sizes, lstm_step_bwd_signature},
    {Family::kGruStepBwd, "gru_step_bwd", 3, step_sizes, gru_step_bwd_signature},
    {Family::kReadoutLastBwd, "readout_last_bwd", 1, readout_sizes, readout_last_bwd_signature},
    {Family::kReadoutMeanBwd, "readout_mean_bwd", 1, readout_sizes, readout_mean_bwd_signature},
    {Family::kSoftmaxXent, "softmax_xent", 1, cols_sizes, softmax_xent_signature},
    {Family::kMseLoss, "mse_loss", 1, cols_sizes, mse_loss_signature},
    {Family::kSumSquares, "sum_squares", 1, none_sizes, sum_squares_signature},
    {Family::kAdamUpdate, "adam_update", 1, none_sizes, adam_update_signature},
    {Family::kSgdUpdate, "sgd_update", 1, none_sizes, sgd_update_signature},
};

}  // namespace

const std::vector<FamilyEntry> &family_table() { return kTable; }

const FamilyEntry &family_entry(Family f) {
  for (const FamilyEntry &e : kTable)
    if (e.family == f) return e;
  throw std::logic_error("kernel family " + std::to_string(static_cast<int>(f)) + " has no table entry");
}

std::optional<Family> family_by_name(const std::string &name) {
  for (const FamilyEntry &e : kTable)
    if (name == e.name) return e.family;
  return std::nullopt;
}

std::optional<KernelDesc> parse_workload_key(const std::string &key) {
  const FamilyEntry *best = nullptr;
  for (const FamilyEntry &e : kTable) {
    const std::string n = e.name;
    if (key.compare(0, n.size(), n) == 0 && (key.size() == n.size() || key[n.size()] == '_') &&
        (!best || n.size() > std::string(best->name).size()))
      best = &e;
  }
  if (!best) return std::nullopt;
  KernelDesc d;
  d.family = best->family;
  d.g = best->gates;
  size_t at = std::string(best->name).size();
  while (at < key.size()) {
    const size_t next = key.find('_', at + 1);
    const std::string part = key.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    at = next == std::string::npos ? key.size() : next;
    if (part == "relu") d.relu = true;
    if (part == "onnx") d.linear_before_reset = false;
    if (part == "peep") d.peephole = true;
    if (part == "cifg") d.input_forget = true;
    if (part == "clip") d.clip = true;
    if (part == "train") d.train = true;
    if (part.size() < 2 || !std::isdigit(static_cast<unsigned char>(part[1]))) continue;
    const int64_t v = std::stoll(part.substr(1));
    switch (part[0]) {
      case 'k':
      case 'v':
        d.k = v;
        break;
      case 'n':
        d.n = v;
        break;
      case 'h':
        d.h = v;
        break;
      case 'g':
        d.g = static_cast<int>(v);
        break;
      case 'd':
        d.dirs = static_cast<int>(v);
        break;
      case 'p':
        d.proj = v;
        break;
      default:
        break;
    }
  }
  return d;
}

}  // namespace rnnc::kernels
