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

// The driver probe_cuda_device loaded.
void *&driver_library() {
  static void *lib = nullptr;
  return lib;
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
  driver_library() = lib;
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

// --- Halide's CUDA runtime, referred to weakly (absent in CPU builds) ---------

using AcquireContext = int (*)(void *, void **, bool);
using ReleaseContext = int (*)(void *);
using GetStream = int (*)(void *, void *, void **);

extern "C" {
__attribute__((weak)) const halide_device_interface_t *halide_cuda_device_interface();
__attribute__((weak)) AcquireContext halide_set_cuda_acquire_context(AcquireContext handler);
__attribute__((weak)) ReleaseContext halide_set_cuda_release_context(ReleaseContext handler);
__attribute__((weak)) GetStream halide_set_cuda_get_stream(GetStream handler);
}

namespace {

void *g_primary = nullptr;  // the CUcontext Halide's runtime is given
int g_primary_device = -1;
void *g_stream = nullptr;

// Halide pushes the context it acquires for each operation and pops it
// after; the primary context is retained once and never released here.
int acquire_primary(void *, void **ctx, bool) {
  if (!g_primary) return kErrorNoDevice;
  *ctx = g_primary;
  return 0;
}
int release_primary(void *) { return 0; }
int current_stream(void *, void *, void **stream) {
  *stream = g_stream;
  return 0;
}

}  // namespace

const halide_device_interface_t *cuda_device_interface() {
  return halide_cuda_device_interface ? halide_cuda_device_interface() : nullptr;
}

void use_primary_context() {
  const int ordinal = selected_cuda_device();
  if (g_primary && g_primary_device == ordinal) return;
  void *lib = driver_library();
  if (!lib) throw RtError("CUDA: the driver is not loaded (internal: probe the device first)");
  if (!halide_set_cuda_acquire_context || !halide_set_cuda_release_context || !halide_set_cuda_get_stream)
    throw RtError("CUDA: this library has no CUDA runtime (it was compiled for the CPU)");
  using Get = CUresult (*)(CUdevice *, int);
  using Retain = CUresult (*)(void **, CUdevice);
  CUdevice device = 0;
  if (const CUresult r = symbol<Get>(lib, "cuDeviceGet", "the driver")(&device, ordinal); r != kSuccess)
    throw RtError("CUDA: cannot open GPU " + std::to_string(ordinal) + " (" + explain(r, lib) + ")");
  void *ctx = nullptr;
  if (const CUresult r = symbol<Retain>(lib, "cuDevicePrimaryCtxRetain", "the driver")(&ctx, device); r != kSuccess)
    throw RtError("CUDA: cannot retain the primary context of GPU " + std::to_string(ordinal) + " (" + explain(r, lib) +
                  ")");
  g_primary = ctx;
  g_primary_device = ordinal;
  halide_set_cuda_acquire_context(acquire_primary);
  halide_set_cuda_release_context(release_primary);
  halide_set_cuda_get_stream(current_stream);
}

void set_cuda_stream(void *stream) { g_stream = stream; }
void *cuda_stream() { return g_stream; }

std::string describe(const CudaDevice &d) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s, %.1f GiB, compute capability %d.%d (device %d)", d.name.c_str(),
                static_cast<double>(d.total_memory) / (1024.0 * 1024.0 * 1024.0), d.major, d.minor, d.ordinal);
  return buf;
}

}  // namespace rnnc_rt
