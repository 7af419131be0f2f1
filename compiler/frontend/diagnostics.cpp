#include "frontend/diagnostics.h"

#include "rnnc/edit_distance.h"

#include <algorithm>

namespace rnnc {

std::string SourceLoc::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column > 0 ? column : 1);
}

CompileError::CompileError(SourceLoc loc, const std::string &message)
    : std::runtime_error(loc.str() + ": error: " + message), loc_(std::move(loc)), message_(message) {}

int edit_distance(const std::string &a, const std::string &b) { return rnnc_rt::edit_distance(a, b); }

std::string nearest_name(const std::string &word, const std::vector<std::string> &candidates) {
  std::string best;
  int best_distance = 0;
  for (const auto &c : candidates) {
    int d = edit_distance(word, c);
    if (best.empty() || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // Accept up to a third of the longer word as edits (at least two), so that
  // "hiden" finds "hidden" but "foo" does not find "bias".
  int limit = std::max<int>(2, static_cast<int>(std::max(word.size(), best.size()) / 3));
  return best_distance <= limit ? best : std::string();
}

}  // namespace rnnc
