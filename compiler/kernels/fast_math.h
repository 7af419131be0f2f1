// Vectorisable float32 exp, sigmoid and tanh as Halide expressions.
//
// Halide 14 lowers exp and tanh on x86 to scalar libm calls, which cost ~40 %
// of an LSTM step even at batch 64. These polynomial forms (Cephes' expf and
// tanhf) vectorise and keep the relative error near 1e-7.
#pragma once

#include "Halide.h"

namespace rnnc::kernels {

Halide::Expr exp_f32(Halide::Expr x);
Halide::Expr sigmoid_f32(Halide::Expr x);
Halide::Expr tanh_f32(Halide::Expr x);

}  // namespace rnnc::kernels
