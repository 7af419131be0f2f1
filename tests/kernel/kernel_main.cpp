// The main of the kernel suites: GoogleTest's, except that on a GPU target
// (RNNC_KERNEL_TARGET, jit_runner.h) without a usable GPU nothing runs and
// one "[  SKIPPED ]" line gives the driver probe's reason, which CTest
// reports as a skip (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstdio>

#include "cuda_driver.h"
#include "error.h"
#include "jit_runner.h"

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (rnnc::test::gpu_target() && !::testing::GTEST_FLAG(list_tests)) {
    try {
      rnnc_rt::probe_cuda_device(0, rnnc_rt::cuda_driver_override());
    } catch (const rnnc_rt::RtError &e) {
      std::printf("[  SKIPPED ] target %s: %s\n", rnnc::test::host_target().to_string().c_str(), e.what());
      return 0;
    }
  }
  return RUN_ALL_TESTS();
}
