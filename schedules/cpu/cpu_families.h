// The CPU schedule table: one entry per kernel family with its algorithm
// built and scheduled for the CPU, its default parameters and whether it
// has a tuning space. The algorithm-side entry (name, workload key,
// signature) is in compiler/kernels/families.h; a CUDA table will stand
// beside this one.
#pragma once

#include <vector>

#include "Halide.h"
#include "kernels/algorithms.h"
#include "schedule_params.h"

namespace rnnc::schedules {

// An algorithm with its schedule applied: the pipeline, its inputs in
// signature order and its output Funcs in signature order.
struct ScheduledKernel {
  Halide::Pipeline pipeline;
  std::vector<kernels::KernelInput> inputs;
  std::vector<Halide::Func> outputs;
};

struct CpuFamilyEntry {
  kernels::Family family;
  ScheduledKernel (*build)(const kernels::KernelDesc &d);
  ScheduleParams (*defaults)(const kernels::KernelDesc &d, const Halide::Target &target);
  bool tunable;  // cpu_tuning_space gives points for it
};

// The entry of `f`; every Family has one.
const CpuFamilyEntry &cpu_family(kernels::Family f);

}  // namespace rnnc::schedules
