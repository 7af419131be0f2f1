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
  Mat masks;  // the clamp's derivative per gate [rows, g*h] (1 without clip)
  Mat m;      // LSTM: o ⊙ tanh(c) [rows, h] (h itself without a projection)
};

// The ONNX variants of a step (see compiler/kernels/lstm.cpp).
struct StepOptions {
  double clip = 0;                // > 0: gate pre-activations clamped to [-clip, clip]
  const Mat *peephole = nullptr;  // LSTM: [p_i, p_f, p_o], 3h
  bool input_forget = false;      // LSTM: f = 1 - i
  const Mat *w_hr = nullptr;      // LSTM projection [proj, h]: h' = W_hr (o ⊙ tanh(c)); h_prev is proj wide
  int64_t proj = 0;
};

inline double bounded(double x, const StepOptions &o) { return o.clip > 0 ? std::clamp(x, -o.clip, o.clip) : x; }
inline double inside(double x, const StepOptions &o) { return o.clip > 0 && std::abs(x) > o.clip ? 0.0 : 1.0; }

// The kernels' packed clip mask [rows, h]: sum over gates q of 2^q * masks_q.
inline Mat packed_clip_mask(const Mat &masks, int64_t rows, int64_t h, int gates) {
  Mat m(rows * h, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int q = 0; q < gates; ++q)
      for (int64_t j = 0; j < h; ++j) m[r * h + j] += (1 << q) * masks[r * gates * h + q * h + j];
  return m;
}

inline StepResult rnn_step(const Mat &xp, const Mat &hp, int64_t rows, int64_t h, const Mat &w, const Mat &b, bool relu,
                           const StepOptions &opt = {}) {
  Mat hw = hidden_product(hp, rows, h, 1, w, b);
  StepResult s;
  s.h.resize(rows * h);
  s.masks.resize(rows * h);
  for (int64_t i = 0; i < rows * h; ++i) {
    double pre = xp[i] + hw[i], x = bounded(pre, opt);
    s.h[i] = relu ? std::max(x, 0.0) : std::tanh(x);
    s.masks[i] = inside(pre, opt);
  }
  return s;
}

inline StepResult lstm_step(const Mat &xp, const Mat &hp, const Mat &cp, int64_t rows, int64_t h, const Mat &w,
                            const Mat &b, const StepOptions &opt = {}) {
  const int64_t sw = opt.w_hr ? opt.proj : h;  // width of h
  Mat hw = gemm(hp, sw, nullptr, rows, w, 4 * h, b);
  StepResult s;
  s.h.resize(rows * h);
  s.c.resize(rows * h);
  s.gates.resize(rows * 4 * h);
  s.masks.resize(rows * 4 * h);
  auto peep = [&](int q, int64_t j) { return opt.peephole ? (*opt.peephole)[q * h + j] : 0.0; };
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j) {
      auto pre = [&](int g) { return xp[r * 4 * h + g * h + j] + hw[r * 4 * h + g * h + j]; };
      const double c_prev = cp[r * h + j];
      double ai = pre(0) + peep(0, j) * c_prev, af = pre(1) + peep(1, j) * c_prev, ag = pre(2);
      double i = sigmoid(bounded(ai, opt));
      double f = opt.input_forget ? 1 - i : sigmoid(bounded(af, opt));
      double g = std::tanh(bounded(ag, opt));
      double c = f * c_prev + i * g;
      double ao = pre(3) + peep(2, j) * c;
      double o = sigmoid(bounded(ao, opt));
      s.c[r * h + j] = c;
      s.h[r * h + j] = o * std::tanh(c);  // m; projected below
      double *gs = &s.gates[r * 4 * h + j];
      gs[0] = i;
      gs[h] = f;
      gs[2 * h] = g;
      gs[3 * h] = o;
      double *ms = &s.masks[r * 4 * h + j];
      ms[0] = inside(ai, opt);
      ms[h] = opt.input_forget ? 0.0 : inside(af, opt);
      ms[2 * h] = inside(ag, opt);
      ms[3 * h] = inside(ao, opt);
    }
  s.m = s.h;
  if (opt.w_hr) s.h = gemm(s.m, h, nullptr, rows, *opt.w_hr, sw, Mat(sw, 0.0));
  return s;
}

inline StepResult gru_step(const Mat &xp, const Mat &hp, int64_t rows, int64_t h, const Mat &w, const Mat &b,
                           bool linear_before_reset, const StepOptions &opt = {}) {
  Mat hw = hidden_product(hp, rows, h, 3, w, b);
  StepResult s;
  s.h.resize(rows * h);
  s.gates.resize(rows * 3 * h);
  s.masks.resize(rows * 3 * h);
  s.hn.resize(rows * h);
  Mat rh(rows * h);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j)
      rh[r * h + j] = sigmoid(bounded(xp[r * 3 * h + j] + hw[r * 3 * h + j], opt)) * hp[r * h + j];
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j) {
      const double *x = &xp[r * 3 * h + j];
      const double *q = &hw[r * 3 * h + j];
      const double ar = x[0] + q[0], az = x[h] + q[h];
      double rg = sigmoid(bounded(ar, opt)), zg = sigmoid(bounded(az, opt));
      double an;
      if (linear_before_reset) {
        an = x[2 * h] + rg * q[2 * h];
      } else {
        double acc = b[2 * h + j];
        for (int64_t k = 0; k < h; ++k) acc += w[(2 * h + j) * h + k] * rh[r * h + k];
        an = x[2 * h] + acc;
      }
      const double n = std::tanh(bounded(an, opt));
      s.h[r * h + j] = (1 - zg) * n + zg * hp[r * h + j];
      s.gates[r * 3 * h + j] = rg;
      s.gates[r * 3 * h + h + j] = zg;
      s.gates[r * 3 * h + 2 * h + j] = n;
      s.masks[r * 3 * h + j] = inside(ar, opt);
      s.masks[r * 3 * h + h + j] = inside(az, opt);
      s.masks[r * 3 * h + 2 * h + j] = inside(an, opt);
      s.hn[r * h + j] = q[2 * h];
    }
  return s;
}

}  // namespace rnnc::ref
