// Diagnostics of the compiler: source locations and the one error a user sees.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace rnnc {

// A position in a model file; line and column count from 1, 0 means unknown.
struct SourceLoc {
  std::string file;
  int line = 0;
  int column = 0;

  // "file:line:col", or "file" when the position is unknown.
  std::string str() const;
};

// The error the compiler reports for bad user input. what() is the full
// message, "file:line:col: error: <message>", ready to print.
class CompileError : public std::runtime_error {
 public:
  CompileError(SourceLoc loc, const std::string &message);

  const SourceLoc &loc() const { return loc_; }
  const std::string &message() const { return message_; }

 private:
  SourceLoc loc_;
  std::string message_;
};

// Edit distance between two strings (a swap of neighbours counts one edit).
int edit_distance(const std::string &a, const std::string &b);

// The candidate closest to `word`, or "" when none is close enough to be a
// plausible misspelling.
std::string nearest_name(const std::string &word, const std::vector<std::string> &candidates);

}  // namespace rnnc
