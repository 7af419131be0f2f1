// Readouts, dropout and losses: the row-wise stages around the recurrence.
#include "kernels/algorithms.h"
#include "kernels/fast_math.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::index_input;
using detail::matrix_input;

RowwiseAlgorithm readout_last(const KernelDesc &d) {
  // out(:, s) = the state after sequence s's last step; a reverse direction's
  // last step (its position 0) has the same reverse-packed row index.
  RowwiseAlgorithm a;
  const int h = static_cast<int>(d.h);
  ImageParam src_f = matrix_input("src_f", 2, h);
  ImageParam src_r = matrix_input("src_r", 2, h);
  ImageParam last = index_input("last_row");
  a.inputs = {src_f};
  if (d.dirs == 2) a.inputs.push_back(src_r);
  a.inputs.push_back(last);
  a.d = Var("d");
  a.s = Var("s");
  a.out = Func("out");
  Expr row = clamp(last(a.s), 0, src_f.dim(1).max());
  if (d.dirs == 2) {
    Expr row_r = clamp(last(a.s), 0, src_r.dim(1).max());
    a.out(a.d, a.s) = select(a.d < h, src_f(min(a.d, h - 1), row), src_r(max(a.d - h, 0), row_r));
  } else {
    a.out(a.d, a.s) = src_f(a.d, row);
  }
  detail::fix_output_width(a.out, d.dirs * h);
  return a;
}

RowwiseAlgorithm readout_mean(const KernelDesc &d) {
  // out(:, s) = (sum over t < length(s) of src(:, row(s, t))) / length(s),
  // row(s, t) = step_offsets(t) + sort_pos(s).
  RowwiseAlgorithm a;
  const int width = static_cast<int>(d.h * d.dirs);
  ImageParam src = matrix_input("src", 2, width);
  ImageParam offsets = index_input("step_offsets");
  ImageParam sort_pos = index_input("sort_pos");
  ImageParam lengths = index_input("lengths");
  a.inputs = {src, offsets, sort_pos, lengths};
  a.d = Var("d");
  a.s = Var("s");
  RDom t(0, offsets.dim(0).extent(), "t");
  a.sum = Func("sum");
  a.sum(a.d, a.s) = 0.0f;
  Expr row = clamp(offsets(t) + sort_pos(a.s), 0, src.dim(1).max());
  a.sum(a.d, a.s) += select(t < lengths(a.s), src(a.d, row), 0.0f);
  a.out = Func("out");
  a.out(a.d, a.s) = a.sum(a.d, a.s) / cast<float>(max(lengths(a.s), 1));
  detail::fix_output_width(a.out, width);
  return a;
}

RowwiseAlgorithm dropout(const KernelDesc &d) {
  // Keeps x(j, r) with probability 1 - p and scales it by 1 / (1 - p); the
  // decision is a hash of (seed, site, element), so the backward pass
  // regenerates the same mask.
  RowwiseAlgorithm a;
  ImageParam x = matrix_input("x", 2, d.n);
  Param<int32_t> seed("seed"), site("site");
  Param<float> p("p");
  a.inputs = {x, seed, site, p};
  a.d = Var("d");
  a.s = Var("s");
  Expr element = a.s * static_cast<int>(d.n) + a.d;
  Expr u = cast<float>(detail::dropout_hash(seed, site, element) >> 8) * (1.0f / 16777216.0f);
  Expr scale = select(p < 1.0f, 1.0f / (1.0f - p), 0.0f);
  a.out = Func("out");
  a.out(a.d, a.s) = select(u >= p, x(a.d, a.s) * scale, 0.0f);
  detail::fix_output_width(a.out, d.n);
  return a;
}

