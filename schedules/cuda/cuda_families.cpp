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

// Row-wise maps over [rows, width] (dropout): a warp across 32 columns, 8
// rows per block, so that a warp reads a contiguous 128-byte line.
void schedule_cuda(kernels::RowwiseAlgorithm &a, const KernelDesc &) {
  Var dxo("dxo"), dxi("dxi"), syo("syo"), syi("syi");
  a.out.gpu_tile(a.d, a.s, dxo, syo, dxi, syi, 32, 8, TailStrategy::GuardWithIf);
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
