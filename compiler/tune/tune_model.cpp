#include "tune/tune_model.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "codegen/compile_model.h"
#include "codegen/process.h"
#include "codegen/target.h"
#include "cpu/cpu_schedules.h"
#include "frontend/parser.h"
#include "plan/plan.h"
#include "tune/harness.h"

namespace rnnc::tune {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A candidate must beat the default by this factor to replace it.
constexpr double kMinGain = 1.03;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The median ms of one `prog bench` run (its own 20 timed runs).
double bench_ms(const std::string &prog, const TuneReport &r) {
  std::vector<std::string> argv = {prog,        "bench",
                                   "--batch",   std::to_string(r.batch),
                                   "--steps",   std::to_string(r.steps),
                                   "--threads", std::to_string(r.threads),
                                   "--repeat",  "20"};
  if (r.training) argv.push_back("--train");
  const codegen::ProcessResult p = codegen::run_process(argv);
  const size_t at = p.output.rfind("bench: median_ms=");
  if (!p.started || p.status != 0 || at == std::string::npos)
    throw std::runtime_error("the model's bench failed:\n" + p.output);
  return std::stod(p.output.substr(at + 17));
}

// Compiles the model with (or without) the records and times its bench,
// the two programs in alternation.
void bench_model(const TuneOptions &o, TuneReport &r) {
  char tmpl[] = "/tmp/rnnc-tune-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary directory for the model bench");
  const std::string dir = tmpl;
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};
  codegen::CompileOptions c;
  c.model_path = o.model_path;
  c.target = o.target;
  c.cache_dir = o.cache_dir;
  c.jobs = o.jobs;
  c.out_dir = dir + "/default";
  const codegen::CompileReport a = codegen::compile_model(c);
  c.out_dir = dir + "/tuned";
  c.schedules_path = o.out_path;
  const codegen::CompileReport b = codegen::compile_model(c);
  if (!b.schedule_warnings.empty())
    throw std::runtime_error("the records just written do not load: " + b.schedule_warnings[0]);
  const std::string pa = dir + "/default/" + a.model;
  const std::string pb = dir + "/tuned/" + b.model;
  std::vector<double> da, db;
  for (int round = 0; round < 3; ++round) {  // alternating, so that drift affects both alike
    da.push_back(bench_ms(pa, r));
    db.push_back(bench_ms(pb, r));
  }
  r.bench_default_ms = median(da);
  r.bench_tuned_ms = median(db);
  r.benched = true;
}

}  // namespace

