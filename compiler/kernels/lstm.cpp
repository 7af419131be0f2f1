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

  Func hin("h_in");
  Var kk("kk"), rr("rr");
  hin(kk, rr) = h_prev(kk, rr);
  detail::define_packed_product(a.prod, w, hin, h, 4);
  a.j = Var("j");
  a.r = Var("r");
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

}  // namespace rnnc::kernels
