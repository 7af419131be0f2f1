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

// Where a generated library came from, as its program's --version and its
// checkpoints' metadata report it.
struct Provenance {
  std::string rnnc_version;
  std::string model_sha256;  // of the model file's bytes, hex
  std::string target;        // the Halide target of the kernels
};

// C++ source defining the ModelDesc tables and the <name>_* functions.
// `kernels` are the plan's kernels in order.
std::string emit_glue(const ir::Graph &g, const plan::Plan &p, const std::vector<KernelObject> &kernels,
                      const Provenance &provenance);

// The documented C header <name>.h.
std::string emit_header(const ir::Graph &g, const plan::Plan &p);

// OUT/<name>.py: the model from Python, on ctypes and NumPy (loads
// lib<name>.so from its own directory).
std::string emit_python_module(const ir::Graph &g, const plan::Plan &p, const std::string &rnnc_version);

// OUT/<name>_torch.py: a torch.nn.Module over <name>.py whose forward and
// backward run the model's kernels (<name>_forward_train / <name>_backward).
std::string emit_torch_module(const ir::Graph &g, const plan::Plan &p, const std::string &rnnc_version);

// The program's main(), calling <name>_program_main.
std::string emit_main(const ir::Graph &g);

// The pkg-config file <name>.pc. Its prefix is ${pcfiledir}, so OUT stays
// relocatable; Libs link the shared library with an rpath to OUT.
std::string emit_pkgconfig(const ir::Graph &g);

}  // namespace rnnc::codegen
