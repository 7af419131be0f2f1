// Finding the NVIDIA driver: a machine without one, or with only the CUDA
// toolkit's stub library, gets one line naming CUDA (no GPU is needed for
// these; with a GPU the default search describes it).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "cuda_driver.h"
#include "error.h"

namespace rnnc_rt {
namespace {

// The message of the RtError fn throws ("" when it throws none).
template <class F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const RtError &e) {
    return e.what();
  }
  return "";
}

void expect_one_cuda_line(const std::string &message) {
  EXPECT_EQ(message.rfind("CUDA: ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(CudaDriver, AMissingDriverLibraryIsOneLineNamingCuda) {
  const std::string m = error_of([] { probe_cuda_device(0, "/nonexistent/libcuda.so.1"); });
  expect_one_cuda_line(m);
  EXPECT_NE(m.find("no NVIDIA driver"), std::string::npos) << m;
  EXPECT_NE(m.find("/nonexistent/libcuda.so.1"), std::string::npos) << m;
}

TEST(CudaDriver, TheToolkitsStubLibraryIsRecognised) {
  const char *home = std::getenv("CUDA_HOME");
  const std::string stub = std::string(home && *home ? home : "/usr/local/cuda") + "/lib64/stubs/libcuda.so";
  if (!std::filesystem::exists(stub)) GTEST_SKIP() << "no CUDA toolkit stub driver at " << stub;
  const std::string m = error_of([&] { probe_cuda_device(0, stub); });
  expect_one_cuda_line(m);
  EXPECT_NE(m.find("stub library"), std::string::npos) << m;
}

TEST(CudaDriver, TheDefaultSearchFindsAGpuOrSaysWhy) {
  std::string m;
  CudaDevice dev;
  try {
    dev = probe_cuda_device(0);
  } catch (const RtError &e) {
    m = e.what();
  }
  if (!m.empty()) {
    expect_one_cuda_line(m);
    return;
  }
  EXPECT_FALSE(dev.name.empty());
  EXPECT_GT(dev.total_memory, 0u);
  EXPECT_GT(dev.major, 0);
  // A device number past the last one is refused, naming it.
  const std::string past = error_of([] { probe_cuda_device(4096); });
  expect_one_cuda_line(past);
  EXPECT_NE(past.find("no GPU 4096"), std::string::npos) << past;
}

}  // namespace
}  // namespace rnnc_rt
