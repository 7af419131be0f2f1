// Runs a generated kernel through Halide's JIT, with the same algorithm and
// schedule the AOT path compiles, so kernels can be checked against the C++
// references without a link step.
//
// One list of cases serves every target: the suites run on the target
// $RNNC_KERNEL_TARGET names (a Halide target string such as
// host-cuda-cuda_capability_86; default the host), and CTest registers each
// kernel suite once per target (tests/CMakeLists.txt: the GPU ones labelled
// gpu). On a GPU target every test skips, with the driver probe's reason,
// where the machine has no usable GPU (kernel_main.cpp); a case that does
// not apply to a GPU target says so with RNNC_SKIP_ON_GPU (the target's
// exclusions).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "Halide.h"
#include "codegen/kernel_builder.h"

namespace rnnc::test {

// The target under test (the name is historical: it is the host unless
// RNNC_KERNEL_TARGET says otherwise).
inline Halide::Target host_target() {
  static const Halide::Target t = [] {
    const char *e = std::getenv("RNNC_KERNEL_TARGET");
    return e && *e ? Halide::Target(e) : Halide::get_jit_target_from_environment();
  }();
  return t;
}

inline bool gpu_target() { return host_target().has_gpu_feature(); }

// A case that exercises the CPU schedules only (their parameters or thread split).
#define RNNC_SKIP_ON_GPU(why) \
  if (::rnnc::test::gpu_target()) GTEST_SKIP() << "not on GPU targets: " << (why)

class JitKernel {
 public:
  explicit JitKernel(kernels::KernelDesc d)
      : desc_(codegen::with_default_schedule(d, host_target())), built_(codegen::build_kernel(desc_, host_target())) {
    built_.pipeline.compile_jit(host_target());
  }
  JitKernel(kernels::KernelDesc d, bool keep_schedule) : desc_(d), built_(codegen::build_kernel(desc_, host_target())) {
    built_.pipeline.compile_jit(host_target());
  }

  const kernels::KernelDesc &desc() const { return desc_; }

  // One input: a buffer, or a float / int32 scalar, matching the kernel's signature.
  using Input = std::variant<Halide::Buffer<>, float, int32_t>;

  void run(const std::vector<Input> &inputs, const std::vector<Halide::Buffer<>> &outputs) {
    Halide::ParamMap pm;
    if (inputs.size() != built_.inputs.size()) throw std::logic_error("JitKernel::run: wrong number of inputs");
    // On a GPU target the inputs go to the device and the outputs come back
    // (no-ops on the host). Halide::Buffer is a shared handle: the caller's
    // buffers are the ones marked and copied.
    for (const Input &in : inputs)
      if (const auto *b = std::get_if<Halide::Buffer<>>(&in)) Halide::Buffer<>(*b).set_host_dirty();
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto &param = built_.inputs[i];
      if (auto *ip = std::get_if<Halide::ImageParam>(&param)) {
        pm.set(*ip, std::get<Halide::Buffer<>>(inputs[i]));
      } else if (auto *fp = std::get_if<Halide::Param<float>>(&param)) {
        pm.set(*fp, std::get<float>(inputs[i]));
      } else {
        pm.set(std::get<Halide::Param<int32_t>>(param), std::get<int32_t>(inputs[i]));
      }
    }
    std::vector<Halide::Buffer<>> outs = outputs;
    built_.pipeline.realize(Halide::Realization(outs), host_target(), pm);
    for (Halide::Buffer<> &o : outs) o.copy_to_host();
  }

 private:
  kernels::KernelDesc desc_;
  codegen::BuiltKernel built_;
};

// A float matrix [rows, width] (Halide (width, rows)) viewed inside a larger
// allocation: `pad_cols` extra columns per row and `skip_rows` leading rows,
// like the runtime's views into packed buffers. min is 0 in both dimensions.
struct MatrixView {
  std::vector<float> storage;
  Halide::Buffer<float> buf;
  int64_t width, rows, stride;

  MatrixView(int64_t w, int64_t r, int64_t pad_cols = 0, int64_t skip_rows = 0)
      : storage((r + skip_rows) * (w + pad_cols) + 1, -777.0f), width(w), rows(r), stride(w + pad_cols) {
    halide_dimension_t dims[2] = {{0, static_cast<int32_t>(w), 1, 0},
                                  {0, static_cast<int32_t>(r), static_cast<int32_t>(stride), 0}};
    buf = Halide::Buffer<float>(storage.data() + skip_rows * stride, 2, dims);
  }
  float &at(int64_t r, int64_t c) { return buf(static_cast<int>(c), static_cast<int>(r)); }
  void fill(const std::vector<double> &v) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < width; ++c) at(r, c) = static_cast<float>(v[r * width + c]);
  }
  std::vector<double> values() {
    std::vector<double> v(rows * width);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < width; ++c) v[r * width + c] = at(r, c);
    return v;
  }
};

inline std::vector<double> random_values(size_t n, std::mt19937 &rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  // Round through float so that the reference sees exactly the kernel's inputs.
  for (auto &x : v) x = static_cast<float>(u(rng));
  return v;
}

inline Halide::Buffer<float> vector_buffer(const std::vector<double> &v) {
  Halide::Buffer<float> b(static_cast<int>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) b(static_cast<int>(i)) = static_cast<float>(v[i]);
  return b;
}

inline Halide::Buffer<int32_t> index_buffer(const std::vector<int32_t> &v) {
  Halide::Buffer<int32_t> b(static_cast<int>(v.size()));
  for (size_t i = 0; i < v.size(); ++i) b(static_cast<int>(i)) = v[i];
  return b;
}

inline double max_abs_diff(const std::vector<double> &a, const std::vector<double> &b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return a.size() == b.size() ? m : 1e30;
}

}  // namespace rnnc::test
