#include "frontend/diagnostics.h"

#include <algorithm>

namespace rnnc {

std::string SourceLoc::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column > 0 ? column : 1);
}

CompileError::CompileError(SourceLoc loc, const std::string &message)
    : std::runtime_error(loc.str() + ": error: " + message), loc_(std::move(loc)), message_(message) {}

int edit_distance(const std::string &a, const std::string &b) {
  // Optimal string alignment: insertions, deletions, substitutions and
  // swaps of neighbours each count one edit ("hiddne" is one from "hidden").
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

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
