// Plain C++ references of the forward kernels, in double precision, with
// PyTorch's layouts (row-major [rows, width] matrices, W as [out, in]).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace rnnc::ref {

using Mat = std::vector<double>;  // row-major

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// out[r, n] = sum_k a[src(r), k] * w[n, k] + bias[n]
inline Mat gemm(const Mat &a, int64_t k, const std::vector<int32_t> *idx, int64_t rows, const Mat &w, int64_t n,
                const Mat &bias) {
  Mat out(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t src = idx ? (*idx)[r] : r;
    for (int64_t j = 0; j < n; ++j) {
      double s = bias[j];
      for (int64_t q = 0; q < k; ++q) s += a[src * k + q] * w[j * k + q];
      out[r * n + j] = s;
    }
  }
  return out;
}

// W_hh h + b_hh for gates g: hw[r, g*h + j]
inline Mat hidden_product(const Mat &hp, int64_t rows, int64_t h, int gates, const Mat &w, const Mat &b) {
  return gemm(hp, h, nullptr, rows, w, gates * h, b);
}

struct StepResult {
  Mat h, c;   // new state
  Mat gates;  // saved activations [rows, g*h] (gate order of the cell)
  Mat hn;     // GRU linear-before-reset: W_hn h + b_hn
};

inline StepResult rnn_step(const Mat &xp, const Mat &hp, int64_t rows, int64_t h, const Mat &w, const Mat &b,
                           bool relu) {
  Mat hw = hidden_product(hp, rows, h, 1, w, b);
  StepResult s;
  s.h.resize(rows * h);
  for (int64_t i = 0; i < rows * h; ++i) {
    double pre = xp[i] + hw[i];
    s.h[i] = relu ? std::max(pre, 0.0) : std::tanh(pre);
  }
  return s;
}

inline StepResult lstm_step(const Mat &xp, const Mat &hp, const Mat &cp, int64_t rows, int64_t h, const Mat &w,
                            const Mat &b) {
  Mat hw = hidden_product(hp, rows, h, 4, w, b);
  StepResult s;
  s.h.resize(rows * h);
  s.c.resize(rows * h);
  s.gates.resize(rows * 4 * h);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j) {
      auto pre = [&](int g) { return xp[r * 4 * h + g * h + j] + hw[r * 4 * h + g * h + j]; };
      double i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = std::tanh(pre(2)), o = sigmoid(pre(3));
      double c = f * cp[r * h + j] + i * g;
      s.c[r * h + j] = c;
      s.h[r * h + j] = o * std::tanh(c);
      double *gs = &s.gates[r * 4 * h + j];
      gs[0] = i;
      gs[h] = f;
      gs[2 * h] = g;
      gs[3 * h] = o;
    }
  return s;
}

inline StepResult gru_step(const Mat &xp, const Mat &hp, int64_t rows, int64_t h, const Mat &w, const Mat &b,
                           bool linear_before_reset) {
  Mat hw = hidden_product(hp, rows, h, 3, w, b);
  StepResult s;
  s.h.resize(rows * h);
  s.gates.resize(rows * 3 * h);
  s.hn.resize(rows * h);
  Mat rh(rows * h);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j) rh[r * h + j] = sigmoid(xp[r * 3 * h + j] + hw[r * 3 * h + j]) * hp[r * h + j];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j) {
      const double *x = &xp[r * 3 * h + j];
      const double *q = &hw[r * 3 * h + j];
      double rg = sigmoid(x[0] + q[0]), zg = sigmoid(x[h] + q[h]);
      double n;
      if (linear_before_reset) {
        n = std::tanh(x[2 * h] + rg * q[2 * h]);
      } else {
        double acc = b[2 * h + j];
        for (int64_t k = 0; k < h; ++k) acc += w[(2 * h + j) * h + k] * rh[r * h + k];
        n = std::tanh(x[2 * h] + acc);
      }
      s.h[r * h + j] = (1 - zg) * n + zg * hp[r * h + j];
      s.gates[r * 3 * h + j] = rg;
      s.gates[r * 3 * h + h + j] = zg;
      s.gates[r * 3 * h + 2 * h + j] = n;
      s.hn[r * h + j] = q[2 * h];
    }
  return s;
}

}  // namespace rnnc::ref
