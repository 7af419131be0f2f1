// Geometry of one batch: the packed layout its lengths imply, and the index
// arrays the plan's kernels read (IndexKind in model_desc.h).
#pragma once

#include <cstdint>
#include <vector>

#include "rnnc/model_desc.h"

namespace rnnc_rt {

struct Geometry {
  int64_t n = 0;                     // sequences
  int64_t t = 0;                     // padded steps of the input
  int64_t steps = 0;                 // the longest length
  int64_t rows = 0;                  // R, the sum of the lengths
  std::vector<int32_t> lengths;      // [n], input order
  std::vector<int32_t> order;        // [n], sorted position -> sequence
  std::vector<int32_t> sort_pos;     // [n], sequence -> sorted position
  std::vector<int32_t> batch_sizes;  // [steps], sequences still running at each step
  std::vector<int32_t> offsets;      // [steps], first packed row of each step
  std::vector<int32_t> index[kIdxCount];

  // Packed row of (sequence, step); step < lengths[sequence].
  int64_t row(int64_t seq, int64_t step) const { return offsets[step] + sort_pos[seq]; }
};

// Builds the geometry for n sequences of at most t steps. `lengths` may be
// NULL (all t); each length must be in 1..t. `tokens` ([n, t] ids, or NULL
// for features) must hold ids in [0, vocab) at every position before a
// sequence's length; other positions are ignored. Throws RtError naming the
// offending sequence and position.
Geometry make_geometry(const int32_t *lengths, int64_t n, int64_t t, const int32_t *tokens, int64_t vocab);

}  // namespace rnnc_rt
