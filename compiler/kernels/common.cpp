#include "kernels/algorithms.h"

namespace rnnc::kernels::detail {

using namespace Halide;

ImageParam matrix_input(const std::string &name, int dims, int64_t width) {
  ImageParam p(Float(32), dims, name);
  p.dim(0).set_min(0).set_extent(static_cast<int>(width)).set_stride(1);
  for (int i = 1; i < dims; ++i) p.dim(i).set_min(0);
  return p;
}

ImageParam index_input(const std::string &name) {
  ImageParam p(Int(32), 1, name);
  p.dim(0).set_min(0).set_stride(1);
  return p;
}

ImageParam vector_input(const std::string &name, int64_t n) {
  ImageParam b(Float(32), 1, name);
  b.dim(0).set_bounds(0, static_cast<int>(n)).set_stride(1);
  return b;
}

ImageParam flat_input(const std::string &name) {
  ImageParam b(Float(32), 1, name);
  b.dim(0).set_min(0).set_stride(1);
  return b;
}

ImageParam packed_weights(const std::string &name, const KernelDesc &d, int gates, int64_t k, int64_t h) {
  const int tile = d.sched.tile;
  ImageParam w(Float(32), 4, name);
  const int64_t jo = (h + tile - 1) / tile;
  w.dim(0).set_bounds(0, tile).set_stride(1);
  w.dim(1).set_bounds(0, gates).set_stride(tile);
  w.dim(2).set_bounds(0, static_cast<int>(k)).set_stride(tile * gates);
  w.dim(3).set_bounds(0, static_cast<int>(jo)).set_stride(static_cast<int>(tile * gates * k));
  return w;
}

void fix_output_width(Func &out, int64_t width) {
  // Only the first buffer of a Tuple may be given bounds; the others are
  // implicitly constrained to match it.
  for (OutputImageParam b : out.output_buffers()) b.dim(0).set_stride(1);
  OutputImageParam first = out.output_buffers()[0];
  first.dim(0).set_min(0).set_extent(static_cast<int>(width));
  for (int i = 1; i < first.dimensions(); ++i) first.dim(i).set_min(0);
}

void define_packed_product(PackedProduct &p, const ImageParam &w, const Func &x, int64_t k_extent, int gates,
                           int gate_offset, int64_t k_offset) {
  p.ji = Var("ji");
  p.g = Var("g");
  p.jo = Var("jo");
  p.r = Var("r");
  p.gates = gates;
  p.k = RDom(0, static_cast<int>(k_extent), "k");
  p.mm = Func("mm");
  p.in = x;
  Expr kk = p.k + static_cast<int>(k_offset);
  p.mm(p.ji, p.g, p.jo, p.r) = 0.0f;
  p.mm(p.ji, p.g, p.jo, p.r) += w(p.ji, p.g + gate_offset, kk, p.jo) * x(kk, p.r);
}

void define_step_product(PackedProduct &p, const ImageParam &w, const ImageParam &h_prev, int64_t k_extent, int gates) {
  Func hin("h_in");
  Var kk("kk"), rr("rr");
  hin(kk, rr) = h_prev(kk, rr);
  define_packed_product(p, w, hin, k_extent, gates);
}

Expr define_dh_prev_product(CellAlgorithm &a, const ImageParam &wt, const Func &da, int64_t k_extent, int tile) {
  define_packed_product(a.prod, wt, da, k_extent, 1);
  return a.prod.mm(a.k % tile, 0, a.k / tile, a.r);
}

Expr dropout_hash(Expr seed, Expr site, Expr element) {
  auto mix = [](Expr x) {
    x = x ^ (x >> 16);
    x = x * Internal::make_const(UInt(32), (uint64_t)0x7feb352dull);
    x = x ^ (x >> 15);
    x = x * Internal::make_const(UInt(32), (uint64_t)0x846ca68bull);
    return x ^ (x >> 16);
  };
  Expr key =
      mix(cast<uint32_t>(seed) ^ (cast<uint32_t>(site) * Internal::make_const(UInt(32), (uint64_t)0x9e3779b9ull)));
  return mix(mix(cast<uint32_t>(element) ^ key) + key);
}

Expr pack_clip_mask(const std::vector<Expr> &pre, const Expr &clip) {
  Expr m = 0.0f;
  for (size_t q = 0; q < pre.size(); ++q)
    if (pre[q].defined()) m += select(abs(pre[q]) <= clip, static_cast<float>(1 << q), 0.0f);
  return m;
}

Expr clip_mask_bit(const Expr &mask, int q) {
  // mask is a small integer in float: the divisions and floors are exact.
  Expr s = mask * (1.0f / static_cast<float>(1 << q));
  return floor(s) - 2.0f * floor(s * 0.5f);
}

}  // namespace rnnc::kernels::detail
