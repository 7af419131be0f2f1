// GRU step, gates in PyTorch order (r, z, n):
//   r = σ(x_r + W_hr h + b_hr), z = σ(x_z + W_hz h + b_hz)
//   linear before reset (PyTorch, cuDNN): n = tanh(x_n + r ⊙ (W_hn h + b_hn))
//   ONNX default form:                    n = tanh(x_n + W_hn (r ⊙ h) + b_hn)
//   h' = (1 - z) ⊙ n + z ⊙ h
// x_* already include b_i*.
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
    Expr gr = sigmoid_f32(xp(j, r) + hw(0));
    Expr gz = sigmoid_f32(xp(h + j, r) + hw(1));
    Expr hn = hw(2);
    Expr gn = tanh_f32(xp(2 * h + j, r) + gr * hn);
    Expr hnew = (1.0f - gz) * gn + gz * h_prev(j, r);
    if (d.train) {
      a.out(j, r) = Tuple(hnew, gr, gz, gn, hn);
    } else {
      a.out(j, r) = hnew;
    }
  } else {
    // r and z first (they need all of h), then the product with r ⊙ h.
    a.has_pre = true;
    detail::define_packed_product(a.pre_prod, w, hin, h, 2);
    a.pj = Var("pj");
    a.pg = Var("pg");
    a.pr = Var("pr");
    a.pre = Func("rz");
    a.pre(a.pj, a.pg, a.pr) = sigmoid_f32(a.pre_prod.mm(a.pj % tile, a.pg, a.pj / tile, a.pr) +
                                          xp(a.pg * h + a.pj, a.pr) + bias(a.pg * h + a.pj));
    a.rh = Func("rh");
    a.rh(kk, rr) = a.pre(kk, 0, rr) * h_prev(kk, rr);
    detail::define_packed_product(a.prod, w, a.rh, h, 1, 2);
    Expr gr = a.pre(j, 0, r);
    Expr gz = a.pre(j, 1, r);
    Expr gn = tanh_f32(xp(2 * h + j, r) + a.prod.mm(j % tile, 0, j / tile, r) + bias(2 * h + j));
    Expr hnew = (1.0f - gz) * gn + gz * h_prev(j, r);
    if (d.train) {
      a.out(j, r) = Tuple(hnew, gr, gz, gn);
    } else {
      a.out(j, r) = hnew;
    }
  }
  detail::fix_output_width(a.out, h);
  return a;
}

}  // namespace rnnc::kernels
