#include "codegen/kernel_builder.h"

#include "cpu/cpu_schedules.h"
#include "kernels/algorithms.h"

namespace rnnc::codegen {

using kernels::Family;

std::vector<Halide::Argument> BuiltKernel::arguments() const {
  return std::vector<Halide::Argument>(inputs.begin(), inputs.end());
}

namespace {

template <class Algorithm>
BuiltKernel finish(Algorithm a, const kernels::KernelDesc &d) {
  schedules::schedule_cpu(a, d);
  return BuiltKernel{Halide::Pipeline(a.out), a.inputs};
}

}  // namespace

BuiltKernel build_kernel(const kernels::KernelDesc &d, const Halide::Target &target) {
  (void)target;  // CPU schedules only, so far
  switch (d.family) {
    case Family::kPackWeights: return finish(kernels::pack_weights(d), d);
    case Family::kGemmFwd: return finish(kernels::gemm_fwd(d), d);
    case Family::kRnnStepFwd: return finish(kernels::rnn_step_fwd(d), d);
    case Family::kLstmStepFwd: return finish(kernels::lstm_step_fwd(d), d);
    case Family::kGruStepFwd: return finish(kernels::gru_step_fwd(d), d);
    case Family::kReadoutLast: return finish(kernels::readout_last(d), d);
    case Family::kReadoutMean: return finish(kernels::readout_mean(d), d);
  }
  throw std::logic_error("build_kernel: unknown family");
}

kernels::KernelDesc with_default_schedule(kernels::KernelDesc d, const Halide::Target &target) {
  d.sched = schedules::default_cpu_params(d, target);
  return d;
}

}  // namespace rnnc::codegen
