// The parameter record that drives a schedule. Defaults come from the shapes
// and the target (default_params); `rnnc tune` will search them by
// measurement. Fields that change a data layout (tile) are part of a kernel's
// identity, so that the plan sizes packed buffers to match.
#pragma once

#include <string>

namespace rnnc::schedules {

struct ScheduleParams {
  int tile = 8;           // output columns (hidden units) per register tile; packed weight tile width
  int vector = 8;         // SIMD width in floats
  int row_tile = 4;       // rows (sequences) per register tile
  int parallel_rows = 0;  // run threads when a call has at least this many rows (0: never)

  std::string key() const;  // compact text for names and cache keys
};

}  // namespace rnnc::schedules
