// Backward, loss and optimizer kernels. Every gradient is checked against
// central finite differences of the double-precision forward reference
// (reference.h); linear maps and updates also against direct references.
#include <gtest/gtest.h>

#include <functional>

#include "kernel_checks.h"

namespace rnnc::test {
namespace {

using kernels::Family;
using kernels::KernelDesc;

enum class Cell { kRnnTanh, kRnnRelu, kLstm, kGruLbr, kGruOnnx };

class CellStepBwd : public ::testing::TestWithParam<Cell> {};

TEST_P(CellStepBwd, MatchesFiniteDifferences) {
  const Cell cell = GetParam();
  std::mt19937 rng(11);
  for (int64_t h : {3, 8, 21}) {
    const int g = cell == Cell::kLstm ? 4 : (cell == Cell::kGruLbr || cell == Cell::kGruOnnx) ? 3 : 1;
    KernelDesc d;
    d.family = g == 4 ? Family::kLstmStepBwd : g == 3 ? Family::kGruStepBwd : Family::kRnnStepBwd;
    d.h = h;
    d.g = g;
    d.relu = cell == Cell::kRnnRelu;
    d.linear_before_reset = cell != Cell::kGruOnnx;
    JitKernel kernel(d);
    Mat w = as_float(random_values(g * h * h, rng, -0.6, 0.6)), b = as_float(random_values(g * h, rng));
    Halide::Buffer<float> wt = pack(w, 1, h, g * h, kernel.desc().sched.tile, /*transpose=*/true);
    for (int64_t rows : {1, 5, 17}) {
      SCOPED_TRACE("h=" + std::to_string(h) + " rows=" + std::to_string(rows));
      Mat xp = as_float(random_values(g * h * rows, rng, -1.5, 1.5)), hp = as_float(random_values(h * rows, rng)),
          cp = as_float(random_values(h * rows, rng));
      if (cell == Cell::kRnnRelu)  // keep pre-activations away from the kink at 0
        for (auto &x : xp) x = static_cast<float>(x + (x >= 0 ? 0.3 : -0.3));
      Mat dout = as_float(random_values(h * rows, rng)), dh_next = as_float(random_values(h * rows, rng)),
          dc_next = as_float(random_values(h * rows, rng));
      Mat dh(h * rows);
      for (size_t i = 0; i < dh.size(); ++i) dh[i] = dout[i] + dh_next[i];
      auto forward = [&]() {
        switch (cell) {
          case Cell::kRnnTanh:
          case Cell::kRnnRelu:
            return ref::rnn_step(xp, hp, rows, h, w, b, cell == Cell::kRnnRelu);
          case Cell::kLstm:
            return ref::lstm_step(xp, hp, cp, rows, h, w, b);
          default:
            return ref::gru_step(xp, hp, rows, h, w, b, cell == Cell::kGruLbr);
        }
      };
      // The scalar whose gradients the kernel computes.
      auto loss = [&]() {
        ref::StepResult s = forward();
        return dot(dh, s.h) + (g == 4 ? dot(dc_next, s.c) : 0.0);
      };
      const ref::StepResult fwd = forward();
      const Mat want_dxp = numeric_grad(xp, loss), want_dh_prev = numeric_grad(hp, loss);

      MatrixView v_dout(h, rows, 1, 0), v_dh_next(h, rows, 0, 2), v_dc_next(h, rows), v_c(h, rows), v_cp(h, rows),
          v_hcur(h, rows), v_hp(h, rows);
      v_dout.fill(dout);
      v_dh_next.fill(dh_next);
      v_dc_next.fill(dc_next);
      v_hp.fill(hp);
      std::vector<MatrixView> acts;
      const int saved = g == 1 ? 0 : g + (cell == Cell::kGruLbr ? 1 : 0);  // the RNN reads h itself
      for (int i = 0; i < saved; ++i) {
        acts.emplace_back(h, rows, 3 * h, 0);
        acts.back().fill(i < g ? columns(fwd.gates, rows, g * h, i * h, h) : fwd.hn);
      }
      MatrixView da(g * h, rows, 0, 1), dhp(g * h, rows), dh_prev(h, rows, h, 0), dc_prev(h, rows), rh(h, rows);
      switch (cell) {
        case Cell::kRnnTanh:
        case Cell::kRnnRelu:
          v_hcur.fill(fwd.h);
          kernel.run({v_dout.buf, v_dh_next.buf, v_hcur.buf, wt}, {da.buf, dh_prev.buf});
          break;
        case Cell::kLstm:
          v_c.fill(fwd.c);
          v_cp.fill(cp);
          kernel.run({v_dout.buf, v_dh_next.buf, v_dc_next.buf, acts[0].buf, acts[1].buf, acts[2].buf, acts[3].buf,
                      v_c.buf, v_cp.buf, wt},
                     {da.buf, dh_prev.buf, dc_prev.buf});
          EXPECT_LT(rel_err(dc_prev.values(), numeric_grad(cp, loss)), 2e-5) << "dc_prev";
          break;
        case Cell::kGruLbr:
          kernel.run({v_dout.buf, v_dh_next.buf, v_hp.buf, acts[0].buf, acts[1].buf, acts[2].buf, acts[3].buf, wt},
                     {da.buf, dhp.buf, dh_prev.buf});
          // The hidden side's gradient is dL/d(W_hh h + b_hh); summed over
          // the rows it is dL/db_hh.
          EXPECT_LT(rel_err(column_sums(dhp.values(), rows, g * h), numeric_grad(b, loss)), 2e-5) << "dhp";
          break;
        case Cell::kGruOnnx: {
          kernel.run({v_dout.buf, v_dh_next.buf, v_hp.buf, acts[0].buf, acts[1].buf, acts[2].buf, wt},
                     {da.buf, dh_prev.buf, rh.buf});
          EXPECT_LT(rel_err(column_sums(da.values(), rows, g * h), numeric_grad(b, loss)), 2e-5) << "da = dL/db_hh";
          Mat want_rh(h * rows);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < h; ++j) want_rh[r * h + j] = fwd.gates[r * 3 * h + j] * hp[r * h + j];
          EXPECT_LT(max_abs_diff(rh.values(), want_rh), 1e-6) << "rh";
          break;
        }
      }
      EXPECT_LT(rel_err(da.values(), want_dxp), 2e-5) << "da";
      EXPECT_LT(rel_err(dh_prev.values(), want_dh_prev), 2e-5) << "dh_prev";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCells, CellStepBwd,
                         ::testing::Values(Cell::kRnnTanh, Cell::kRnnRelu, Cell::kLstm, Cell::kGruLbr, Cell::kGruOnnx));

TEST(GemmWgrad, MatchesReferenceAndFiniteDifferences) {
  std::mt19937 rng(5);
  for (int64_t k : {3, 20, 40})
    for (int64_t n : {2, 7, 33})
      for (bool gather : {false, true}) {
        KernelDesc d;
        d.family = Family::kGemmWgrad;
        d.k = k;
        d.n = n;
        d.gather = gather;
        JitKernel kernel(d);
        for (int64_t rows : {1, 9, 70, 300}) {  // 300: several row chunks and a tail
          const int64_t src_rows = rows + 4;
          Mat a = as_float(random_values(src_rows * k, rng)), dy = as_float(random_values(rows * n, rng));
          std::vector<int32_t> idx(rows);
          for (auto &i : idx) i = static_cast<int32_t>(rng() % (gather ? src_rows : rows));
          if (!gather)
            for (int64_t r = 0; r < rows; ++r) idx[r] = static_cast<int32_t>(r);
          // loss = sum dy * (a[idx] W^T): dL/dW = dy^T a[idx].
          Mat w = random_values(n * k, rng);
          auto loss = [&]() { return dot(dy, ref::gemm(a, k, &idx, rows, w, n, Mat(n, 0.0))); };
          MatrixView va(k, src_rows, 1, 0), vdy(n, rows, 0, 1), dw(k, n);
          va.fill(a);
          vdy.fill(dy);
          if (gather) {
            kernel.run({vdy.buf, va.buf, index_buffer(idx)}, {dw.buf});
          } else {
            kernel.run({vdy.buf, va.buf}, {dw.buf});
          }
          Mat want(n * k, 0.0);
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j)
              for (int64_t q = 0; q < k; ++q) want[j * k + q] += dy[r * n + j] * a[idx[r] * k + q];
          EXPECT_LT(rel_err(dw.values(), want), 1e-5) << "k=" << k << " n=" << n << " rows=" << rows;
          if (rows == 9) {
            EXPECT_LT(rel_err(dw.values(), numeric_grad(w, loss)), 1e-5);
          }
        }
      }
}

TEST(GemmFwd, TwoTermsWithGatheredSecondTerm) {
  std::mt19937 rng(6);
  const int64_t k = 12, n = 9, rows = 13;
  KernelDesc d;
  d.family = Family::kGemmFwd;
  d.k = k;
  d.n = n;
  d.terms = 2;
  JitKernel kernel(d);
  const int tile = kernel.desc().sched.tile;
  Mat a1 = as_float(random_values(rows * k, rng)), a2 = as_float(random_values(rows * k, rng));
  Mat w1 = as_float(random_values(n * k, rng)), w2 = as_float(random_values(n * k, rng)), b(n, 0.0);
  std::vector<int32_t> perm(rows);
  for (int64_t r = 0; r < rows; ++r) perm[r] = static_cast<int32_t>(rows - 1 - r);
  MatrixView va1(k, rows), va2(k, rows), out(n, rows);
  va1.fill(a1);
  va2.fill(a2);
  kernel.run({va1.buf, pack(w1, 1, n, k, tile, false), va2.buf, index_buffer(perm), pack(w2, 1, n, k, tile, false),
              vector_buffer(b)},
             {out.buf});
  Mat want = ref::gemm(a1, k, nullptr, rows, w1, n, b), second = ref::gemm(a2, k, &perm, rows, w2, n, b);
  for (size_t i = 0; i < want.size(); ++i) want[i] += second[i];
  EXPECT_LT(max_abs_diff(out.values(), want), 1e-5);
}

TEST(ColSumAndScatter, MatchReferences) {
  std::mt19937 rng(7);
  for (int64_t n :
       {1, 3, 5, 37, 64, 128, 1100}) {  // 64, 128: whole vectors; 1100: column blocks over threads and a tail
    KernelDesc c;
    c.family = Family::kColSum;
    c.n = n;
    JitKernel colsum(c);
    KernelDesc s;
    s.family = Family::kScatterRows;
    s.n = n;
    s.k = 11;
    JitKernel scatter(s);
    for (int64_t rows : {1, 30, 200}) {
      Mat dy = as_float(random_values(rows * n, rng));
      MatrixView vdy(n, rows, 2, 0);
      vdy.fill(dy);
      Halide::Buffer<float> db(static_cast<int>(n));
      colsum.run({vdy.buf}, {db});
      std::vector<int32_t> tok(rows);
      for (auto &t : tok) t = static_cast<int32_t>(rng() % 11);
      MatrixView de(n, 11);
      scatter.run({vdy.buf, index_buffer(tok)}, {de.buf});
      Mat want_db(n, 0.0), want_de(11 * n, 0.0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) {
          want_db[j] += dy[r * n + j];
          want_de[tok[r] * n + j] += dy[r * n + j];
        }
      Mat got_db(n);
      for (int64_t j = 0; j < n; ++j) got_db[j] = db(static_cast<int>(j));
      EXPECT_LT(max_abs_diff(got_db, want_db), 1e-5);
      EXPECT_LT(max_abs_diff(de.values(), want_de), 1e-5);
    }
  }
}

TEST(ReadoutBwd, LastAndMeanAreTheAdjointsOfTheForwardReadouts) {
  // Packed layout of 3 sequences of lengths 3, 1, 2 (input order): sorted
  // order 0, 2, 1; steps hold 3, 2, 1 rows.
  const std::vector<int32_t> lengths = {3, 1, 2}, offsets = {0, 3, 5}, sort_pos = {0, 2, 1};
  const int64_t n = 3, rows = 6, h = 4;
  std::vector<int32_t> last_of(rows, -1), row_seq(rows);
  for (int64_t s = 0; s < n; ++s)
    for (int32_t t = 0; t < lengths[s]; ++t) {
      row_seq[offsets[t] + sort_pos[s]] = static_cast<int32_t>(s);
      if (t == lengths[s] - 1) last_of[offsets[t] + sort_pos[s]] = static_cast<int32_t>(s);
    }
  std::mt19937 rng(8);
  for (int dirs : {1, 2}) {
    KernelDesc d;
    d.family = Family::kReadoutLastBwd;
    d.h = h;
    d.dirs = dirs;
    JitKernel kernel(d);
    Mat dy = as_float(random_values(n * dirs * h, rng));
    MatrixView vdy(dirs * h, n), df(h, rows), dr(h, rows);
    vdy.fill(dy);
    std::vector<Halide::Buffer<>> outs = {df.buf};
    if (dirs == 2) outs.push_back(dr.buf);
    kernel.run({vdy.buf, index_buffer(last_of)}, outs);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < h; ++j) {
        const int32_t s = last_of[r];
        EXPECT_EQ(df.at(r, j), s >= 0 ? static_cast<float>(dy[s * dirs * h + j]) : 0.0f);
        if (dirs == 2) {
          EXPECT_EQ(dr.at(r, j), s >= 0 ? static_cast<float>(dy[s * dirs * h + h + j]) : 0.0f);
        }
      }
  }
  KernelDesc m;
  m.family = Family::kReadoutMeanBwd;
  m.h = h;
  JitKernel mean_bwd(m);
  Mat dy = as_float(random_values(n * h, rng));
  MatrixView vdy(h, n), dsrc(h, rows);
  vdy.fill(dy);
  mean_bwd.run({vdy.buf, index_buffer(row_seq), index_buffer(lengths)}, {dsrc.buf});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < h; ++j) EXPECT_NEAR(dsrc.at(r, j), dy[row_seq[r] * h + j] / lengths[row_seq[r]], 1e-7);
}

