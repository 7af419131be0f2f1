// The tuner's kernel harness: candidates across a family's tuning space
// (other tiles, hence other packed layouts) reproduce the reference, and a
// result outside the tolerance is refused before it can be timed.
#include <gtest/gtest.h>

#include "cpu/cpu_schedules.h"
#include "tune/harness.h"

namespace rnnc::tune {
namespace {

using kernels::Family;

Halide::Target jit_target() { return Halide::get_jit_target_from_environment(); }

kernels::KernelDesc desc(Family f) {
  kernels::KernelDesc d;
  d.family = f;
  d.k = 40;
  d.n = 96;
  d.h = 24;
  d.g = f == Family::kLstmStepFwd || f == Family::kLstmStepBwd ? 4 : f == Family::kGruStepBwd ? 3 : 1;
  return d;
}

TEST(KernelHarness, CandidatesAcrossTheSpaceMatchTheReference) {
  for (Family f :
       {Family::kGemmFwd, Family::kGemmWgrad, Family::kLstmStepFwd, Family::kLstmStepBwd, Family::kGruStepBwd}) {
    const kernels::KernelDesc d = desc(f);
    const std::vector<schedules::ScheduleParams> space = schedules::cpu_tuning_space(d, jit_target());
    ASSERT_FALSE(space.empty());
    KernelHarness h(Workload{d, 13}, jit_target(), space.front());
    const bool forward = f == Family::kGemmFwd || f == Family::kLstmStepFwd;
    EXPECT_EQ(h.has_cpp_reference(), forward) << kernels::to_string(f) << ": forward kernels meet the C++ reference";
    // The default, and points spread over the space (other tiles, row tiles, threads).
    for (size_t i = 0; i < space.size(); i += std::max<size_t>(1, space.size() / 5)) {
      const Measurement m = h.measure(space[i], 0.002);
      EXPECT_TRUE(m.ok) << kernels::to_string(f) << " " << space[i].key() << ": " << m.error;
      EXPECT_LE(m.max_error, 1e-5) << kernels::to_string(f) << " " << space[i].key();
      EXPECT_GT(m.us, 0);
    }
  }
}

// Cell variants bring a scalar input (clip) and a second packed weight of
// another layout (the projection's W_hr): candidates with other tiles still
// match the C++ reference (forward) or the default schedule's results.
TEST(KernelHarness, VariantStepsWithAScalarAndTwoPackedWeights) {
  for (Family f : {Family::kLstmStepFwd, Family::kLstmStepBwd}) {
    kernels::KernelDesc d = desc(f);
    d.clip = true;
    d.peephole = true;
    d.proj = 10;
    d.train = f == Family::kLstmStepFwd;
    const std::vector<schedules::ScheduleParams> space = schedules::cpu_tuning_space(d, jit_target());
    ASSERT_FALSE(space.empty());
    KernelHarness h(Workload{d, 9}, jit_target(), space.front());
    EXPECT_EQ(h.has_cpp_reference(), f == Family::kLstmStepFwd) << "forward variants meet the C++ reference";
    for (size_t i = 0; i < space.size(); i += std::max<size_t>(1, space.size() / 3)) {
      const Measurement m = h.measure(space[i], 0.002);
      EXPECT_TRUE(m.ok) << kernels::to_string(f) << " " << space[i].key() << ": " << m.error;
      EXPECT_LE(m.max_error, 1e-5) << kernels::to_string(f) << " " << space[i].key();
    }
  }
}

TEST(KernelHarness, AResultOutsideTheToleranceIsRefused) {
  const kernels::KernelDesc d = desc(Family::kLstmStepFwd);
  const schedules::ScheduleParams def = schedules::default_cpu_params(d, jit_target());
  KernelHarness h(Workload{d, 5}, jit_target(), def);
  const Measurement m = h.measure(def, 0.002, /*tolerance=*/-1.0);
  EXPECT_FALSE(m.ok);
  EXPECT_NE(m.error.find("wrong result"), std::string::npos) << m.error;
  EXPECT_EQ(m.us, 0) << "a refused candidate is not timed";
}

}  // namespace
}  // namespace rnnc::tune
