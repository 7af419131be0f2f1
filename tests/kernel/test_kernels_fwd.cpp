// Forward kernels against the plain C++ references, over a grid of shapes
// that covers every schedule specialisation (single rows, row tiles with a
// tail, the parallel path) and sizes that are not multiples of the tile.
#include <gtest/gtest.h>

#include "cpu/cpu_schedules.h"
#include "kernel_checks.h"

namespace rnnc::test {
namespace {

using kernels::Family;
using kernels::KernelDesc;

const std::vector<int64_t> kRowCounts = {1, 2, 5, 9, 17, 40, 131};

TEST(PackWeights, TilesHoldEveryGateOfAUnitSideBySide) {
  std::mt19937 rng(1);
  for (int g : {1, 3, 4})
    for (int64_t h : {3, 8, 13})
      for (int tile : {4, 8}) {
        const int64_t k = 5;
        ref::Mat w = random_values(g * h * k, rng);
        Halide::Buffer<float> p = pack(w, g, h, k, tile);
        for (int jo = 0; jo < p.dim(3).extent(); ++jo)
          for (int kk = 0; kk < k; ++kk)
            for (int gg = 0; gg < g; ++gg)
              for (int ji = 0; ji < tile; ++ji) {
                const int64_t j = jo * tile + ji;
                const double want = j < h ? w[(gg * h + j) * k + kk] : 0.0;
                ASSERT_EQ(p(ji, gg, kk, jo), static_cast<float>(want)) << "g=" << g << " h=" << h << " tile=" << tile;
              }
      }
}

TEST(GemmFwd, MatchesReference) {
  std::mt19937 rng(2);
  for (int64_t k : {1, 7, 32})
    for (int64_t n : {2, 12, 40, 96})
      for (bool gather : {false, true})
        for (bool blocks : {false, true}) {
          KernelDesc d;
          d.family = Family::kGemmFwd;
          d.k = k;
          d.n = n;
          d.gather = gather;
          // blocks: the default schedule with the smallest weight blocks, so
          // that these small products take the blocked loop order too.
          if (blocks && gpu_target()) continue;  // the CPU schedule's weight blocks
          if (blocks) {
            d = codegen::with_default_schedule(d, host_target());
            d.sched.block_kib = 1;
          }
          JitKernel kernel = blocks ? JitKernel(d, true) : JitKernel(d);
          const int tile = kernel.desc().sched.tile;
          ref::Mat w = random_values(n * k, rng), b = random_values(n, rng);
          Halide::Buffer<float> wp = pack(w, 1, n, k, tile);
          for (int64_t rows : kRowCounts) {
            const int64_t src_rows = gather ? rows + 3 : rows;
            MatrixView a(k, src_rows, 2, 1);
            ref::Mat av = random_values(k * src_rows, rng);
            a.fill(av);
            std::vector<int32_t> idx(rows);
            for (auto &i : idx) i = static_cast<int32_t>(rng() % src_rows);
            MatrixView out(n, rows, 3, 2);
            if (gather) {
              kernel.run({a.buf, index_buffer(idx), wp, vector_buffer(b)}, {out.buf});
            } else {
              kernel.run({a.buf, wp, vector_buffer(b)}, {out.buf});
            }
            ref::Mat want = ref::gemm(av, k, gather ? &idx : nullptr, rows, w, n, b);
            EXPECT_LT(max_abs_diff(out.values(), want), 1e-5 * (1 + k))
                << "k=" << k << " n=" << n << " gather=" << gather << " blocks=" << blocks << " rows=" << rows;
          }
        }
}

TEST(GemmFwd, NarrowProductsSplitRowsAcrossThreads) {
  RNNC_SKIP_ON_GPU("the CPU schedule's split of rows across threads");
  // One unit tile (n within one tile) and enough rows to pass the parallel
  // threshold: the row tiles run across threads.
  std::mt19937 rng(12);
  for (int64_t n : {2, 12}) {
    KernelDesc d;
    d.family = Family::kGemmFwd;
    d.k = 32;
    d.n = n;
    d.gather = true;
    JitKernel kernel(d);
    const int tile = kernel.desc().sched.tile;
    ASSERT_LE(n, tile);
    const int64_t rows = 3 * kernel.desc().sched.parallel_rows + 7;
    ref::Mat w = random_values(n * d.k, rng), b = random_values(n, rng);
    Halide::Buffer<float> wp = pack(w, 1, n, d.k, tile);
    MatrixView a(d.k, rows, 2, 1);
    ref::Mat av = random_values(d.k * rows, rng);
    a.fill(av);
    std::vector<int32_t> idx(rows);
    for (auto &i : idx) i = static_cast<int32_t>(rng() % rows);
    MatrixView out(n, rows, 3, 2);
    kernel.run({a.buf, index_buffer(idx), wp, vector_buffer(b)}, {out.buf});
    ref::Mat want = ref::gemm(av, d.k, &idx, rows, w, n, b);
    EXPECT_LT(max_abs_diff(out.values(), want), 1e-5 * (1 + d.k)) << "n=" << n << " rows=" << rows;
  }
}

enum class CellCase { kRnnTanh, kRnnRelu, kLstm, kGruLbr, kGruOnnx };

struct CellParam {
  CellCase cell;
  bool train;
  // Twice the default tile, accumulated by tiles of several rows one default
  // tile (row_units) at a time (a tuning candidate).
  bool grouped = false;
};

class CellStep : public ::testing::TestWithParam<CellParam> {};

TEST_P(CellStep, MatchesReference) {
  const CellParam cp = GetParam();
  std::mt19937 rng(3);
  for (int64_t h : {3, 8, 21, 64}) {
    KernelDesc d;
    d.h = h;
    d.train = cp.train;
    switch (cp.cell) {
      case CellCase::kRnnTanh:
      case CellCase::kRnnRelu:
        d.family = Family::kRnnStepFwd;
        d.g = 1;
        d.relu = cp.cell == CellCase::kRnnRelu;
        break;
      case CellCase::kLstm:
        d.family = Family::kLstmStepFwd;
        d.g = 4;
        break;
      case CellCase::kGruLbr:
      case CellCase::kGruOnnx:
        d.family = Family::kGruStepFwd;
        d.g = 3;
        d.linear_before_reset = cp.cell == CellCase::kGruLbr;
        break;
    }
    d = codegen::with_default_schedule(d, host_target());
    if (cp.grouped) {
      RNNC_SKIP_ON_GPU("grouped row tiles are a CPU tuning candidate");
      if (d.sched.row_units == 0) {
        d.sched.row_units = d.sched.tile;
        d.sched.tile *= 2;
      }
      ASSERT_EQ(schedules::cpu_params_problem(d, d.sched, host_target()), "");
    }
    JitKernel kernel(d, true);
    const int g = d.g;
    ref::Mat w = random_values(g * h * h, rng, -0.5, 0.5), b = random_values(g * h, rng);
    Halide::Buffer<float> wp = pack(w, g, h, h, kernel.desc().sched.tile);
    for (int64_t rows : kRowCounts) {
      SCOPED_TRACE("h=" + std::to_string(h) + " rows=" + std::to_string(rows));
      // Inputs and outputs are views with row strides, as in the runtime.
      MatrixView xp(g * h, rows, 0, 3), hp(h, rows, h, 1), cp_(h, rows, 0, 2);
      ref::Mat xv = random_values(g * h * rows, rng, -2, 2), hv = random_values(h * rows, rng),
               cv = random_values(h * rows, rng);
      xp.fill(xv);
      hp.fill(hv);
      cp_.fill(cv);
      MatrixView hout(h, rows, h, 1), cout_(h, rows, 0, 1);
      std::vector<MatrixView> saved;
      const int n_saved = !cp.train                          ? 0
                          : d.family == Family::kLstmStepFwd ? 4
                          : d.family == Family::kGruStepFwd  ? (d.linear_before_reset ? 4 : 3)
                                                             : 0;
      for (int i = 0; i < n_saved; ++i) saved.emplace_back(h, rows, 2 * h, 0);
      std::vector<Halide::Buffer<>> outs = {hout.buf};
      if (d.family == Family::kLstmStepFwd) outs.push_back(cout_.buf);
      for (auto &s : saved) outs.push_back(s.buf);

      ref::StepResult want;
      if (d.family == Family::kLstmStepFwd) {
        kernel.run({xp.buf, hp.buf, cp_.buf, wp, vector_buffer(b)}, outs);
        want = ref::lstm_step(xv, hv, cv, rows, h, w, b);
        EXPECT_LT(max_abs_diff(cout_.values(), want.c), 2e-6);
      } else {
        kernel.run({xp.buf, hp.buf, wp, vector_buffer(b)}, outs);
        want = d.family == Family::kRnnStepFwd ? ref::rnn_step(xv, hv, rows, h, w, b, d.relu)
                                               : ref::gru_step(xv, hv, rows, h, w, b, d.linear_before_reset);
      }
      EXPECT_LT(max_abs_diff(hout.values(), want.h), 2e-6);
      for (int i = 0; i < n_saved; ++i) {
        ref::Mat expect(rows * h);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < h; ++j)
            expect[r * h + j] = i < g ? want.gates[r * g * h + i * h + j] : want.hn[r * h + j];
        EXPECT_LT(max_abs_diff(saved[i].values(), expect), 2e-6) << "saved output " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCells, CellStep,
                         ::testing::Values(CellParam{CellCase::kRnnTanh, false}, CellParam{CellCase::kRnnRelu, true},
                                           CellParam{CellCase::kLstm, false}, CellParam{CellCase::kLstm, true},
                                           CellParam{CellCase::kGruLbr, false}, CellParam{CellCase::kGruLbr, true},
                                           CellParam{CellCase::kGruOnnx, false}, CellParam{CellCase::kGruOnnx, true},
                                           CellParam{CellCase::kRnnTanh, false, true},
                                           CellParam{CellCase::kGruLbr, true, true},
                                           CellParam{CellCase::kGruOnnx, false, true},
                                           CellParam{CellCase::kLstm, false, true},
                                           CellParam{CellCase::kLstm, true, true}));

}  // namespace
}  // namespace rnnc::test

namespace rnnc::test {
namespace {

// A pipeline built for one family but described as another fails when it is
// generated, naming the kernel, the family and both argument lists.
TEST(KernelSignature, MismatchFailsNamingPipelineAndFamily) {
  kernels::KernelDesc gemm;
  gemm.family = kernels::Family::kGemmFwd;
  gemm.k = 8;
  gemm.n = 16;
  gemm = codegen::with_default_schedule(gemm, host_target());
  kernels::GemmAlgorithm a = kernels::gemm_fwd(gemm);
  EXPECT_NO_THROW(codegen::check_signature(gemm, a.inputs, {a.out}));

  kernels::KernelDesc colsum = gemm;
  colsum.family = kernels::Family::kColSum;
  colsum.n = 16;
  try {
    codegen::check_signature(colsum, a.inputs, {a.out});
    FAIL() << "a gemm pipeline passed as a colsum kernel";
  } catch (const std::logic_error &e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("kernel " + colsum.name()), std::string::npos) << what;
    EXPECT_NE(what.find("colsum family's signature"), std::string::npos) << what;
    EXPECT_NE(what.find("pipeline:"), std::string::npos) << what;
    EXPECT_NE(what.find("signature:"), std::string::npos) << what;
  }
  // One output too many.
  Halide::Func extra("extra");
  Halide::Var x, y;
  extra(x, y) = 0.0f;
  EXPECT_THROW(codegen::check_signature(gemm, a.inputs, {a.out, extra}), std::logic_error);
}

}  // namespace
}  // namespace rnnc::test
