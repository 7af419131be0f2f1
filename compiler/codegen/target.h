// Compilation targets: the name a user gives (--target) and the Halide
// targets it means for the kernels and for their shared runtime.
#pragma once

#include <string>

#include "Halide.h"

namespace rnnc::codegen {

struct TargetInfo {
  std::string name;        // as given, e.g. "host"
  Halide::Target kernels;  // what kernels compile for (user_context, no_runtime)
  Halide::Target runtime;  // what the shared Halide runtime compiles for
};

// "host" (this machine's CPU features), "host-cuda[-cuda_capability_NN]"
// (the kernels for an NVIDIA GPU, NN up to 86, Halide 14's highest), or an
// explicit Halide target string such as "x86-64-linux-avx2-fma". Throws
// std::runtime_error naming the valid forms for anything else.
TargetInfo parse_target(const std::string &name);

}  // namespace rnnc::codegen
