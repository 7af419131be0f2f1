#include "cuda/cuda_families.h"

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
  int64_t width = d.h * d.dirs, more_width = width;
  switch (d.family) {
    case Family::kSoftmaxXent:
    case Family::kMseLoss:
      width = 1;  // the per-row loss; the gradient is as wide as the outputs
      more_width = d.n;
      break;
    case Family::kDropout:
      width = more_width = d.n;
      break;
    case Family::kReadoutLastBwd:
    case Family::kReadoutMeanBwd:
      width = more_width = d.h;
      break;
    default:
      break;
  }
  tile_rows(a.out, a.d, a.s, width);
  for (Func f : a.more_outputs) tile_rows(f, a.d, a.s, more_width);
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
