#include "codegen/target.h"

#include <stdexcept>

namespace rnnc::codegen {

TargetInfo parse_target(const std::string &name) {
  Halide::Target base;
  // Halide reads "host-<features>" as this machine's CPU plus the features
  // (host-cuda, host-cuda-cuda_capability_86).
  if (name == "host") {
    base = Halide::get_host_target();
  } else if (Halide::Target::validate_target_string(name)) {
    base = Halide::Target(name);
  } else {
    throw std::runtime_error("unknown target '" + name +
                             "'; use 'host', 'host-cuda[-cuda_capability_NN]' or a Halide target string such as "
                             "'x86-64-linux-avx2-fma'");
  }
  if (base.has_gpu_feature() && !base.has_feature(Halide::Target::CUDA))
    throw std::runtime_error("target '" + name + "': the only GPU target is CUDA (host-cuda)");
  if (base.has_feature(Halide::Target::CUDA) && base.get_cuda_capability_lower_bound() < 50)
    base = base.with_feature(Halide::Target::CUDACapability50);  // PTX for sm_50 and newer at least
  if (base.os != Halide::Target::Linux || base.arch != Halide::Target::X86 || base.bits != 64)
    throw std::runtime_error("target '" + name + "': rnnc links for 64-bit x86 Linux only");
  TargetInfo t;
  t.name = name;
  t.runtime = base.with_feature(Halide::Target::UserContext);
  t.kernels = t.runtime.with_feature(Halide::Target::NoRuntime);
  return t;
}

}  // namespace rnnc::codegen
