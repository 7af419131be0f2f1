// Optimizer kernels over the flat parameter vector, with PyTorch's update
// rules (torch.optim.Adam and SGD, weight decay in its L2 form), and the sum
// of squares behind gradient norms and clipping.
#include "kernels/algorithms.h"

namespace rnnc::kernels {

using namespace Halide;
using detail::flat_input;

ReductionAlgorithm sum_squares(const KernelDesc &) {
  // Accumulated in double: gradients of a million elements would lose
  // digits in float.
  ReductionAlgorithm a;
  ImageParam g = flat_input("g");
  a.inputs = {g};
  a.x = Var("x");
  a.y = Var("y");
  a.rows = RDom(0, g.dim(0).extent(), "i");
  a.acc = Func("acc");
  a.acc() = cast<double>(0);
  a.acc() += cast<double>(g(a.rows)) * cast<double>(g(a.rows));
  a.out = Func("sum");
  a.out(a.x, a.y) = cast<float>(a.acc());
  detail::fix_output_width(a.out, 1);
  return a;
}

ElementwiseAlgorithm adam_update(const KernelDesc &) {
  // g = grad * grad_scale + weight_decay * p
  // m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
  // p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
  ElementwiseAlgorithm a;
  ImageParam p = flat_input("p"), g = flat_input("g"), m = flat_input("m"), v = flat_input("v");
  Param<float> lr("lr"), beta1("beta1"), beta2("beta2"), eps("eps"), wd("weight_decay"), bc1("bias_correction1"),
      bc2("bias_correction2"), gscale("grad_scale");
  a.inputs = {p, g, m, v, lr, beta1, beta2, eps, wd, bc1, bc2, gscale};
  a.i = Var("i");
  const Var &i = a.i;
  Expr grad = g(i) * gscale + wd * p(i);
  Expr m_new = beta1 * m(i) + (1.0f - beta1) * grad;
  Expr v_new = beta2 * v(i) + (1.0f - beta2) * grad * grad;
  Expr denom = sqrt(v_new) / sqrt(bc2) + eps;
  // One Tuple: a single pass over the four vectors, updated in place.
  a.out = Func("adam");
  a.out(i) = Tuple(p(i) - (lr / bc1) * m_new / denom, m_new, v_new);
  return a;
}

ElementwiseAlgorithm sgd_update(const KernelDesc &) {
  // g = grad * grad_scale + weight_decay * p;  buf = momentum buf + g
  // (buf starts at 0, so the first step sets buf = g, as torch.optim.SGD);
  // p = p - lr * (momentum > 0 ? buf : g).
  ElementwiseAlgorithm a;
  ImageParam p = flat_input("p"), g = flat_input("g"), buf = flat_input("buf");
  Param<float> lr("lr"), momentum("momentum"), wd("weight_decay"), gscale("grad_scale");
  a.inputs = {p, g, buf, lr, momentum, wd, gscale};
  a.i = Var("i");
  const Var &i = a.i;
  Expr grad = g(i) * gscale + wd * p(i);
  Expr buf_new = momentum * buf(i) + grad;
  a.out = Func("sgd");
  a.out(i) = Tuple(p(i) - lr * select(momentum > 0.0f, buf_new, grad), buf_new);
  return a;
}

}  // namespace rnnc::kernels
