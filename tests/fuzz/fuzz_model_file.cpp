// Fuzz target: the model-file parser and the graph builder. Every input is
// either a graph that verifies or a CompileError (a message naming file and
// line); anything else — a crash, a sanitizer report, another exception —
// is a bug.
#include <cstdint>
#include <string>

#include "frontend/diagnostics.h"
#include "frontend/parser.h"
#include "ir/graph.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  try {
    const rnnc::ModelSpec spec = rnnc::parse_model_text(text, "fuzz.toml");
    const rnnc::ir::Graph g = rnnc::ir::build_graph(spec);
    rnnc::ir::verify(g);
    (void)rnnc::ir::layer_table(g);
    (void)rnnc::ir::print_graph(g);
  } catch (const rnnc::CompileError &) {
    // Refused with a message: what bad input should get.
  }
  return 0;
}
