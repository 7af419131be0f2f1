// Helpers of the kernel tests: packing logical weights with the pack
// kernel, central finite differences, and small matrix utilities.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>

#include "jit_runner.h"
#include "tune/reference.h"

namespace rnnc::test {

using ref::Mat;

// W [g*h, k] (or, transposed, [k, h]) packed for a consumer with tile `tile`,
// by the pack kernel itself.
inline Halide::Buffer<float> pack(const Mat &w, int g, int64_t h, int64_t k, int tile, bool transpose = false) {
  kernels::KernelDesc d;
  d.family = kernels::Family::kPackWeights;
  d.g = g;
  d.h = h;
  d.k = k;
  d.transpose = transpose;
  d.sched.tile = tile;
  JitKernel kernel(d, /*keep_schedule=*/true);
  // W is [g*h, k], or [k, h] when transposed.
  const int64_t rows = transpose ? k : g * h, cols = transpose ? h : k;
  Halide::Buffer<float> in(static_cast<int>(cols), static_cast<int>(rows));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      in(static_cast<int>(c), static_cast<int>(r)) = static_cast<float>(w[r * cols + c]);
  Halide::Buffer<float> out(tile, g, static_cast<int>(k), static_cast<int>((h + tile - 1) / tile));
  kernel.run({in}, {out});
  return out;
}

// Central differences of f with respect to every element of x.
inline Mat numeric_grad(Mat &x, const std::function<double()> &f) {
  Mat g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i], eps = 1e-6;
    x[i] = keep + eps;
    const double up = f();
    x[i] = keep - eps;
    const double down = f();
    x[i] = keep;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

inline double dot(const Mat &a, const Mat &b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Rounds through float, as the kernels see their inputs.
inline Mat as_float(Mat v) {
  for (auto &x : v) x = static_cast<float>(x);
  return v;
}

// Columns [c0, c0 + n) of a [rows, width] matrix.
inline Mat columns(const Mat &m, int64_t rows, int64_t width, int64_t c0, int64_t n) {
  Mat out(rows * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) out[r * n + c] = m[r * width + c0 + c];
  return out;
}

// Sums the rows of a [rows, width] matrix.
inline Mat column_sums(const Mat &m, int64_t rows, int64_t width) {
  Mat s(width, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < width; ++c) s[c] += m[r * width + c];
  return s;
}

inline double rel_err(const Mat &got, const Mat &want) {
  double scale = 1e-3;
  for (double w : want) scale = std::max(scale, std::abs(w));
  return max_abs_diff(got, want) / scale;
}

}  // namespace rnnc::test
