// Vanilla RNN step: h' = act(x_proj + W_hh h + b_hh), act = tanh or relu.
#include "kernels/algorithms.h"
#include "kernels/fast_math.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

CellAlgorithm rnn_step_fwd(const KernelDesc &d) {
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam xp = matrix_input("xp", 2, h);
  ImageParam h_prev = matrix_input("h_prev", 2, h);
  ImageParam w = detail::packed_weights("w", d, 1, h, h);
  ImageParam bias = detail::vector_input("bias", h);
  a.inputs = {xp, h_prev, w, bias};

  Func hin("h_in");
  Var kk("kk"), rr("rr");
  hin(kk, rr) = h_prev(kk, rr);
  detail::define_packed_product(a.prod, w, hin, h, 1);
  a.j = Var("j");
  a.r = Var("r");
  Expr pre = a.prod.mm(a.j % tile, 0, a.j / tile, a.r) + xp(a.j, a.r) + bias(a.j);
  a.out = Func("out");
  a.out(a.j, a.r) = d.relu ? max(pre, 0.0f) : tanh_f32(pre);
  detail::fix_output_width(a.out, h);
  return a;
}

}  // namespace rnnc::kernels
