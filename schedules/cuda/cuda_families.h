// The CUDA schedule table, beside the CPU one (cpu/cpu_families.h): the same
// algorithms (compiler/kernels), scheduled for an NVIDIA GPU. It is being
// filled family by family (issue 11); a family without an entry cannot be
// compiled for a CUDA target, and rnnc compile says which families a model
// needs that have none — nothing falls back to the CPU.
#pragma once

#include <string>
#include <vector>

#include "cpu/cpu_families.h"

namespace rnnc::schedules {

struct CudaFamilyEntry {
  kernels::Family family;
  ScheduledKernel (*build)(const kernels::KernelDesc &d);
};

// The entry of `f`, or nullptr while it has no CUDA schedule.
const CudaFamilyEntry *cuda_family(kernels::Family f);

// The families that have a CUDA schedule, in table order.
std::vector<kernels::Family> cuda_families();

}  // namespace rnnc::schedules
