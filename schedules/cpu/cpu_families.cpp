#include "cpu/cpu_families.h"

#include <stdexcept>
#include <string>

#include "cpu/cpu_schedules.h"

namespace rnnc::schedules {

namespace {

using kernels::Family;

// The algorithm `Algorithm` for `d` with its CPU schedule.
template <auto Algorithm>
ScheduledKernel cpu(const kernels::KernelDesc &d) {
  auto a = Algorithm(d);
  schedule_cpu(a, d);
  std::vector<Halide::Func> outputs = {a.out};
  outputs.insert(outputs.end(), a.more_outputs.begin(), a.more_outputs.end());
  return ScheduledKernel{Halide::Pipeline(outputs), a.inputs, outputs};
}

const std::vector<CpuFamilyEntry> kTable = {
    {Family::kPackWeights, cpu<kernels::pack_weights>, unit_defaults, false},
    {Family::kGemmFwd, cpu<kernels::gemm_fwd>, gemm_fwd_defaults, true},
    {Family::kRnnStepFwd, cpu<kernels::rnn_step_fwd>, step_defaults, true},
    {Family::kLstmStepFwd, cpu<kernels::lstm_step_fwd>, step_defaults, true},
    {Family::kGruStepFwd, cpu<kernels::gru_step_fwd>, step_defaults, true},
    {Family::kReadoutLast, cpu<kernels::readout_last>, unit_defaults, false},
    {Family::kReadoutMean, cpu<kernels::readout_mean>, unit_defaults, false},
    {Family::kDropout, cpu<kernels::dropout>, column_defaults, false},
    {Family::kGemmWgrad, cpu<kernels::gemm_wgrad>, gemm_wgrad_defaults, true},
    {Family::kColSum, cpu<kernels::colsum>, column_defaults, false},
    {Family::kScatterRows, cpu<kernels::scatter_rows>, column_defaults, false},
    {Family::kRnnStepBwd, cpu<kernels::rnn_step_bwd>, step_defaults, true},
    {Family::kLstmStepBwd, cpu<kernels::lstm_step_bwd>, step_defaults, true},
    {Family::kGruStepBwd, cpu<kernels::gru_step_bwd>, step_defaults, true},
    {Family::kReadoutLastBwd, cpu<kernels::readout_last_bwd>, unit_defaults, false},
    {Family::kReadoutMeanBwd, cpu<kernels::readout_mean_bwd>, unit_defaults, false},
    {Family::kSoftmaxXent, cpu<kernels::softmax_xent>, column_defaults, false},
    {Family::kMseLoss, cpu<kernels::mse_loss>, column_defaults, false},
    {Family::kSumSquares, cpu<kernels::sum_squares>, flat_defaults, false},
    {Family::kAdamUpdate, cpu<kernels::adam_update>, flat_defaults, false},
    {Family::kSgdUpdate, cpu<kernels::sgd_update>, flat_defaults, false},
};

}  // namespace

const CpuFamilyEntry &cpu_family(Family f) {
  for (const CpuFamilyEntry &e : kTable)
    if (e.family == f) return e;
  throw std::logic_error(std::string("kernel family ") + kernels::to_string(f) + " has no CPU schedule entry");
}

}  // namespace rnnc::schedules
