// GRU step, gates in PyTorch order (r, z, n):
//   r = σ(x_r + W_hr h + b_hr), z = σ(x_z + W_hz h + b_hz)
//   linear before reset (PyTorch, cuDNN): n = tanh(x_n + r ⊙ (W_hn h + b_hn))
//   ONNX default form:                    n = tanh(x_n + W_hn (r ⊙ h) + b_hn)
//   h' = (1 - z) ⊙ n + z ⊙ h
// x_* already include b_i*.
// clip (ONNX): the pre-activations of r, z and n clamped to [-clip, clip]; in
// training the kernel also saves which were not clamped (detail::pack_clip_mask).
#include "kernels/algorithms.h"
#include "kernels/fast_math.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

CellAlgorithm gru_step_fwd(const KernelDesc &d) {
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam xp = matrix_input("xp", 2, 3 * h);
  ImageParam h_prev = matrix_input("h_prev", 2, h);
  ImageParam w = detail::packed_weights("w", d, 3, h, h);
  ImageParam bias = detail::vector_input("bias", 3 * h);
  a.inputs = {xp, h_prev, w, bias};
  Param<float> clip("clip");
  if (d.clip) a.inputs.push_back(clip);
  auto bounded = [&](Expr x) { return d.clip ? clamp(x, -clip, clip) : x; };
  a.j = Var("j");
  a.r = Var("r");
  const Var &j = a.j, &r = a.r;

  Func hin("h_in");
  Var kk("kk"), rr("rr");
  hin(kk, rr) = h_prev(kk, rr);
  a.out = Func("out");

  if (d.linear_before_reset) {
    detail::define_packed_product(a.prod, w, hin, h, 3);
    auto hw = [&](int g) { return a.prod.mm(j % tile, g, j / tile, r) + bias(g * h + j); };
    Expr ar = xp(j, r) + hw(0), az = xp(h + j, r) + hw(1);
    Expr gr = sigmoid_f32(bounded(ar));
    Expr gz = sigmoid_f32(bounded(az));
    Expr hn = hw(2);
    Expr an = xp(2 * h + j, r) + gr * hn;
    Expr gn = tanh_f32(bounded(an));
    Expr hnew = (1.0f - gz) * gn + gz * h_prev(j, r);
    if (d.train && d.clip) {
      a.out(j, r) = Tuple(std::vector<Expr>{hnew, gr, gz, gn, hn, detail::pack_clip_mask({ar, az, an}, clip)});
    } else if (d.train) {
      a.out(j, r) = Tuple(hnew, gr, gz, gn, hn);
    } else {
      a.out(j, r) = hnew;
    }
  } else {
    // r and z of every unit first (the product with r ⊙ h needs all of
    // them): a stage over (unit, row) holding (r, z[, their clip bits]).
    a.has_pre = true;
    detail::define_packed_product(a.pre_prod, w, hin, h, 2);
    a.pj = Var("pj");
    a.pr = Var("pr");
    auto pre_act = [&](int g) {
      return a.pre_prod.mm(a.pj % tile, g, a.pj / tile, a.pr) + xp(g * h + a.pj, a.pr) + bias(g * h + a.pj);
    };
    const Expr ar = pre_act(0), az = pre_act(1);
    std::vector<Expr> rz = {sigmoid_f32(bounded(ar)), sigmoid_f32(bounded(az))};
    const bool masks = d.clip && d.train;
    if (masks) rz.push_back(detail::pack_clip_mask({ar, az}, clip));
    a.pre = Func("rz");
    a.pre(a.pj, a.pr) = Tuple(rz);
    a.rh = Func("rh");
    a.rh(kk, rr) = a.pre(kk, rr)[0] * h_prev(kk, rr);
    detail::define_packed_product(a.prod, w, a.rh, h, 1, 2);
    Expr gr = a.pre(j, r)[0];
    Expr gz = a.pre(j, r)[1];
    Expr an = xp(2 * h + j, r) + a.prod.mm(j % tile, 0, j / tile, r) + bias(2 * h + j);
    Expr gn = tanh_f32(bounded(an));
    Expr hnew = (1.0f - gz) * gn + gz * h_prev(j, r);
    if (masks) {
      Expr mask = a.pre(j, r)[2] + detail::pack_clip_mask({Expr(), Expr(), an}, clip);
      a.out(j, r) = Tuple(std::vector<Expr>{hnew, gr, gz, gn, mask});
    } else if (d.train) {
      a.out(j, r) = Tuple(hnew, gr, gz, gn);
    } else {
      a.out(j, r) = hnew;
    }
  }
  detail::fix_output_width(a.out, h);
  return a;
}

