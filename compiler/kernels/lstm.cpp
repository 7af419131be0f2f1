// LSTM step, gates in PyTorch order (i, f, g, o):
//   c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c').
#include "kernels/algorithms.h"
#include "kernels/fast_math.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

CellAlgorithm lstm_step_fwd(const KernelDesc &d) {
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam xp = matrix_input("xp", 2, 4 * h);
  ImageParam h_prev = matrix_input("h_prev", 2, h);
  ImageParam c_prev = matrix_input("c_prev", 2, h);
  ImageParam w = detail::packed_weights("w", d, 4, h, h);
  ImageParam bias = detail::vector_input("bias", 4 * h);
  a.inputs = {xp, h_prev, c_prev, w, bias};

  detail::define_step_product(a, w, h_prev, h, 4);
  const Var &j = a.j, &r = a.r;
  auto pre = [&](int g) { return a.prod.mm(j % tile, g, j / tile, r) + xp(g * h + j, r) + bias(g * h + j); };
  Expr gi = sigmoid_f32(pre(0));
  Expr gf = sigmoid_f32(pre(1));
  Expr gg = tanh_f32(pre(2));
  Expr go = sigmoid_f32(pre(3));
  Expr c = gf * c_prev(j, r) + gi * gg;
  Expr hn = go * tanh_f32(c);
  a.out = Func("out");
  if (d.train) {
    a.out(j, r) = Tuple(hn, c, gi, gf, gg, go);
  } else {
    a.out(j, r) = Tuple(hn, c);
  }
  detail::fix_output_width(a.out, h);
  return a;
}

CellAlgorithm lstm_step_bwd(const KernelDesc &d) {
  // dh = dout + dh_next;  dc = dc_next + dh ⊙ o ⊙ (1 - tanh(c)^2)
  // da_i = dc ⊙ g ⊙ i(1-i), da_f = dc ⊙ c_prev ⊙ f(1-f), da_g = dc ⊙ i ⊙ (1-g^2),
  // da_o = dh ⊙ tanh(c) ⊙ o(1-o);  dc_prev = dc ⊙ f;  dh_prev = W_hh^T da.
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam dout = matrix_input("dout", 2, h), dh_next = matrix_input("dh_next", 2, h),
             dc_next = matrix_input("dc_next", 2, h), gi = matrix_input("gate_i", 2, h),
             gf = matrix_input("gate_f", 2, h), gg = matrix_input("gate_g", 2, h), go = matrix_input("gate_o", 2, h),
             c = matrix_input("c", 2, h), c_prev = matrix_input("c_prev", 2, h);
  ImageParam wt = detail::packed_weights("wt", d, 1, 4 * h, h);
  a.inputs = {dout, dh_next, dc_next, gi, gf, gg, go, c, c_prev, wt};
  a.backward = true;
  a.gates = 4;
  a.gate_width = h;
  a.j = Var("n");
  a.r = Var("r");
  a.k = Var("k");
  const Var &r = a.r;

  auto dh = [&](Expr j) { return dout(j, r) + dh_next(j, r); };
  auto dc = [&](Expr j) {
    Expr tc = tanh_f32(c(j, r));
    return dc_next(j, r) + dh(j) * go(j, r) * (1.0f - tc * tc);
  };
  Expr j = a.j % h, gate = a.j / h;
  Expr i = gi(j, r), f = gf(j, r), g = gg(j, r), o = go(j, r), tc = tanh_f32(c(j, r));
  Expr dcj = dc(j);
  a.out = Func("da");
  a.out(a.j, r) = select(gate == 0, dcj * g * i * (1.0f - i),             //
                         gate == 1, dcj * c_prev(j, r) * f * (1.0f - f),  //
                         gate == 2, dcj * i * (1.0f - g * g),             //
                         dh(j) * tc * o * (1.0f - o));
  detail::fix_output_width(a.out, 4 * h);
  a.dh_prev = Func("dh_prev");
  a.dh_prev(a.k, r) = detail::define_dh_prev_product(a, wt, a.out, 4 * h, tile);
  detail::fix_output_width(a.dh_prev, h);
  Func dc_prev("dc_prev");
  dc_prev(a.k, r) = dc(a.k) * gf(a.k, r);
  detail::fix_output_width(dc_prev, h);
  a.more_outputs = {a.dh_prev, dc_prev};
  a.unit_outputs = {dc_prev};
  return a;
}

}  // namespace rnnc::kernels
