#include "driver/commands.h"

#include <cstdio>
#include <ostream>

#include "codegen/target.h"
#include "cpu/cpu_schedules.h"
#include "frontend/parser.h"
#include "ir/graph.h"
#include "plan/plan.h"

namespace rnnc {

void check_model(const std::string &path, CheckFormat format, const std::string &target, std::ostream &out) {
  ModelSpec spec = parse_model_file(path);
  ir::Graph g = ir::build_graph(spec);
  switch (format) {
    case CheckFormat::kTable:
      out << ir::layer_table(g);
      break;
    case CheckFormat::kJson:
      out << ir::layer_table_json(g) << "\n";
      break;
    case CheckFormat::kDump: {
      const schedules::DefaultCpuSchedules defaults(codegen::parse_target(target).kernels);
      plan::Plan p = plan::lower(g, defaults);
      out << ir::print_graph(g) << "\n" << plan::print_plan(p, g);
      break;
    }
  }
}

void print_compile_report(const codegen::CompileReport &r, std::ostream &out) {
  char line[512];
  out << "rnnc: compiled " << r.model << " for " << r.target << "\n";
  for (const codegen::KernelObject &k : r.kernels) {
    std::snprintf(line, sizeof line, "  kernel %-60s %7.2f s%s\n", k.name.c_str(), k.seconds,
                  k.cached ? " (cached)" : "");
    out << line;
  }
  std::snprintf(line, sizeof line, "  %-67s %7.2f s%s\n", "halide runtime", r.runtime.seconds,
                r.runtime.cached ? " (cached)" : "");
  out << line;
  std::snprintf(line, sizeof line, "  %-67s %7.2f s\n", "glue and linking", r.link_seconds);
  out << line;
  std::snprintf(line, sizeof line, "  %-67s %7.2f s\n", "total", r.total_seconds);
  out << line;
  for (const std::string &f : r.outputs) out << "  wrote " << f << "\n";
}

void print_tune_report(const tune::TuneReport &r, const std::string &records_path, std::ostream &out) {
  char line[512];
  out << "rnnc: tuned " << r.model << " for " << r.target << ", " << r.threads << " thread(s), batch " << r.batch
      << " x " << r.steps << " steps\n";
  std::snprintf(line, sizeof line, "  %-40s %7s %10s %10s %8s %9s %-9s  %s\n", "kernel", "rows", "default us",
                "best us", "speed-up", "tried", "checked", "best parameters");
  out << line;
  for (const tune::KernelResult &k : r.kernels) {
    std::snprintf(line, sizeof line, "  %-40s %7lld %10.2f %10.2f %7.2fx %5d/%-3d %-9s  %s\n", k.workload.c_str(),
                  static_cast<long long>(k.rows), k.default_us, k.best_us, k.default_us / k.best_us, k.trials,
                  k.rejected, k.cpp_reference ? "C++ ref" : "default", k.params.key().c_str());
    out << line;
  }
  out << "  (tried: candidates measured / of them refused: failed to build or differed from the reference;\n"
         "   checked: every candidate against the plain C++ reference, or against the default schedule's results)\n";
  for (const tune::KernelResult &k : r.kernels)
    if (!k.first_rejection.empty()) out << "  refused in " << k.workload << ": " << k.first_rejection << "\n";
  if (!r.untuned.empty()) {
    out << "  not tuned (no tuning space, default schedule):";
    for (const std::string &u : r.untuned) out << " " << u;
    out << "\n";
  }
  std::snprintf(line, sizeof line, "  search: %.1f s\n", r.search_seconds);
  out << line;
  if (r.benched) {
    std::snprintf(
        line, sizeof line, "  model bench (%s, batch %lld x %lld steps): default %.3f ms, tuned %.3f ms (%.2fx)\n",
        r.training ? "training step" : "forward", static_cast<long long>(r.batch), static_cast<long long>(r.steps),
        r.bench_default_ms, r.bench_tuned_ms, r.bench_default_ms / r.bench_tuned_ms);
    out << line;
  }
  out << "  wrote " << records_path << "\n";
}

}  // namespace rnnc
