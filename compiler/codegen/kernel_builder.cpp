#include "codegen/kernel_builder.h"

#include "cpu/cpu_schedules.h"

namespace rnnc::codegen {

using kernels::Family;

std::vector<Halide::Argument> BuiltKernel::arguments() const {
  std::vector<Halide::Argument> args;
  for (const auto &in : inputs) std::visit([&](const auto &p) { args.push_back(p); }, in);
  return args;
}

namespace {

template <class Algorithm>
BuiltKernel finish(Algorithm a, const kernels::KernelDesc &d) {
  schedules::schedule_cpu(a, d);
  std::vector<Halide::Func> outputs = {a.out};
  outputs.insert(outputs.end(), a.more_outputs.begin(), a.more_outputs.end());
  return BuiltKernel{Halide::Pipeline(outputs), a.inputs};
}

}  // namespace

BuiltKernel build_kernel(const kernels::KernelDesc &d, const Halide::Target &target) {
  (void)target;  // CPU schedules only, so far
  switch (d.family) {
    case Family::kPackWeights:
      return finish(kernels::pack_weights(d), d);
    case Family::kGemmFwd:
      return finish(kernels::gemm_fwd(d), d);
    case Family::kRnnStepFwd:
      return finish(kernels::rnn_step_fwd(d), d);
    case Family::kLstmStepFwd:
      return finish(kernels::lstm_step_fwd(d), d);
    case Family::kGruStepFwd:
      return finish(kernels::gru_step_fwd(d), d);
    case Family::kReadoutLast:
      return finish(kernels::readout_last(d), d);
    case Family::kReadoutMean:
      return finish(kernels::readout_mean(d), d);
    case Family::kDropout:
      return finish(kernels::dropout(d), d);
    case Family::kGemmWgrad:
      return finish(kernels::gemm_wgrad(d), d);
    case Family::kColSum:
      return finish(kernels::colsum(d), d);
    case Family::kScatterRows:
      return finish(kernels::scatter_rows(d), d);
    case Family::kRnnStepBwd:
      return finish(kernels::rnn_step_bwd(d), d);
    case Family::kLstmStepBwd:
      return finish(kernels::lstm_step_bwd(d), d);
    case Family::kGruStepBwd:
      return finish(kernels::gru_step_bwd(d), d);
    case Family::kReadoutLastBwd:
      return finish(kernels::readout_last_bwd(d), d);
    case Family::kReadoutMeanBwd:
      return finish(kernels::readout_mean_bwd(d), d);
    case Family::kSoftmaxXent:
      return finish(kernels::softmax_xent(d), d);
    case Family::kMseLoss:
      return finish(kernels::mse_loss(d), d);
    case Family::kSumSquares:
      return finish(kernels::sum_squares(d), d);
    case Family::kAdamUpdate:
      return finish(kernels::adam_update(d), d);
    case Family::kSgdUpdate:
      return finish(kernels::sgd_update(d), d);
  }
  throw std::logic_error("build_kernel: unknown family");
}

kernels::KernelDesc with_default_schedule(kernels::KernelDesc d, const Halide::Target &target) {
  d.sched = schedules::default_cpu_params(d, target);
  return d;
}

}  // namespace rnnc::codegen
