// `rnnc tune`: searches the schedule parameters of every tunable kernel of a
// model by measurement on this machine and writes tuning records for
// `rnnc compile --schedules`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "records.h"

namespace rnnc::tune {

struct TuneOptions {
  std::string model_path;
  std::string out_path;  // the records file
  std::string target = "host";
  int64_t batch = 0;           // sequences per call; 0: the model's [train] batch_size
  int64_t steps = 0;           // steps per sequence; 0: 32
  int threads = 0;             // 0: one per core
  int trials = 24;             // candidates per kernel, the default included
  double time_budget_s = 300;  // for the whole search, the model bench included
  bool bench = true;           // compile the model with and without the records and time both
  std::string cache_dir;       // kernel cache for those compiles
  int jobs = 1;
  uint32_t seed = 1;  // candidate order and generated data
};

// A kernel's record (what the records file keeps) and what the report adds.
struct KernelResult : schedules::TuningRecord {
  std::string first_rejection;  // why the first refused candidate was refused
  bool cpp_reference = false;   // checked against the C++ reference (else the default schedule's results)
};

struct TuneReport {
  std::string model;
  std::string target;
  int threads = 1;
  int64_t batch = 0, steps = 0;
  std::vector<KernelResult> kernels;
  std::vector<std::string> untuned;  // kernels without a tuning space
  double search_seconds = 0;
  // The whole model's `bench` (a training step when the model has a loss).
  bool benched = false;
  bool training = false;
  double bench_default_ms = 0, bench_tuned_ms = 0;
};

// Runs the search, writes the records to options.out_path and returns
// what it measured. `progress` receives one line of status at a time (for
// a terminal to redraw). Throws CompileError for a bad model file and
// std::runtime_error for anything else.
TuneReport tune_model(const TuneOptions &options, const std::function<void(const std::string &)> &progress);

}  // namespace rnnc::tune
