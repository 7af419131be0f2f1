// Packing and the dense product of every input projection and linear head.
#include "kernels/algorithms.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::matrix_input;

namespace {

int64_t tiles(int64_t n, int tile) { return (n + tile - 1) / tile; }

// Packed weights (tile, g, k, tiles(h)): every dimension is fixed.
ImageParam packed_input(const std::string &name, int tile, int gates, int64_t k, int64_t h) {
  ImageParam w(Float(32), 4, name);
  const int64_t jo = tiles(h, tile);
  w.dim(0).set_bounds(0, tile).set_stride(1);
  w.dim(1).set_bounds(0, gates).set_stride(tile);
  w.dim(2).set_bounds(0, static_cast<int>(k)).set_stride(tile * gates);
  w.dim(3).set_bounds(0, static_cast<int>(jo)).set_stride(static_cast<int>(tile * gates * k));
  return w;
}

}  // namespace

namespace detail {
ImageParam packed_weights(const std::string &name, const KernelDesc &d, int gates, int64_t k, int64_t h) {
  return packed_input(name, d.sched.tile, gates, k, h);
}
ImageParam vector_input(const std::string &name, int64_t n) {
  ImageParam b(Float(32), 1, name);
  b.dim(0).set_bounds(0, static_cast<int>(n)).set_stride(1);
  return b;
}
}  // namespace detail

PackAlgorithm pack_weights(const KernelDesc &d) {
  // W is [g*h, k] (PyTorch layout); tile jo holds hidden units
  // [jo*tile, jo*tile + tile) of every gate side by side, zero-padded.
  PackAlgorithm a;
  const int tile = d.sched.tile;
  ImageParam w = matrix_input("w", 2, d.k);
  w.dim(1).set_bounds(0, static_cast<int>(d.g * d.h));
  a.inputs = {w};
  a.ji = Var("ji");
  a.g = Var("g");
  a.k = Var("k");
  a.jo = Var("jo");
  a.out = Func("packed");
  Expr j = a.jo * tile + a.ji;
  Expr row = clamp(a.g * static_cast<int>(d.h) + j, 0, static_cast<int>(d.g * d.h) - 1);
  a.out(a.ji, a.g, a.k, a.jo) = select(j < static_cast<int>(d.h), w(a.k, row), 0.0f);
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
  ImageParam src = matrix_input("a", 2, d.k);
  ImageParam idx(Int(32), 1, "idx");
  ImageParam w = detail::packed_weights("w", d, 1, d.k, d.n);
  ImageParam bias = detail::vector_input("bias", d.n);
  a.inputs = d.gather ? std::vector<ImageParam>{src, idx, w, bias} : std::vector<ImageParam>{src, w, bias};

  a.j = Var("j");
  a.r = Var("r");
  Func x("x");
  Var kk("kk"), rr("rr");
  // Indices come from the runtime, which has validated them; the clamp only
  // tells bounds inference which rows of `a` can be read.
  x(kk, rr) = d.gather ? src(kk, clamp(idx(rr), 0, src.dim(1).max())) : src(kk, rr);
  detail::define_packed_product(a.prod, w, x, d.k, 1);
  a.out = Func("out");
  a.out(a.j, a.r) = a.prod.mm(a.j % tile, 0, a.j / tile, a.r) + bias(a.j);
  detail::fix_output_width(a.out, d.n);
  return a;
}

}  // namespace rnnc::kernels
