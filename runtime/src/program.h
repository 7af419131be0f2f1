// The generated program's commands. Each command is a function from parsed
// options to an exit status; program.cpp dispatches to them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "rnnc/model_desc.h"

namespace rnnc_rt {

struct Command {
  const char *name;
  const char *summary;
  std::vector<OptionSpec> options;
  std::function<int(const ModelDesc &, const Options &)> run;
};

// Commands that only read: info, init, predict, bench.
std::vector<Command> inference_commands();
// Commands that train or evaluate: train, eval, gradnorm, data, export.
std::vector<Command> training_commands();

// Prints the layer table of `d`.
void print_layer_table(const ModelDesc &d);

struct Model;
// Applies --threads when given.
void apply_threads_option(const Options &o);
// A model with its weights (or a checkpoint's) loaded from `path`.
std::unique_ptr<Model> open_weights(const ModelDesc &d, const std::string &path);

}  // namespace rnnc_rt
