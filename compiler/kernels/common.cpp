#include "kernels/algorithms.h"

namespace rnnc::kernels::detail {

using namespace Halide;

ImageParam matrix_input(const std::string &name, int dims, int64_t width) {
  ImageParam p(Float(32), dims, name);
  p.dim(0).set_min(0).set_extent(static_cast<int>(width)).set_stride(1);
  for (int i = 1; i < dims; ++i) p.dim(i).set_min(0);
  return p;
}

void fix_output_width(Func &out, int64_t width) {
  // Only the first buffer of a Tuple may be given bounds; the others are
  // implicitly constrained to match it.
  for (OutputImageParam b : out.output_buffers()) b.dim(0).set_stride(1);
  out.output_buffers()[0].dim(0).set_min(0).set_extent(static_cast<int>(width)).dim(1).set_min(0);
}

void define_packed_product(PackedProduct &p, const ImageParam &w, const Func &x, int64_t k_extent, int gates,
                           int gate_offset) {
  p.ji = Var("ji");
  p.g = Var("g");
  p.jo = Var("jo");
  p.r = Var("r");
  p.gates = gates;
  p.k = RDom(0, static_cast<int>(k_extent), "k");
  p.mm = Func("mm");
  p.mm(p.ji, p.g, p.jo, p.r) = 0.0f;
  p.mm(p.ji, p.g, p.jo, p.r) += w(p.ji, p.g + gate_offset, p.k, p.jo) * x(p.k, p.r);
}

}  // namespace rnnc::kernels::detail
