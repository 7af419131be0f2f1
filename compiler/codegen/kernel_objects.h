// Generated kernels as object files: compiled by Halide (in parallel worker
// processes) or taken from the kernel cache.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_cache.h"
#include "codegen/target.h"
#include "kernels/kernel_desc.h"

namespace rnnc::codegen {

struct KernelObject {
  std::string name;    // KernelDesc::name(), or "halide_runtime"
  std::string symbol;  // the generated function ("<symbol>_argv" is its table entry)
  std::string path;    // the object file
  double seconds = 0;  // time spent generating it (0 when cached)
  bool cached = false;
};

// The C symbol of a kernel: "rnnc_" + its name. Kernels are local to each
// model's library, so equal kernels of different models may share objects.
std::string kernel_symbol(const kernels::KernelDesc &d);

// One object per descriptor, in order. Objects not in `cache` are compiled
// into `work_dir` by up to `jobs` worker processes, then cached.
std::vector<KernelObject> build_kernel_objects(const std::vector<kernels::KernelDesc> &descs, const TargetInfo &target,
                                               const KernelCache &cache, const std::string &work_dir, int jobs);

// The Halide runtime the kernels of one model share.
KernelObject build_runtime_object(const TargetInfo &target, const KernelCache &cache, const std::string &work_dir);

}  // namespace rnnc::codegen