TEST(Losses, CrossEntropyAndMseMatchReferencesAndFiniteDifferences) {
  std::mt19937 rng(9);
  const int64_t rows = 7;
  for (int64_t c : {2, 5, 19}) {
    KernelDesc d;
    d.family = Family::kSoftmaxXent;
    d.n = c;
    JitKernel kernel(d);
    Mat z = as_float(random_values(rows * c, rng, -4, 4));
    std::vector<int32_t> y(rows);
    for (auto &v : y) v = static_cast<int32_t>(rng() % c);
    const double scale = 1.0 / rows;
    auto loss = [&]() {
      double total = 0;
      for (int64_t r = 0; r < rows; ++r) {
        double mx = -1e30, s = 0;
        for (int64_t j = 0; j < c; ++j) mx = std::max(mx, z[r * c + j]);
        for (int64_t j = 0; j < c; ++j) s += std::exp(z[r * c + j] - mx);
        total += mx + std::log(s) - z[r * c + y[r]];
      }
      return total * scale;
    };
    MatrixView vz(c, rows), l(1, rows), dz(c, rows);
    vz.fill(z);
    kernel.run({vz.buf, index_buffer(y), static_cast<float>(scale)}, {l.buf, dz.buf});
    double got = 0;
    for (int64_t r = 0; r < rows; ++r) got += l.at(r, 0) * scale;
    EXPECT_NEAR(got, loss(), 1e-5);
    EXPECT_LT(rel_err(dz.values(), numeric_grad(z, loss)), 2e-5);
  }
  for (int64_t w : {1, 6}) {
    KernelDesc d;
    d.family = Family::kMseLoss;
    d.n = w;
    JitKernel kernel(d);
    Mat p = as_float(random_values(rows * w, rng)), t = as_float(random_values(rows * w, rng));
    const double scale = 1.0 / (rows * w);
    auto loss = [&]() {
      double s = 0;
      for (size_t i = 0; i < p.size(); ++i) s += (p[i] - t[i]) * (p[i] - t[i]);
      return s * scale;
    };
    MatrixView vp(w, rows), vt(w, rows), l(1, rows), dp(w, rows);
    vp.fill(p);
    vt.fill(t);
    kernel.run({vp.buf, vt.buf, static_cast<float>(scale)}, {l.buf, dp.buf});
    double got = 0;
    for (int64_t r = 0; r < rows; ++r) got += l.at(r, 0) * scale;
    EXPECT_NEAR(got, loss(), 1e-6);
    EXPECT_LT(rel_err(dp.values(), numeric_grad(p, loss)), 2e-5);
  }
}

