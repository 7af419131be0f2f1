// Running the external tools rnnc links with ($CXX, objcopy, ar).
#pragma once

#include <string>
#include <vector>

namespace rnnc::codegen {

struct ProcessResult {
  bool started = false;  // false: the program could not be executed
  int status = -1;       // exit status when started
  std::string output;    // stdout and stderr together
};

// Runs argv[0] (looked up in PATH) with argv, without a shell.
ProcessResult run_process(const std::vector<std::string> &argv);

// Runs argv and throws std::runtime_error with the tool's output when it
// cannot start or fails; `what` says what the step was doing.
void run_checked(const std::vector<std::string> &argv, const std::string &what);

}  // namespace rnnc::codegen
