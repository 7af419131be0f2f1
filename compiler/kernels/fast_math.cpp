#include "kernels/fast_math.h"

namespace rnnc::kernels {

using namespace Halide;

namespace {

// body(v) with v bound to x by a Let: x is used several times, and a large x
// (a clamped pre-activation) repeated as a tree makes the simplifier slow.
template <typename F>
Expr with_let(const Expr &x, F body) {
  if (x.as<Internal::Variable>() || Internal::is_const(x)) return body(x);
  const std::string name = Internal::unique_name('t');
  return Internal::Let::make(name, x, body(Internal::Variable::make(x.type(), name)));
}

}  // namespace

Expr exp_f32(Expr x) {
  // Range reduction x = n ln2 + r with |r| <= ln2/2, then a degree-6
  // polynomial for e^r and 2^n built in the exponent bits. The clamp keeps n
  // within the normal exponents (e^-87.3 ~ 1.2e-38).
  x = clamp(x, -87.3f, 88.7f);
  Expr n = floor(x * 1.44269504088896341f + 0.5f);
  Expr r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  Expr r2 = r * r;
  Expr p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  Expr scale = reinterpret(Float(32), (cast<int32_t>(n) + 127) << 23);
  return p * scale;
}

Expr sigmoid_f32(Expr x) { return 1.0f / (1.0f + exp_f32(-x)); }

Expr tanh_f32(Expr x_in) {
  return with_let(x_in, [](Expr x) {
    // Small |x|: odd polynomial (no cancellation); otherwise 1 - 2/(e^2|x| + 1).
    Expr ax = abs(x);
    Expr z = x * x;
    Expr p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    Expr small = p * z * x + x;
    Expr large = 1.0f - 2.0f / (exp_f32(2.0f * ax) + 1.0f);
    large = select(x < 0.0f, -large, large);
    return select(ax < 0.625f, small, large);
  });
}

}  // namespace rnnc::kernels