TEST(Dropout, KeepsWithProbabilityOneMinusPAndIsReproducible) {
  KernelDesc d;
  d.family = Family::kDropout;
  d.n = 33;
  JitKernel kernel(d);
  const int64_t rows = 500;
  MatrixView x(33, rows), a(33, rows), b(33, rows), c(33, rows);
  Mat ones(33 * rows, 1.0);
  x.fill(ones);
  kernel.run({x.buf, int32_t{1234}, int32_t{3}, 0.3f}, {a.buf});
  kernel.run({x.buf, int32_t{1234}, int32_t{3}, 0.3f}, {b.buf});
  kernel.run({x.buf, int32_t{1234}, int32_t{4}, 0.3f}, {c.buf});
  int64_t kept = 0, same_site = 0, other_site = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < 33; ++j) {
      const float v = a.at(r, j);
      ASSERT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.7f) < 1e-6) << v;
      kept += v != 0.0f;
      same_site += a.at(r, j) == b.at(r, j);
      other_site += a.at(r, j) == c.at(r, j);
    }
  const double frac = static_cast<double>(kept) / (33 * rows);
  EXPECT_NEAR(frac, 0.7, 0.02);  // 16500 draws: the standard deviation is 0.0036
  EXPECT_EQ(same_site, 33 * rows);
  EXPECT_LT(other_site, 33 * rows * 0.7);  // a different site draws a different mask
  kernel.run({x.buf, int32_t{1}, int32_t{0}, 0.0f}, {a.buf});
  EXPECT_EQ(max_abs_diff(a.values(), ones), 0.0);
  kernel.run({x.buf, int32_t{1}, int32_t{0}, 1.0f}, {a.buf});
  EXPECT_EQ(max_abs_diff(a.values(), Mat(33 * rows, 0.0)), 0.0);
}

