// The kernel harness: compiles one kernel with given schedule parameters
// (Halide's JIT, the same algorithm and schedule the AOT path compiles),
// runs it on generated data shaped like one call of the model's workload,
// compares every output with a reference run and times it. `rnnc tune`
// measures its candidates with it; the kernel tests use the same pieces.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Halide.h"
#include "kernels/kernel_desc.h"

namespace rnnc::tune {

// One kernel at one call's size: `rows` rows (sequences of a step, or the
// packed rows of a whole batch).
struct Workload {
  kernels::KernelDesc desc;  // family, sizes and flags; sched is ignored
  int64_t rows = 1;
};

struct Measurement {
  bool ok = false;
  std::string error;     // why not ok: compile failure or a wrong result
  double max_error = 0;  // max |out - ref| / max(1, max |ref|) over every output
  double us = 0;         // median time per call
  double compile_s = 0;  // JIT compile time
};

class KernelHarness {
 public:
  // Generates the workload's inputs from `seed` (the same for every
  // candidate) and computes the reference outputs: with the plain C++
  // reference (tune/reference.h) for the products and the forward steps,
  // else with the reference parameters (the defaults, which the kernel
  // tests check against finite differences).
  KernelHarness(Workload w, Halide::Target target, const schedules::ScheduleParams &reference, uint32_t seed = 1);
  ~KernelHarness();

  // Compiles and runs `params`: its outputs must equal the reference
  // within `tolerance` before it is timed for about `seconds`.
  Measurement measure(const schedules::ScheduleParams &params, double seconds = 0.15, double tolerance = 1e-4);

  const Workload &workload() const { return w_; }
  // True when candidates are compared with the C++ reference.
  bool has_cpp_reference() const { return has_cpp_reference_; }

 private:
  struct Run;
  std::unique_ptr<Run> make_run(const schedules::ScheduleParams &p, double *compile_s);

  Workload w_;
  Halide::Target target_;
  std::mt19937 rng_;
  // The logical (unpacked) inputs, packed per candidate's tile.
  std::vector<std::vector<float>> logical_;
  std::vector<std::vector<int32_t>> indices_;
  std::map<std::pair<size_t, int>, Halide::Buffer<float>> packed_;  // (logical input, tile) -> packed weights
  std::vector<std::vector<float>> reference_outputs_;
  bool has_cpp_reference_ = false;
};

}  // namespace rnnc::tune
