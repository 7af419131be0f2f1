#include "geometry.h"

#include <algorithm>
#include <climits>
#include <numeric>
#include <string>

#include "error.h"

namespace rnnc_rt {

Geometry make_geometry(const int32_t *lengths, int64_t n, int64_t t, const int32_t *tokens, int64_t vocab) {
  if (n < 1) throw RtError("the batch is empty (n = " + std::to_string(n) + ")");
  if (t < 1) throw RtError("sequences have no steps (t = " + std::to_string(t) + ")");
  if (n > INT32_MAX / t)
    throw RtError("a batch of " + std::to_string(n) + " x " + std::to_string(t) + " steps is too large");
  Geometry g;
  g.n = n;
  g.t = t;
  g.lengths.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = lengths ? lengths[i] : t;
    if (len < 1 || len > t)
      throw RtError("the length of sequence " + std::to_string(i) + " is " + std::to_string(len) +
                    "; lengths must be in 1.." + std::to_string(t));
    g.lengths[i] = static_cast<int32_t>(len);
  }
  if (tokens) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t s = 0; s < g.lengths[i]; ++s) {
        const int32_t id = tokens[i * t + s];
        if (id < 0 || id >= vocab)
          throw RtError("token id " + std::to_string(id) + " of sequence " + std::to_string(i) + " at position " +
                        std::to_string(s) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
      }
  }
  // Sort by length, longest first, ties in input order (stable), as
  // pack_padded_sequence(enforce_sorted=False) does.
  g.order.resize(n);
  std::iota(g.order.begin(), g.order.end(), 0);
  std::stable_sort(g.order.begin(), g.order.end(), [&](int32_t a, int32_t b) { return g.lengths[a] > g.lengths[b]; });
  g.sort_pos.resize(n);
  for (int64_t b = 0; b < n; ++b) g.sort_pos[g.order[b]] = static_cast<int32_t>(b);
  g.steps = g.lengths[g.order[0]];
  g.batch_sizes.assign(g.steps, 0);
  g.offsets.assign(g.steps, 0);
  int64_t b = n;
  for (int64_t s = 0; s < g.steps; ++s) {
    while (b > 0 && g.lengths[g.order[b - 1]] <= s) --b;
    g.batch_sizes[s] = static_cast<int32_t>(b);
    g.offsets[s] = static_cast<int32_t>(g.rows);
    g.rows += b;
  }

  const int64_t R = g.rows;
  auto &in_fwd = g.index[kIdxInputFwd], &in_rev = g.index[kIdxInputRev], &perm = g.index[kIdxPerm];
  auto &row_seq = g.index[kIdxRowSeq], &last_of = g.index[kIdxLastOf], &prev_row = g.index[kIdxPrevRow];
  prev_row.resize(R);
  in_fwd.resize(R);
  in_rev.resize(R);
  perm.resize(R);
  row_seq.resize(R);
  last_of.assign(R, -1);
  for (int64_t s = 0; s < g.steps; ++s)
    for (int64_t p = 0; p < g.batch_sizes[s]; ++p) {
      const int64_t r = g.offsets[s] + p;
      const int32_t seq = g.order[p];
      const int64_t len = g.lengths[seq];
      const int64_t back = len - 1 - s;  // position the reverse direction reads at its step s
      in_fwd[r] = tokens ? tokens[seq * t + s] : static_cast<int32_t>(seq * t + s);
      in_rev[r] = tokens ? tokens[seq * t + back] : static_cast<int32_t>(seq * t + back);
      perm[r] = static_cast<int32_t>(g.offsets[back] + p);
      row_seq[r] = seq;
      prev_row[r] = static_cast<int32_t>(s == 0 ? p : n + g.offsets[s - 1] + p);
      if (s == len - 1) last_of[r] = seq;
    }
  auto &last_row = g.index[kIdxLastRow];
  last_row.resize(n);
  for (int64_t i = 0; i < n; ++i) last_row[i] = static_cast<int32_t>(g.row(i, g.lengths[i] - 1));
  g.index[kIdxLengths] = g.lengths;
  g.index[kIdxStepOffsets] = g.offsets;
  g.index[kIdxBatchSizes] = g.batch_sizes;
  g.index[kIdxSortPos] = g.sort_pos;
  return g;
}

}  // namespace rnnc_rt
