// Edit distance for "did you mean" suggestions, shared by rnnc's model-file
// diagnostics and the option parsers of rnnc and the generated programs.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace rnnc_rt {

// Optimal string alignment distance: insertions, deletions, substitutions
// and swaps of neighbouring characters each count one edit, so a swapped
// pair ("lenghts") stays closer to its word than another word is.
inline int edit_distance(const std::string &a, const std::string &b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

// The option that `given` (a name without dashes that matched none) most
// likely meant, or "" when none is close: the first candidate that `given`
// abbreviates, else the nearest within two edits. rnnc and the generated
// programs take exact option names only and suggest with this one rule.
inline std::string nearest_option(const std::string &given, const std::vector<std::string> &candidates) {
  if (!given.empty())
    for (const std::string &c : candidates)
      if (c.size() > given.size() && c.compare(0, given.size(), given) == 0) return c;
  std::string best;
  int best_distance = 3;
  for (const std::string &c : candidates) {
    const int d = edit_distance(given, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

}  // namespace rnnc_rt
