// `rnnc compile`: a model file to OUT/lib<name>.so, OUT/lib<name>.a,
// OUT/<name>.h and the program OUT/<name>.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_objects.h"

namespace rnnc::codegen {

struct CompileOptions {
  std::string model_path;
  std::string out_dir;
  std::string target = "host";
  std::string cache_dir;  // empty: no kernel cache
  int jobs = 1;           // kernel compiler processes
  bool keep_temps = false;
  // Tuning records (`rnnc tune`) to take schedules from; empty: the
  // defaults. batch/steps choose among records by row count (0: the
  // workload the records were tuned for).
  std::string schedules_path;
  int64_t batch = 0, steps = 0;
};

struct CompileReport {
  std::string model;
  std::string target;  // the Halide target string
  std::vector<KernelObject> kernels;
  KernelObject runtime;
  double link_seconds = 0;
  double total_seconds = 0;
  std::vector<std::string> outputs;  // paths written
  // What --schedules did: records ignored (and why), and per tuned kernel
  // which record it uses.
  std::vector<std::string> schedule_warnings;
  std::vector<std::string> schedule_notes;
};

// Compiles one model. Throws CompileError for a bad model file and
// std::runtime_error for anything else (missing tools, failed links);
// OUT then holds no new or partial files.
CompileReport compile_model(const CompileOptions &options);

// Where this rnnc finds its runtime: <prefix>/lib/rnnc/librnnc_runtime.a
// and <prefix>/include, prefix being the parent of rnnc's directory.
struct InstallPaths {
  std::string runtime_library;
  std::string include_dir;
};
InstallPaths install_paths();

}  // namespace rnnc::codegen