TEST(Optimizers, AdamSgdAndSumSquaresMatchTorchFormulas) {
  std::mt19937 rng(10);
  for (int64_t n : {1, 17, 100000}) {
    Mat p = as_float(random_values(n, rng)), g = as_float(random_values(n, rng)),
        m = as_float(random_values(n, rng, -0.1, 0.1)), v = as_float(random_values(n, rng, 0, 0.01));
    auto buf = [](const Mat &x) { return vector_buffer(x); };
    auto vals = [](const Halide::Buffer<float> &b) {
      Mat o(b.dim(0).extent());
      for (int i = 0; i < b.dim(0).extent(); ++i) o[i] = b(i);
      return o;
    };
    KernelDesc ss;
    ss.family = Family::kSumSquares;
    JitKernel sum_squares(ss);
    MatrixView out(1, 1);
    sum_squares.run({buf(g)}, {out.buf});
    EXPECT_NEAR(out.at(0, 0), dot(g, g), 1e-5 * dot(g, g));

    const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f, bc1 = 1 - 0.9f * 0.9f,
                bc2 = 1 - 0.999f * 0.999f, gs = 0.5f;
    KernelDesc ad;
    ad.family = Family::kAdamUpdate;
    JitKernel adam(ad);
    Halide::Buffer<float> bp(static_cast<int>(n)), bm(static_cast<int>(n)), bv(static_cast<int>(n));
    adam.run({buf(p), buf(g), buf(m), buf(v), lr, b1, b2, eps, wd, bc1, bc2, gs}, {bp, bm, bv});
    Mat wp(n), wm(n), wv(n);
    for (int64_t i = 0; i < n; ++i) {
      const double gr = g[i] * gs + wd * p[i];
      wm[i] = b1 * m[i] + (1 - b1) * gr;
      wv[i] = b2 * v[i] + (1 - b2) * gr * gr;
      wp[i] = p[i] - (lr / bc1) * wm[i] / (std::sqrt(wv[i]) / std::sqrt(bc2) + eps);
    }
    EXPECT_LT(max_abs_diff(vals(bp), wp), 1e-6);
    EXPECT_LT(max_abs_diff(vals(bm), wm), 1e-7);
    EXPECT_LT(max_abs_diff(vals(bv), wv), 1e-7);

    KernelDesc sd;
    sd.family = Family::kSgdUpdate;
    JitKernel sgd(sd);
    for (float momentum : {0.0f, 0.9f}) {
      Halide::Buffer<float> sp(static_cast<int>(n)), sb(static_cast<int>(n));
      sgd.run({buf(p), buf(g), buf(m), lr, momentum, wd, gs}, {sp, sb});
      for (int64_t i = 0; i < n; ++i) {
        const double gr = g[i] * gs + wd * p[i], nb = momentum * m[i] + gr;
        wp[i] = p[i] - lr * (momentum > 0 ? nb : gr);
        wm[i] = nb;
      }
      EXPECT_LT(max_abs_diff(vals(sp), wp), 1e-6);
      EXPECT_LT(max_abs_diff(vals(sb), wm), 1e-6);
    }
  }
}

}  // namespace
}  // namespace rnnc::test