TuneReport tune_model(const TuneOptions &o, const std::function<void(const std::string &)> &progress) {
  const auto t0 = Clock::now();
  const ModelSpec spec = parse_model_file(o.model_path);
  {
    // Fail before the search, not after it, when the records cannot be written.
    const std::string probe = o.out_path + ".tmp." + std::to_string(getpid());
    if (!std::ofstream(probe)) throw std::runtime_error(o.out_path + ": cannot write the tuning records here");
    std::remove(probe.c_str());
  }
  const ir::Graph graph = ir::build_graph(spec);
  const codegen::TargetInfo target = codegen::parse_target(o.target);
  TuneReport r;
  r.model = graph.name;
  r.target = target.kernels.to_string();
  r.threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  r.batch = o.batch > 0 ? o.batch : spec.train.batch_size;
  r.steps = o.steps > 0 ? o.steps : 32;
  r.training = graph.loss != LossKind::kNone;
  // The thread pools (Halide's, and the runtime's the harness uses) read
  // this when they start, before the first run.
  setenv("HL_NUM_THREADS", std::to_string(r.threads).c_str(), 1);
  const Halide::Target jit =
      target.kernels.without_feature(Halide::Target::NoRuntime).without_feature(Halide::Target::UserContext);

  const schedules::DefaultCpuSchedules defaults(target.kernels);
  const plan::Plan plan = plan::lower(graph, defaults);
  std::vector<kernels::KernelDesc> todo;
  for (const kernels::KernelDesc &d : plan.kernels) {
    if (schedules::cpu_tuning_space(d, target.kernels).empty()) {
      if (std::find(r.untuned.begin(), r.untuned.end(), d.workload_key()) == r.untuned.end())
        r.untuned.push_back(d.workload_key());
      continue;
    }
    bool seen = false;
    for (const kernels::KernelDesc &t : todo) seen = seen || t.workload_key() == d.workload_key();
    if (!seen) todo.push_back(d);
  }

  schedules::TuningRecords recs;
  recs.target = r.target;
  recs.cpu = schedules::cpu_model();
  recs.threads = r.threads;
  recs.batch = r.batch;
  recs.steps = r.steps;
  // A fifth of the budget is kept for the model bench (two compiles).
  const double search_budget = o.bench ? 0.8 * o.time_budget_s : o.time_budget_s;
  std::mt19937 rng(o.seed);
  for (size_t ki = 0; ki < todo.size(); ++ki) {
    const kernels::KernelDesc &d = todo[ki];
    const double kernel_budget = std::max(0.0, (search_budget - since(t0)) / static_cast<double>(todo.size() - ki));
    const auto tk = Clock::now();
    KernelResult kr;
    kr.workload = d.workload_key();
    kr.rows = schedules::workload_rows(d, r.batch, r.steps);
    std::vector<schedules::ScheduleParams> space = schedules::cpu_tuning_space(d, target.kernels);
    const schedules::ScheduleParams def = space.front();
    std::shuffle(space.begin() + 1, space.end(), rng);
    progress("[" + std::to_string(ki + 1) + "/" + std::to_string(todo.size()) + "] " + kr.workload + ": reference");
    KernelHarness h(Workload{d, kr.rows}, jit, def, o.seed);
    kr.cpp_reference = h.has_cpp_reference();
    const Measurement m0 = h.measure(def);
    if (!m0.ok)
      throw std::runtime_error("kernel " + kr.workload + ": the default schedule fails its own check: " + m0.error);
    kr.default_us = kr.best_us = m0.us;
    kr.params = def;
    kr.trials = 1;
    for (size_t c = 1; c < space.size() && kr.trials < o.trials; ++c) {
      if (since(tk) > kernel_budget) break;
      const Measurement m = h.measure(space[c]);
      ++kr.trials;
      if (!m.ok) {
        if (kr.rejected++ == 0) kr.first_rejection = space[c].key() + ": " + m.error;
        continue;
      }
      if (m.us < kr.best_us) {
        kr.best_us = m.us;
        kr.params = space[c];
      }
      char line[256];
      std::snprintf(line, sizeof line, "[%zu/%zu] %s: %d/%d candidates, default %.1f us, best %.1f us", ki + 1,
                    todo.size(), kr.workload.c_str(), kr.trials,
                    std::min<int>(o.trials, static_cast<int>(space.size())), kr.default_us, kr.best_us);
      progress(line);
    }
    // Confirm the winner against the default, measured alternately: a
    // candidate replaces the default only when it is faster by more than
    // the measurement's noise (kMinGain).
    if (kr.params != def) {
      std::vector<double> td, tb;
      for (int round = 0; round < 3; ++round) {
        const Measurement a = h.measure(def), b = h.measure(kr.params);
        if (a.ok) td.push_back(a.us);
        if (b.ok) tb.push_back(b.us);
      }
      kr.default_us = td.empty() ? kr.default_us : median(td);
      if (tb.empty() || median(tb) * kMinGain > kr.default_us) {
        kr.params = def;
        kr.best_us = kr.default_us;
      } else {
        kr.best_us = median(tb);
      }
    }
    recs.records.push_back(kr);
    r.kernels.push_back(kr);
  }
  r.search_seconds = since(t0);
  schedules::write_records(o.out_path, recs);
  if (o.bench) {
    progress("timing the model's bench with the default and the tuned schedules");
    bench_model(o, r);
  }
  progress("");
  return r;
}

}  // namespace rnnc::tune
