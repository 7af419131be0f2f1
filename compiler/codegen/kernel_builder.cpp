#include "codegen/kernel_builder.h"

#include "cpu/cpu_families.h"
#include "cpu/cpu_schedules.h"
#include "cuda/cuda_families.h"

namespace rnnc::codegen {

std::vector<Halide::Argument> BuiltKernel::arguments() const {
  std::vector<Halide::Argument> args;
  for (const auto &in : inputs) std::visit([&](const auto &p) { args.push_back(p); }, in);
  return args;
}

namespace {

using kernels::ArgType;

const char *type_name(ArgType t) {
  switch (t) {
    case ArgType::kBufferF32:
      return "float32 buffer";
    case ArgType::kBufferI32:
      return "int32 buffer";
    case ArgType::kScalarF32:
      return "float32 scalar";
    case ArgType::kScalarI32:
      return "int32 scalar";
  }
  return "?";
}

std::string describe(const std::string &name, ArgType t, int dims) {
  std::string s = name + ": " + type_name(t);
  if (t == ArgType::kBufferF32 || t == ArgType::kBufferI32) s += " " + std::to_string(dims) + "-D";
  return s;
}

struct PipelineArg {
  std::string name;
  ArgType type;
  int dims;
  bool output;
};

ArgType buffer_type(const Halide::Type &t) { return t.is_float() ? ArgType::kBufferF32 : ArgType::kBufferI32; }

}  // namespace

std::string no_cuda_schedule_message(const std::vector<kernels::Family> &missing) {
  std::string m = "no CUDA schedule for the kernel famil";
  m += missing.size() == 1 ? "y " : "ies ";
  for (size_t i = 0; i < missing.size(); ++i) m += (i ? ", " : "") + std::string(kernels::to_string(missing[i]));
  m += " (the CUDA target is being built family by family; those with a schedule: ";
  const std::vector<kernels::Family> have = schedules::cuda_families();
  for (size_t i = 0; i < have.size(); ++i) m += (i ? ", " : "") + std::string(kernels::to_string(have[i]));
  return m + ")";
}

void check_signature(const kernels::KernelDesc &d, const std::vector<kernels::KernelInput> &inputs,
                     const std::vector<Halide::Func> &outputs) {
  std::vector<PipelineArg> built;
  for (const kernels::KernelInput &in : inputs) {
    if (auto *ip = std::get_if<Halide::ImageParam>(&in)) {
      built.push_back({ip->name(), buffer_type(ip->type()), ip->dimensions(), false});
    } else if (auto *fp = std::get_if<Halide::Param<float>>(&in)) {
      built.push_back({fp->name(), ArgType::kScalarF32, 0, false});
    } else {
      built.push_back({std::get<Halide::Param<int32_t>>(in).name(), ArgType::kScalarI32, 0, false});
    }
  }
  for (const Halide::Func &f : outputs)
    for (const Halide::Type &t : f.output_types()) built.push_back({f.name(), buffer_type(t), f.dimensions(), true});
  const std::vector<kernels::ArgSig> sig = kernels::signature(d);
  bool same = sig.size() == built.size();
  for (size_t i = 0; same && i < sig.size(); ++i)
    same = sig[i].type == built[i].type && sig[i].output == built[i].output &&
           (sig[i].dims == built[i].dims || sig[i].type == ArgType::kScalarF32 || sig[i].type == ArgType::kScalarI32);
  if (same) return;
  std::string msg = "kernel " + d.name() + ": the pipeline's arguments do not match the " +
                    kernels::to_string(d.family) + " family's signature\n  pipeline:";
  for (const PipelineArg &a : built)
    msg += "\n    " + std::string(a.output ? "out " : "in  ") + describe(a.name, a.type, a.dims);
  msg += "\n  signature:";
  for (const kernels::ArgSig &a : sig)
    msg += "\n    " + std::string(a.output ? "out " : "in  ") + describe(a.name, a.type, a.dims);
  throw std::logic_error(msg);
}

BuiltKernel build_kernel(const kernels::KernelDesc &d, const Halide::Target &target) {
  schedules::ScheduledKernel k;
  if (target.has_feature(Halide::Target::CUDA)) {
    const schedules::CudaFamilyEntry *e = schedules::cuda_family(d.family);
    if (!e) throw std::runtime_error(no_cuda_schedule_message({d.family}));
    k = e->build(d);
  } else {
    k = schedules::cpu_family(d.family).build(d);
  }
  check_signature(d, k.inputs, k.outputs);
  return BuiltKernel{k.pipeline, k.inputs};
}

kernels::KernelDesc with_default_schedule(kernels::KernelDesc d, const Halide::Target &target) {
  d.sched = schedules::default_cpu_params(d, target);
  return d;
}

}  // namespace rnnc::codegen
