// The model-file parser: TOML text → validated ModelSpec.
#pragma once

#include <string>

#include "frontend/model_spec.h"

namespace rnnc {

// Parses and validates the model file at `path`. Throws CompileError with the
// file:line:col of the first problem; the file is never partly accepted.
ModelSpec parse_model_file(const std::string &path);

// Same as parse_model_file, for text already in memory; `file` names it in
// messages and supplies the default model name.
ModelSpec parse_model_text(const std::string &text, const std::string &file);

// Why `name` cannot name a model (it becomes C symbols and file names), or
// "" when it can.
std::string model_name_problem(const std::string &name);

}  // namespace rnnc
