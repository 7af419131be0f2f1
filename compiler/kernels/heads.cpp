// Readouts: from the recurrent outputs (packed rows) to one row per sequence.
#include "kernels/algorithms.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

ReadoutAlgorithm readout_last(const KernelDesc &d) {
  // out(:, s) = the state after sequence s's last step; a reverse direction's
  // last step (its position 0) has the same reverse-packed row index.
  ReadoutAlgorithm a;
  const int h = static_cast<int>(d.h);
  ImageParam src_f = matrix_input("src_f", 2, h);
  ImageParam src_r = matrix_input("src_r", 2, h);
  ImageParam last(Int(32), 1, "last_row");
  a.inputs = d.dirs == 2 ? std::vector<ImageParam>{src_f, src_r, last} : std::vector<ImageParam>{src_f, last};
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

ReadoutAlgorithm readout_mean(const KernelDesc &d) {
  // out(:, s) = (sum over t < length(s) of src(:, row(s, t))) / length(s),
  // row(s, t) = step_offsets(t) + sort_pos(s).
  ReadoutAlgorithm a;
  const int width = static_cast<int>(d.h * d.dirs);
  ImageParam src = matrix_input("src", 2, width);
  ImageParam offsets(Int(32), 1, "step_offsets");
  ImageParam sort_pos(Int(32), 1, "sort_pos");
  ImageParam lengths(Int(32), 1, "lengths");
  a.inputs = {src, offsets, sort_pos, lengths};
  a.d = Var("d");
  a.s = Var("s");
  RDom t(0, offsets.dim(0).extent(), "t");
  a.sum = Func("sum");
  Func &sum = a.sum;
  sum(a.d, a.s) = 0.0f;
  Expr row = clamp(offsets(t) + sort_pos(a.s), 0, src.dim(1).max());
  sum(a.d, a.s) += select(t < lengths(a.s), src(a.d, row), 0.0f);
  a.out = Func("out");
  a.out(a.d, a.s) = sum(a.d, a.s) / cast<float>(max(lengths(a.s), 1));
  detail::fix_output_width(a.out, width);
  return a;
}

}  // namespace rnnc::kernels
