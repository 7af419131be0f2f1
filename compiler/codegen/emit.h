// Source emitted for each model: the glue (the plan as runtime tables plus
// the C API), the public header, and the program's main.
#pragma once

#include <string>
#include <vector>

#include "codegen/kernel_objects.h"
#include "ir/graph.h"
#include "plan/plan.h"

namespace rnnc::codegen {

// The C functions a model's library exports, all prefixed with its name.
std::vector<std::string> exported_symbols(const std::string &model);

// C++ source defining the ModelDesc tables and the <name>_* functions.
// `kernels` are the plan's kernels in order.
std::string emit_glue(const ir::Graph &g, const plan::Plan &p, const std::vector<KernelObject> &kernels);

// The documented C header <name>.h.
std::string emit_header(const ir::Graph &g, const plan::Plan &p);

// The program's main(), calling <name>_program_main.
std::string emit_main(const ir::Graph &g);

}  // namespace rnnc::codegen