CellAlgorithm gru_step_bwd(const KernelDesc &d) {
  // dh = dout + dh_next;  da_n = dh ⊙ (1-z) ⊙ (1-n^2);  da_z = dh ⊙ (h_prev - n) ⊙ z(1-z)
  // Linear before reset (hn = W_hn h + b_hn saved):
  //   da_r = da_n ⊙ hn ⊙ r(1-r); input side [da_r, da_z, da_n], hidden side
  //   [da_r, da_z, da_n ⊙ r]; dh_prev = dh ⊙ z + W_hh^T (hidden side).
  // ONNX form (n reads W_hn (r ⊙ h)):
  //   drh = W_hn^T da_n; da_r = drh ⊙ h_prev ⊙ r(1-r); both sides [da_r, da_z, da_n];
  //   dh_prev = dh ⊙ z + drh ⊙ r + W_hr^T da_r + W_hz^T da_z; rh = r ⊙ h_prev (for dW_hn).
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam dout = matrix_input("dout", 2, h), dh_next = matrix_input("dh_next", 2, h),
             h_prev = matrix_input("h_prev", 2, h), gr = matrix_input("gate_r", 2, h),
             gz = matrix_input("gate_z", 2, h), gn = matrix_input("gate_n", 2, h), hn = matrix_input("hn", 2, h);
  ImageParam wt = detail::packed_weights("wt", d, 1, 3 * h, h);
  std::vector<ImageParam> mask;  // empty, or the clip mask
  if (d.clip) mask.push_back(matrix_input("clip_mask", 2, h));
  auto masked = [&](int g, Expr j, Expr row, Expr v) {
    return d.clip ? v * detail::clip_mask_bit(mask[0](j, row), g) : v;
  };
  a.backward = true;
  a.gates = 3;
  a.gate_width = h;
  a.j = Var("n");
  a.r = Var("r");
  a.k = Var("k");
  const Var &r = a.r;
  auto dh = [&](Expr j) { return dout(j, r) + dh_next(j, r); };
  auto dan = [&](Expr j, Expr row) {
    Expr n = gn(j, row);
    return masked(2, j, row, (dout(j, row) + dh_next(j, row)) * (1.0f - gz(j, row)) * (1.0f - n * n));
  };
  auto daz = [&](Expr j) {
    Expr z = gz(j, r);
    return masked(1, j, r, dh(j) * (h_prev(j, r) - gn(j, r)) * z * (1.0f - z));
  };
  Expr j = a.j % h, gate = a.j / h;
  a.dh_prev = Func("dh_prev");

  if (d.linear_before_reset) {
    a.inputs = {dout, dh_next, h_prev, gr, gz, gn, hn};
    a.inputs.insert(a.inputs.end(), mask.begin(), mask.end());
    a.inputs.push_back(wt);
    Expr rg = gr(j, r);
    Expr dar = masked(0, j, r, dan(j, r) * hn(j, r) * rg * (1.0f - rg));
    a.out = Func("dxp");
    a.out(a.j, r) = select(gate == 0, dar, gate == 1, daz(j), dan(j, r));
    detail::fix_output_width(a.out, 3 * h);
    Func dhp("dhp");
    dhp(a.j, r) = select(gate == 0, dar, gate == 1, daz(j), dan(j, r) * rg);
    detail::fix_output_width(dhp, 3 * h);
    a.dh_prev(a.k, r) = dh(a.k) * gz(a.k, r) + detail::define_dh_prev_product(a, wt, dhp, 3 * h, tile);
    detail::fix_output_width(a.dh_prev, h);
    a.more_outputs = {dhp, a.dh_prev};
    a.gate_outputs = {dhp};
    return a;
  }

  a.inputs = {dout, dh_next, h_prev, gr, gz, gn};
  a.inputs.insert(a.inputs.end(), mask.begin(), mask.end());
  a.inputs.push_back(wt);
  a.has_pre = true;
  a.pj = Var("pj");
  a.pr = Var("pr");
  a.pre = Func("da_n");
  a.pre(a.pj, a.pr) = dan(a.pj, a.pr);
  Func dan_at("da_n_at");  // indexed by the gate-major column n = 2h + j
  Var nn("nn"), rr("rr");
  dan_at(nn, rr) = a.pre(nn - 2 * h, rr);
  detail::define_packed_product(a.pre_prod, wt, dan_at, h, 1, 0, 2 * h);
  a.pre_result = Func("drh");
  Var dk("dk"), dr("dr");
  a.pre_result(dk, dr) = a.pre_prod.mm(dk % tile, 0, dk / tile, dr);
  auto drh = [&](Expr k) { return a.pre_result(k, r); };
  Expr rg = gr(j, r);
  Expr dar = masked(0, j, r, drh(j) * h_prev(j, r) * rg * (1.0f - rg));
  a.out = Func("da");
  a.out(a.j, r) = select(gate == 0, dar, gate == 1, daz(j), a.pre(j, r));
  detail::fix_output_width(a.out, 3 * h);
  a.dh_prev(a.k, r) =
      dh(a.k) * gz(a.k, r) + drh(a.k) * gr(a.k, r) + detail::define_dh_prev_product(a, wt, a.out, 2 * h, tile);
  detail::fix_output_width(a.dh_prev, h);
  a.rh = Func("rh");
  a.rh(a.k, r) = gr(a.k, r) * h_prev(a.k, r);
  detail::fix_output_width(a.rh, h);
  a.more_outputs = {a.dh_prev, a.rh};
  a.unit_outputs = {a.rh};
  return a;
}

}  // namespace rnnc::kernels
