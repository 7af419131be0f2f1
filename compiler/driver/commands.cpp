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

}  // namespace rnnc
