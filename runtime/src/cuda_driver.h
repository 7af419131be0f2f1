// Finding the NVIDIA driver and the GPU before any CUDA kernel runs, so that
// a machine without one gets one clear line instead of Halide's stream of
// CUDA errors. The driver is loaded with RTLD_GLOBAL, so Halide's CUDA
// runtime (which looks only for the unversioned libcuda.so, through
// dlsym(RTLD_DEFAULT) first) finds the same library — also on driver-only
// machines, which have libcuda.so.1 alone. No CUDA header or library is
// needed to build this: the few driver entry points are looked up by name.
#pragma once

#include <cstdint>
#include <string>

struct halide_device_interface_t;

namespace rnnc_rt {

struct CudaDevice {
  int ordinal = 0;
  std::string name;
  uint64_t total_memory = 0;  // bytes
  int major = 0, minor = 0;   // compute capability
  std::string driver_path;    // the library that was loaded
};

// Loads the driver (`library` if not empty, else libcuda.so.1, then
// libcuda.so), initialises it and describes device `ordinal`. Throws RtError
// with one line naming CUDA or the GPU when that fails: no driver library,
// the CUDA toolkit's stub library instead of a driver, cuInit failing, no
// GPU, or an ordinal beyond the GPUs there are.
CudaDevice probe_cuda_device(int ordinal, const std::string &library = "");

// The GPU a CUDA build runs on (process-wide, like Halide's runtime, which
// reads it from HL_GPU_DEVICE): the program's --device, <name>_set_device.
// Default 0.
void select_cuda_device(int ordinal);
int selected_cuda_device();

// $RNNC_CUDA_DRIVER, the driver library to load instead of the default
// search ("" when unset): for unusual installs, and for the tests, which
// point it at the CUDA toolkit's stub library.
std::string cuda_driver_override();

// Halide's CUDA device interface in a CUDA build (whose Halide runtime has
// one); NULL in a CPU build. The runtime refers to Halide's CUDA symbols
// weakly, so one prebuilt runtime serves both kinds of build.
const halide_device_interface_t *cuda_device_interface();

// Makes Halide's CUDA runtime work in the selected GPU's primary context
// (the one the CUDA runtime API and libraries such as cuDNN use), instead
// of a context of its own, and on the stream set_cuda_stream gave (NULL:
// the default stream). Needs probe_cuda_device first; idempotent.
void use_primary_context();

// The CUDA stream (a CUstream) rnnc's kernels and copies are queued on.
void set_cuda_stream(void *stream);
void *cuda_stream();

// "NVIDIA H200, 139.8 GiB, compute capability 9.0 (device 0)".
std::string describe(const CudaDevice &d);

}  // namespace rnnc_rt
