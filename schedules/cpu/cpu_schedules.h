// CPU schedules, one per kernel family, driven by ScheduleParams.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"
#include "kernels/algorithms.h"
#include "schedule_source.h"

namespace rnnc::schedules {

// Default parameters for `d` (its sched field is ignored) on `target`:
// its family's entry in the CPU table (cpu_families.h).
ScheduleParams default_cpu_params(const kernels::KernelDesc &d, const Halide::Target &target);

// The default rules the CPU table's entries use, by kind of kernel:
// products over packed weights, forward and backward steps, weight
// gradients, per-unit and per-column maps, flat updates.
ScheduleParams gemm_fwd_defaults(const kernels::KernelDesc &d, const Halide::Target &target);
ScheduleParams step_defaults(const kernels::KernelDesc &d, const Halide::Target &target);
ScheduleParams gemm_wgrad_defaults(const kernels::KernelDesc &d, const Halide::Target &target);
ScheduleParams unit_defaults(const kernels::KernelDesc &d, const Halide::Target &target);
ScheduleParams column_defaults(const kernels::KernelDesc &d, const Halide::Target &target);
ScheduleParams flat_defaults(const kernels::KernelDesc &d, const Halide::Target &target);

// The defaults as a schedule source: chosen from the shapes and the
// target's CPU features.
class DefaultCpuSchedules final : public ScheduleSource {
 public:
  explicit DefaultCpuSchedules(Halide::Target target) : target_(std::move(target)) {}
  ScheduleParams params(const kernels::KernelDesc &d) const override { return default_cpu_params(d, target_); }

 private:
  Halide::Target target_;
};

// Tuning: the points `rnnc tune` may try for `d` on `target` (the default
// first; empty when the family has no tuning space), and the rules every
// point must obey — "" when `p` is valid, else why not (e.g. a tile that is
// not a multiple of the vector width, accumulators beyond the register budget).
std::vector<ScheduleParams> cpu_tuning_space(const kernels::KernelDesc &d, const Halide::Target &target);
std::string cpu_params_problem(const kernels::KernelDesc &d, const ScheduleParams &p, const Halide::Target &target);

void schedule_cpu(kernels::PackAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::GemmAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::CellAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::RowwiseAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::ReductionAlgorithm &a, const kernels::KernelDesc &d);
void schedule_cpu(kernels::ElementwiseAlgorithm &a, const kernels::KernelDesc &d);

}  // namespace rnnc::schedules
