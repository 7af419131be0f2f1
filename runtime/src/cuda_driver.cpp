#include "cuda_driver.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "error.h"

namespace rnnc_rt {

namespace {

// The driver API's types and the codes the messages name (cuda.h).
using CUresult = int;
using CUdevice = int;
constexpr CUresult kSuccess = 0;
constexpr CUresult kErrorNoDevice = 100;
constexpr CUresult kErrorInsufficientDriver = 35;
constexpr CUresult kErrorStubLibrary = 34;
constexpr int kAttrMajor = 75, kAttrMinor = 76;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_{MAJOR,MINOR}

// What a driver error means, for codes a machine without a usable GPU
// returns; the stub library cannot name its own errors.
std::string explain(CUresult r, void *lib) {
  using ErrorName = CUresult (*)(CUresult, const char **);
  const char *name = nullptr;
  if (auto f = reinterpret_cast<ErrorName>(dlsym(lib, "cuGetErrorName")); f && f(r, &name) != kSuccess) name = nullptr;
  std::string s = "error " + std::to_string(r);
  if (name) s += " " + std::string(name);
  switch (r) {
    case kErrorNoDevice:
      return s + ": no CUDA-capable GPU is visible (check CUDA_VISIBLE_DEVICES)";
    case kErrorInsufficientDriver:
      return s + ": the NVIDIA driver is older than the CUDA runtime needs";
    default:
      return s;
  }
}

template <class F>
F symbol(void *lib, const char *name, const std::string &path) {
  void *p = dlsym(lib, name);
  if (!p) throw RtError("CUDA: the driver library " + path + " has no " + name + "; is it an NVIDIA driver?");
  return reinterpret_cast<F>(p);
}

}  // namespace

CudaDevice probe_cuda_device(int ordinal, const std::string &library) {
  CudaDevice dev;
  dev.ordinal = ordinal;
  void *lib = nullptr;
  std::string tried;
  const std::vector<std::string> candidates =
      library.empty() ? std::vector<std::string>{"libcuda.so.1", "libcuda.so"} : std::vector<std::string>{library};
  for (const std::string &path : candidates) {
    lib = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (lib) {
      dev.driver_path = path;
      break;
    }
    tried += (tried.empty() ? "" : ", ") + path;
  }
  if (!lib)
    throw RtError("CUDA: no NVIDIA driver on this machine (could not load " + tried +
                  "); this library was compiled for a CUDA GPU");
  using Init = CUresult (*)(unsigned);
  using Count = CUresult (*)(int *);
  using Get = CUresult (*)(CUdevice *, int);
  using Name = CUresult (*)(char *, int, CUdevice);
  using Mem = CUresult (*)(size_t *, CUdevice);
  using Attr = CUresult (*)(int *, int, CUdevice);
  const CUresult init = symbol<Init>(lib, "cuInit", dev.driver_path)(0);
  if (init == kErrorStubLibrary)
    throw RtError("CUDA: " + dev.driver_path +
                  " is the CUDA toolkit's stub library, not an NVIDIA driver: this machine has no usable GPU driver");
  if (init != kSuccess) throw RtError("CUDA: cuInit failed (" + explain(init, lib) + ")");
  int count = 0;
  if (const CUresult r = symbol<Count>(lib, "cuDeviceGetCount", dev.driver_path)(&count); r != kSuccess)
    throw RtError("CUDA: cannot count the GPUs (" + explain(r, lib) + ")");
  if (count == 0) throw RtError("CUDA: the NVIDIA driver sees no GPU");
  if (ordinal < 0 || ordinal >= count)
    throw RtError("CUDA: there is no GPU " + std::to_string(ordinal) + " (this machine has " + std::to_string(count) +
                  ", numbered from 0)");
  CUdevice device = 0;
  if (const CUresult r = symbol<Get>(lib, "cuDeviceGet", dev.driver_path)(&device, ordinal); r != kSuccess)
    throw RtError("CUDA: cannot open GPU " + std::to_string(ordinal) + " (" + explain(r, lib) + ")");
  char name[256] = {};
  if (symbol<Name>(lib, "cuDeviceGetName", dev.driver_path)(name, sizeof name - 1, device) == kSuccess) dev.name = name;
  size_t bytes = 0;
  if (symbol<Mem>(lib, "cuDeviceTotalMem_v2", dev.driver_path)(&bytes, device) == kSuccess) dev.total_memory = bytes;
  const Attr attr = symbol<Attr>(lib, "cuDeviceGetAttribute", dev.driver_path);
  attr(&dev.major, kAttrMajor, device);
  attr(&dev.minor, kAttrMinor, device);
  // The library stays loaded: Halide's runtime uses it from here on.
  return dev;
}

namespace {
int g_selected_device = 0;
}

void select_cuda_device(int ordinal) {
  if (ordinal < 0) throw RtError("CUDA: a GPU number is 0 or more, not " + std::to_string(ordinal));
  g_selected_device = ordinal;
  // Halide's CUDA runtime creates its context on this device.
  setenv("HL_GPU_DEVICE", std::to_string(ordinal).c_str(), 1);
}

int selected_cuda_device() { return g_selected_device; }

std::string cuda_driver_override() {
  const char *v = std::getenv("RNNC_CUDA_DRIVER");
  return v ? v : "";
}

std::string describe(const CudaDevice &d) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s, %.1f GiB, compute capability %d.%d (device %d)", d.name.c_str(),
                static_cast<double>(d.total_memory) / (1024.0 * 1024.0 * 1024.0), d.major, d.minor, d.ordinal);
  return buf;
}

}  // namespace rnnc_rt
