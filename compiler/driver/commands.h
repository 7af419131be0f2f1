// The rnnc commands as library calls; main.cpp only turns flags into them.
#pragma once

#include <iosfwd>
#include <string>

#include "codegen/compile_model.h"
#include "tune/tune_model.h"

namespace rnnc {

enum class CheckFormat { kTable, kJson, kDump };

// `rnnc check`: validates the model and prints its layer table, its table
// as one JSON object, or the graph IR and plan. Throws CompileError.
void check_model(const std::string &path, CheckFormat format, const std::string &target, std::ostream &out);

// Prints a compile report: time per kernel, linking, total, files written.
void print_compile_report(const codegen::CompileReport &r, std::ostream &out);

// Prints a tune report: per kernel the default and best time, the
// speed-up and the winning parameters; the model's bench before and after.
void print_tune_report(const tune::TuneReport &r, const std::string &records_path, std::ostream &out);

}  // namespace rnnc
