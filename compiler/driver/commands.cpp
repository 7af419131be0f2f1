#include "driver/commands.h"

#include <cstdio>
#include <ostream>

#include <nlohmann/json.hpp>

#include "codegen/target.h"
#include "cpu/cpu_schedules.h"
#include "frontend/parser.h"
#include "ir/graph.h"
#include "plan/plan.h"

namespace rnnc {

namespace {

using Json = nlohmann::ordered_json;

// One JSON object on one line; bytes of strings that are not UTF-8 (a path,
// say) become U+FFFD. nlohmann writes non-finite numbers as null.
void print_json(const Json &j, std::ostream &out) {
  out << j.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
}

}  // namespace

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

void print_compile_report(const codegen::CompileReport &r, ReportFormat format, std::ostream &out) {
  if (format == ReportFormat::kJson) {
    Json kernels = Json::array();
    for (const codegen::KernelObject &k : r.kernels)
      kernels.push_back({{"name", k.name}, {"seconds", k.seconds}, {"cached", k.cached}});
    print_json({{"model", r.model},
                {"target", r.target},
                {"kernels", std::move(kernels)},
                {"halide_runtime", {{"seconds", r.runtime.seconds}, {"cached", r.runtime.cached}}},
                {"link_seconds", r.link_seconds},
                {"total_seconds", r.total_seconds},
                {"schedule_notes", r.schedule_notes},
                {"schedule_warnings", r.schedule_warnings},
                {"wrote", r.outputs}},
               out);
    return;
  }
  char line[512];
  for (const std::string &n : r.schedule_notes) out << "  schedule: " << n << "\n";
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

void print_tune_report(const tune::TuneReport &r, const std::string &records_path, ReportFormat format,
                       std::ostream &out) {
  if (format == ReportFormat::kJson) {
    Json kernels = Json::array();
    for (const tune::KernelResult &k : r.kernels)
      kernels.push_back({{"workload", k.workload},
                         {"rows", k.rows},
                         {"default_us", k.default_us},
                         {"best_us", k.best_us},
                         {"speedup", k.default_us / k.best_us},
                         {"trials", k.trials},
                         {"rejected", k.rejected},
                         {"checked_against", k.cpp_reference ? "cpp_reference" : "default_schedule"},
                         {"params", k.params.key()},
                         {"first_rejection", k.first_rejection.empty() ? Json() : Json(k.first_rejection)}});
    const Json bench = r.benched ? Json{{"mode", r.training ? "training_step" : "forward"},
                                        {"default_ms", r.bench_default_ms},
                                        {"tuned_ms", r.bench_tuned_ms},
                                        {"speedup", r.bench_default_ms / r.bench_tuned_ms}}
                                 : Json();
    print_json({{"model", r.model},
                {"target", r.target},
                {"threads", r.threads},
                {"batch", r.batch},
                {"steps", r.steps},
                {"kernels", std::move(kernels)},
                {"untuned", r.untuned},
                {"search_seconds", r.search_seconds},
                {"bench", bench},
                {"wrote", Json::array({records_path})}},
               out);
    return;
  }
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

void print_import_report(const onnx_import::ImportReport &r, const onnx_import::ImportOptions &options,
                         ReportFormat format, std::ostream &out) {
  if (format == ReportFormat::kJson) {
    print_json({{"model", r.model_name},
                {"layers", r.layers},
                {"bindings", r.bindings},
                {"wrote", Json::array({options.toml_path, options.weights_path})}},
               out);
    return;
  }
  out << "model " << r.model_name << "\n";
  for (const std::string &l : r.layers) out << "  " << l << "\n";
  for (const std::string &b : r.bindings) out << "  " << b << "\n";
  out << "  wrote " << options.toml_path << "\n  wrote " << options.weights_path << "\n";
}

}  // namespace rnnc
