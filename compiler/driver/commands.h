// The rnnc commands as library calls; main.cpp only turns flags into them.
#pragma once

#include <iosfwd>
#include <string>

#include "codegen/compile_model.h"
#include "import/onnx_import.h"
#include "tune/tune_model.h"

namespace rnnc {

enum class CheckFormat { kTable, kJson, kDump };
// How the other commands report: text lines, or one JSON object (--json).
enum class ReportFormat { kText, kJson };

// `rnnc check`: validates the model and prints its layer table, its table
// as one JSON object, or the graph IR and plan. Throws CompileError.
void check_model(const std::string &path, CheckFormat format, const std::string &target, std::ostream &out);

// Prints a compile report: the schedule records used, time per kernel,
// linking, total, files written. (The schedule warnings are the caller's, for
// stderr; the JSON object holds them too.)
void print_compile_report(const codegen::CompileReport &r, ReportFormat format, std::ostream &out);

// Prints a tune report: per kernel the default and best time, the
// speed-up and the winning parameters; the model's bench before and after.
void print_tune_report(const tune::TuneReport &r, const std::string &records_path, ReportFormat format,
                       std::ostream &out);

// Prints an import report: the model's entries, how the ONNX inputs and
// outputs map onto the program's flags, the files written.
void print_import_report(const onnx_import::ImportReport &r, const onnx_import::ImportOptions &options,
                         ReportFormat format, std::ostream &out);

}  // namespace rnnc
