// CPU schedules, one per kernel family, driven by ScheduleParams.
#pragma once

#include "Halide.h"
#include "kernels/algorithms.h"
#include "schedule_source.h"

namespace rnnc::schedules {

// Default parameters for `d` (its sched field is ignored) on `target`.
ScheduleParams default_cpu_params(const kernels::KernelDesc &d, const Halide::Target &target);

// The defaults as a schedule source: chosen from the shapes and the
// target's CPU features.
class DefaultCpuSchedules final : public ScheduleSource {
 public:
  explicit DefaultCpuSchedules(Halide::Target target) : target_(std::move(target)) {}
  ScheduleParams params(const kernels::KernelDesc &d) const override { return default_cpu_params(d, target_); }

 private:
  Halide::Target target_;
};

void schedule_cpu(kernels::PackAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::GemmAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::CellAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::RowwiseAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::ReductionAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::ElementwiseAlgorithm &a, const kernels::KernelDesc &d);

}  // namespace rnnc::schedules