RowwiseAlgorithm readout_last_bwd(const KernelDesc &d) {
  // Each direction's output gradient: dy of the sequence at the row of its
  // last step, 0 elsewhere.
  RowwiseAlgorithm a;
  const int h = static_cast<int>(d.h);
  ImageParam dy = matrix_input("dy", 2, d.dirs * h);
  ImageParam last_of = index_input("last_of");
  a.inputs = {dy, last_of};
  a.d = Var("d");
  a.s = Var("s");
  Expr seq = last_of(a.s);
  Expr safe = clamp(seq, 0, dy.dim(1).max());
  a.out = Func("dout_f");
  a.out(a.d, a.s) = select(seq >= 0, dy(a.d, safe), 0.0f);
  detail::fix_output_width(a.out, h);
  if (d.dirs == 2) {
    Func rev("dout_r");
    rev(a.d, a.s) = select(seq >= 0, dy(a.d + h, safe), 0.0f);
    detail::fix_output_width(rev, h);
    a.more_outputs = {rev};
  }
  return a;
}

RowwiseAlgorithm readout_mean_bwd(const KernelDesc &d) {
  RowwiseAlgorithm a;
  ImageParam dy = matrix_input("dy", 2, d.h);
  ImageParam row_seq = index_input("row_seq");
  ImageParam lengths = index_input("lengths");
  a.inputs = {dy, row_seq, lengths};
  a.d = Var("d");
  a.s = Var("s");
  Expr seq = clamp(row_seq(a.s), 0, dy.dim(1).max());
  a.out = Func("dsrc");
  a.out(a.d, a.s) = dy(a.d, seq) / cast<float>(max(lengths(seq), 1));
  detail::fix_output_width(a.out, d.h);
  return a;
}

RowwiseAlgorithm softmax_xent(const KernelDesc &d) {
  // loss(r) = logsumexp(z(:, r)) - z(y(r), r); dz = (softmax(z) - onehot(y)) * scale.
  RowwiseAlgorithm a;
  const int c = static_cast<int>(d.n);
  ImageParam z = matrix_input("logits", 2, c);
  ImageParam labels = index_input("labels");
  Param<float> scale("scale");
  a.inputs = {z, labels, scale};
  a.d = Var("d");
  a.s = Var("s");
  RDom k(0, c, "k");
  Func zmax("zmax"), sumexp("sumexp");
  zmax(a.s) = maximum(z(k, a.s));
  sumexp(a.s) = sum(exp_f32(z(k, a.s) - zmax(a.s)));
  a.sum = sumexp;
  Expr y = clamp(labels(a.s), 0, c - 1);
  Expr lse = zmax(a.s) + log(sumexp(a.s));
  a.out = Func("loss");
  a.out(a.d, a.s) = lse - z(y, a.s);
  detail::fix_output_width(a.out, 1);
  Func dz("dlogits");
  dz(a.d, a.s) = (exp_f32(z(a.d, a.s) - zmax(a.s)) / sumexp(a.s) - select(a.d == y, 1.0f, 0.0f)) * scale;
  detail::fix_output_width(dz, c);
  a.more_outputs = {dz};
  a.acc_stage = zmax;
  return a;
}

RowwiseAlgorithm mse_loss(const KernelDesc &d) {
  // loss(r) = sum_j (p - y)^2; dp = 2 (p - y) * scale.
  RowwiseAlgorithm a;
  const int w = static_cast<int>(d.n);
  ImageParam pred = matrix_input("pred", 2, w);
  ImageParam target = matrix_input("target", 2, w);
  Param<float> scale("scale");
  a.inputs = {pred, target, scale};
  a.d = Var("d");
  a.s = Var("s");
  RDom k(0, w, "k");
  Func sq("sq");
  sq(a.s) = sum(pow(pred(k, a.s) - target(k, a.s), 2));
  a.sum = sq;
  a.out = Func("loss");
  a.out(a.d, a.s) = sq(a.s);
  detail::fix_output_width(a.out, 1);
  Func dp("dpred");
  dp(a.d, a.s) = 2.0f * (pred(a.d, a.s) - target(a.d, a.s)) * scale;
  detail::fix_output_width(dp, w);
  a.more_outputs = {dp};
  return a;
}

}  // namespace rnnc::kernels
