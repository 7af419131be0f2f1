// Packing and the dense product of every input projection and linear head.
#include "kernels/algorithms.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

namespace {

int64_t tiles(int64_t n, int tile) { return (n + tile - 1) / tile; }

}  // namespace

PackAlgorithm pack_weights(const KernelDesc &d) {
  // W is [g*h, k] (PyTorch layout); tile jo holds units [jo*tile, jo*tile +
  // tile) of every gate side by side, zero-padded. Transposed, W is [k, h]
  // and its columns are the units (products with W^T, in backward passes).
  PackAlgorithm a;
  const int tile = d.sched.tile;
  const int h = static_cast<int>(d.h);
  ImageParam w = matrix_input("w", 2, d.transpose ? d.h : d.k);
  w.dim(1).set_bounds(0, static_cast<int>(d.transpose ? d.k : d.g * d.h));
  a.inputs = {w};
  a.ji = Var("ji");
  a.g = Var("g");
  a.k = Var("k");
  a.jo = Var("jo");
  a.out = Func("packed");
  Expr j = a.jo * tile + a.ji;
  Expr value =
      d.transpose ? w(clamp(j, 0, h - 1), a.k) : w(a.k, clamp(a.g * h + j, 0, static_cast<int>(d.g * d.h) - 1));
  a.out(a.ji, a.g, a.k, a.jo) = select(j < h, value, 0.0f);
  OutputImageParam o = a.out.output_buffer();
  o.dim(0).set_bounds(0, tile).set_stride(1);
  o.dim(1).set_bounds(0, d.g).set_stride(tile);
  o.dim(2).set_bounds(0, static_cast<int>(d.k)).set_stride(static_cast<int>(tile * d.g));
  o.dim(3).set_bounds(0, static_cast<int>(tiles(d.h, tile))).set_stride(static_cast<int>(tile * d.g * d.k));
  return a;
}

GemmAlgorithm gemm_fwd(const KernelDesc &d) {
  GemmAlgorithm a;
  const int tile = d.sched.tile;
  a.j = Var("j");
  a.r = Var("r");
  Expr sum = 0.0f;
  for (int term = 0; term < d.terms; ++term) {
    const std::string sfx = term ? "2" : "";
    const bool gather = term ? true : d.gather;
    ImageParam src = matrix_input("a" + sfx, 2, d.k);
    ImageParam idx = detail::index_input("idx" + sfx);
    ImageParam w = detail::packed_weights("w" + sfx, d, 1, d.k, d.n);
    a.inputs.push_back(src);
    if (gather) a.inputs.push_back(idx);
    a.inputs.push_back(w);
    Func x("x" + sfx);
    Var kk("kk"), rr("rr");
    // Indices come from the runtime, which has validated them; the clamp
    // only tells bounds inference which rows of `a` can be read.
    x(kk, rr) = gather ? src(kk, clamp(idx(rr), 0, src.dim(1).max())) : src(kk, rr);
    PackedProduct p;
    detail::define_packed_product(p, w, x, d.k, 1);
    p.gather = gather;
    sum += p.mm(a.j % tile, 0, a.j / tile, a.r);
    a.prods.push_back(p);
  }
  ImageParam bias = detail::vector_input("bias", d.n);
  a.inputs.push_back(bias);
  a.out = Func("out");
  a.out(a.j, a.r) = sum + bias(a.j);
  detail::fix_output_width(a.out, d.n);
  return a;
}

ReductionAlgorithm gemm_wgrad(const KernelDesc &d) {
  // dw(k, n) = sum over rows of dy(n, r) * a(k, src(r)): the weight gradient
  // of every step at once. Reads past the tile edges are clamped; the
  // output never stores them.
  ReductionAlgorithm a;
  ImageParam dy = matrix_input("dy", 2, d.n);
  ImageParam src = matrix_input("a", 2, d.k);
  ImageParam idx = detail::index_input("idx");
  a.inputs = {dy, src};
  if (d.gather) a.inputs.push_back(idx);
  a.x = Var("k");
  a.y = Var("n");
  a.rows = RDom(0, dy.dim(1).extent(), "rows");
  Var c("c"), r("r");
  Expr row = d.gather ? clamp(idx(r), 0, src.dim(1).max()) : r;
  a.dy_rows = Func("dy_rows");
  a.dy_rows(c, r) = dy(min(c, static_cast<int>(d.n) - 1), r);
  a.a_rows = Func("a_rows");
  a.a_rows(c, r) = src(min(c, static_cast<int>(d.k) - 1), row);
  a.acc = Func("acc");
  a.acc(a.x, a.y) = 0.0f;
  a.acc(a.x, a.y) += a.dy_rows(a.y, a.rows) * a.a_rows(a.x, a.rows);
  a.out = Func("dw");
  a.out(a.x, a.y) = a.acc(a.x, a.y);
  detail::fix_output_width(a.out, d.k);
  return a;
}

ReductionAlgorithm colsum(const KernelDesc &d) {
  ReductionAlgorithm a;
  ImageParam dy = matrix_input("dy", 2, d.n);
  a.inputs = {dy};
  a.x = Var("n");
  a.rows = RDom(0, dy.dim(1).extent(), "rows");
  a.acc = Func("acc");
  a.acc(a.x) = 0.0f;
  a.acc(a.x) += dy(a.x, a.rows);
  a.out = Func("db");
  a.out(a.x) = a.acc(a.x);
  a.out.output_buffer().dim(0).set_bounds(0, static_cast<int>(d.n)).set_stride(1);
  return a;
}

ReductionAlgorithm scatter_rows(const KernelDesc &d) {
  // The embedding gradient: out(:, v) sums dx(:, r) over rows whose token is v.
  ReductionAlgorithm a;
  ImageParam dx = matrix_input("dx", 2, d.n);
  ImageParam idx = detail::index_input("idx");
  a.inputs = {dx, idx};
  a.x = Var("d");
  a.y = Var("v");
  a.rows = RDom(0, dx.dim(1).extent(), "rows");
  a.scatter = true;
  a.acc = Func("acc");
  a.acc(a.x, a.y) = 0.0f;
  a.acc(a.x, clamp(idx(a.rows), 0, static_cast<int>(d.k) - 1)) += dx(a.x, a.rows);
  a.out = Func("out");
  a.out(a.x, a.y) = a.acc(a.x, a.y);
  detail::fix_output_width(a.out, d.n);
  a.out.output_buffer().dim(1).set_bounds(0, static_cast<int>(d.k));
  return a;
}

}  // namespace rnnc::kernels
