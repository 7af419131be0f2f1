// Kernel builder: a KernelDesc → its Halide pipeline (algorithm + schedule).
#pragma once

#include <string>
#include <vector>

#include "Halide.h"
#include "kernels/algorithms.h"
#include "kernels/kernel_desc.h"

namespace rnnc::codegen {

struct BuiltKernel {
  Halide::Pipeline pipeline;
  std::vector<kernels::KernelInput> inputs;  // in signature order
  std::vector<Halide::Argument> arguments() const;
};

// Builds `d`'s algorithm and applies its schedule for `target`: the CPU
// table's, or for a CUDA target the CUDA table's (std::runtime_error when
// the family has none).
BuiltKernel build_kernel(const kernels::KernelDesc &d, const Halide::Target &target);

// Why a CUDA compile cannot go on: the families without a CUDA schedule,
// and those with one.
std::string no_cuda_schedule_message(const std::vector<kernels::Family> &missing);

// Throws std::logic_error, naming the kernel and listing both, when the
// pipeline's inputs and outputs differ from the signature of `d`'s family
// (count, order, element types, dimensions). build_kernel runs it on
// every pipeline it builds.
void check_signature(const kernels::KernelDesc &d, const std::vector<kernels::KernelInput> &inputs,
                     const std::vector<Halide::Func> &outputs);

// `d` with its schedule parameters set to the defaults for `target`.
kernels::KernelDesc with_default_schedule(kernels::KernelDesc d, const Halide::Target &target);

}  // namespace rnnc::codegen
