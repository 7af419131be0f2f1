// Vanilla RNN step: h' = act(x_proj + W_hh h + b_hh), act = tanh or relu.
// clip (ONNX): the activation's input clamped to [-clip, clip]; in training
// the kernel also saves whether it was not clamped (detail::pack_clip_mask).
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
  Param<float> clip("clip");
  if (d.clip) a.inputs.push_back(clip);

  detail::define_step_product(a.prod, w, h_prev, h, 1);
  a.j = Var("j");
  a.r = Var("r");
  Expr pre = a.prod.mm(a.j % tile, 0, a.j / tile, a.r) + xp(a.j, a.r) + bias(a.j);
  Expr x = d.clip ? clamp(pre, -clip, clip) : pre;
  Expr hn = d.relu ? max(x, 0.0f) : tanh_f32(x);
  a.out = Func("out");
  if (d.clip && d.train) {
    a.out(a.j, a.r) = Tuple(hn, detail::pack_clip_mask({pre}, clip));
  } else {
    a.out(a.j, a.r) = hn;
  }
  detail::fix_output_width(a.out, h);
  return a;
}

CellAlgorithm rnn_step_bwd(const KernelDesc &d) {
  // dh = dout + dh_next; da = dh * act'(pre); dh_prev = W_hh^T da.
  // act' comes from the saved output: 1 - h^2 (tanh) or [h > 0] (relu).
  CellAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam dout = matrix_input("dout", 2, h);
  ImageParam dh_next = matrix_input("dh_next", 2, h);
  ImageParam hcur = matrix_input("h", 2, h);
  ImageParam wt = detail::packed_weights("wt", d, 1, h, h);
  a.inputs = {dout, dh_next, hcur};
  ImageParam mask;
  if (d.clip) {
    mask = matrix_input("clip_mask", 2, h);
    a.inputs.push_back(mask);
  }
  a.inputs.push_back(wt);
  a.backward = true;
  a.gates = 1;
  a.gate_width = h;
  a.j = Var("n");
  a.r = Var("r");
  a.k = Var("k");
  Expr dh = dout(a.j, a.r) + dh_next(a.j, a.r);
  Expr hv = hcur(a.j, a.r);
  a.out = Func("da");
  Expr da = d.relu ? select(hv > 0.0f, dh, 0.0f) : dh * (1.0f - hv * hv);
  a.out(a.j, a.r) = d.clip ? da * mask(a.j, a.r) : da;
  detail::fix_output_width(a.out, h);
  a.dh_prev = Func("dh_prev");
  a.dh_prev(a.k, a.r) = detail::define_dh_prev_product(a, wt, a.out, h, tile);
  detail::fix_output_width(a.dh_prev, h);
  a.more_outputs = {a.dh_prev};
  return a;
}

}  // namespace rnnc::kernels
