#include "cuda/cuda_families.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace rnnc::schedules {

namespace {

using Halide::Func;
using Halide::TailStrategy;
using Halide::Var;
using kernels::Family;
using kernels::KernelDesc;

// Threads per block of the one-dimensional maps: a multiple of the warp,
// enough blocks per SM for latency hiding at the sizes the flat arrays have.
constexpr int kFlatThreads = 256;

// Flat optimizer updates: one thread per parameter.
void schedule_cuda(kernels::ElementwiseAlgorithm &a, const KernelDesc &) {
  Var io("io"), ii("ii");
  a.out.gpu_tile(a.i, io, ii, kFlatThreads, TailStrategy::GuardWithIf);
}

// One output [rows, width] of a row-wise kernel: a warp across 32 columns
// and 8 rows per block when a row is that wide (a warp reads one 128-byte
// line); narrower outputs (a loss per row) take a thread per row, its
// columns in a loop. A per-row reduction the output reads (a mean, a
// logsumexp) is computed inside the thread that needs it.
void tile_rows(Func f, const Var &d, const Var &s, int64_t width) {
  if (width >= 32) {
    Var dxo("dxo"), dxi("dxi"), syo("syo"), syi("syi");
    f.gpu_tile(d, s, dxo, syo, dxi, syi, 32, 8, TailStrategy::GuardWithIf);
  } else {
    Var so("so"), si("si");
    f.gpu_tile(s, so, si, 128, TailStrategy::GuardWithIf);
  }
}

// Row-wise kernels: readouts and their gradients, dropout, the losses.
void schedule_cuda(kernels::RowwiseAlgorithm &a, const KernelDesc &d) {
  const bool loss = d.family == Family::kSoftmaxXent || d.family == Family::kMseLoss;
  tile_rows(a.out, a.d, a.s, loss ? 1 : d.row_width());  // a loss's `out` is the per-row loss
  for (Func f : a.more_outputs) tile_rows(f, a.d, a.s, d.row_width());
}

// Reductions over all rows, deterministic (no atomics): every output element
// has one thread that walks the rows in order, as the CPU sums them.
// A first version: the weight gradient at one output per thread reads its
// operands from memory per row, and the embedding scatter has as many
// threads as the embedding is wide; tiled, shared-memory versions come with
// the GPU's measurements (NOTES.md).
void schedule_cuda(kernels::ReductionAlgorithm &a, const KernelDesc &d) {
  switch (d.family) {
    case Family::kGemmWgrad: {
      // A warp across 32 weight columns (k) of 8 output rows (n): the
      // activations' rows are read coalesced.
      Var xo("xo"), xi("xi"), yo("yo"), yi("yi");
      a.out.gpu_tile(a.x, a.y, xo, yo, xi, yi, 32, 8, TailStrategy::GuardWithIf);
      break;
    }
    case Family::kColSum: {
      Var xo("xo"), xi("xi");
      a.out.gpu_tile(a.x, xo, xi, 64, TailStrategy::GuardWithIf);
      break;
    }
    case Family::kScatterRows: {
      // Rows land at data-dependent places: one thread per column walks every
      // row, so no two threads write one element.
      Var xo("xo"), xi("xi"), yo("yo"), yi("yi");
      a.acc.compute_root().gpu_tile(a.x, a.y, xo, yo, xi, yi, 32, 8, TailStrategy::GuardWithIf);
      a.acc.update().gpu_tile(a.x, xo, xi, 32, TailStrategy::GuardWithIf);
      a.out.gpu_tile(a.x, a.y, xo, yo, xi, yi, 32, 8, TailStrategy::GuardWithIf);
      break;
    }
    case Family::kSumSquares: {
      // 1024 partial sums, partial u over elements u, u + 1024, ... (coalesced),
      // then one thread adds them in order.
      Halide::RVar ro("ro"), ri("ri");
      Var u("u"), uo("uo"), ui("ui");
      Func partial = a.acc.update().split(a.rows.x, ro, ri, 1024, TailStrategy::GuardWithIf).rfactor(ri, u);
      partial.compute_root().gpu_tile(u, uo, ui, 256, TailStrategy::GuardWithIf);
      partial.update().reorder(ro, u).gpu_tile(u, uo, ui, 256, TailStrategy::GuardWithIf);
      a.out.gpu_single_thread();
      break;
    }
    default:
      throw std::logic_error(std::string("no CUDA schedule for the reduction family ") + kernels::to_string(d.family));
  }
}

// Weight packing (once per weight update): a thread per (unit in tile,
// input), the gates of the unit in its loop.
void schedule_cuda(kernels::PackAlgorithm &a, const KernelDesc &) {
  a.out.reorder(a.g, a.ji, a.k, a.jo).gpu_threads(a.ji).gpu_blocks(a.k, a.jo);
}

// An output over (unit, row) that reads a product over packed weights as
// mm(j % tile, g, j / tile, r): split by the packing tile, so that each
// thread's unit is one ji in one jo. Tiled 32 x 8 without this split, a
// GRU step needed 96 registers; with it, 32 (NOTES.md: the local-memory
// arrays that remain).
void tile_units(Func f, int tile) {
  const std::vector<Var> args = f.args();
  Var jo("jo"), ji("ji"), ro("ro"), ri("ri");
  const int rows = std::max(1, 256 / tile);
  f.split(args[0], jo, ji, tile, TailStrategy::GuardWithIf)
      .split(args[1], ro, ri, rows, TailStrategy::GuardWithIf)
      .reorder(ji, ri, jo, ro)
      .gpu_blocks(jo, ro)
      .gpu_threads(ji, ri);
}

// Products over packed weights, and the fused steps (forward: the product
// with the gate math in its epilogue; backward: gate gradients, then the
// product with W^T for dh_{t-1}): a first, untiled version with one thread
// per output element and its K loop inside the thread (NOTES.md).
void schedule_cuda(kernels::GemmAlgorithm &a, const KernelDesc &d) { tile_units(a.out, d.sched.tile); }

void schedule_cuda(kernels::CellAlgorithm &a, const KernelDesc &d) {
  tile_units(a.out, d.sched.tile);
  for (Func f : a.more_outputs) tile_units(f, d.sched.tile);
}

template <auto Algorithm>
ScheduledKernel cuda(const KernelDesc &d) {
  auto a = Algorithm(d);
  schedule_cuda(a, d);
  std::vector<Func> outputs = {a.out};
  outputs.insert(outputs.end(), a.more_outputs.begin(), a.more_outputs.end());
  return ScheduledKernel{Halide::Pipeline(outputs), a.inputs, outputs};
}

const std::vector<CudaFamilyEntry> kTable = {
    {Family::kAdamUpdate, cuda<kernels::adam_update>},
    {Family::kSgdUpdate, cuda<kernels::sgd_update>},
    {Family::kDropout, cuda<kernels::dropout>},
    {Family::kReadoutLast, cuda<kernels::readout_last>},
    {Family::kReadoutMean, cuda<kernels::readout_mean>},
    {Family::kReadoutLastBwd, cuda<kernels::readout_last_bwd>},
    {Family::kReadoutMeanBwd, cuda<kernels::readout_mean_bwd>},
    {Family::kSoftmaxXent, cuda<kernels::softmax_xent>},
    {Family::kMseLoss, cuda<kernels::mse_loss>},
    {Family::kGemmWgrad, cuda<kernels::gemm_wgrad>},
    {Family::kColSum, cuda<kernels::colsum>},
    {Family::kScatterRows, cuda<kernels::scatter_rows>},
    {Family::kSumSquares, cuda<kernels::sum_squares>},
    {Family::kPackWeights, cuda<kernels::pack_weights>},
    {Family::kGemmFwd, cuda<kernels::gemm_fwd>},
    {Family::kRnnStepFwd, cuda<kernels::rnn_step_fwd>},
    {Family::kLstmStepFwd, cuda<kernels::lstm_step_fwd>},
    {Family::kGruStepFwd, cuda<kernels::gru_step_fwd>},
    {Family::kRnnStepBwd, cuda<kernels::rnn_step_bwd>},
    {Family::kLstmStepBwd, cuda<kernels::lstm_step_bwd>},
    {Family::kGruStepBwd, cuda<kernels::gru_step_bwd>},
};

}  // namespace

const CudaFamilyEntry *cuda_family(Family f) {
  for (const CudaFamilyEntry &e : kTable)
    if (e.family == f) return &e;
  return nullptr;
}

std::vector<Family> cuda_families() {
  std::vector<Family> out;
  for (const CudaFamilyEntry &e : kTable) out.push_back(e.family);
  return out;
}

}  // namespace rnnc::schedules
