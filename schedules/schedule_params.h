// The parameter record that drives a schedule: every choice that changes a
// kernel's speed lives here, so that tuning records can set any of them.
// Defaults come from the shapes and the target (default_cpu_params); `rnnc
// tune` searches them by measurement. Fields that change a data layout
// (tile) are part of a kernel's identity, so that the plan sizes packed
// buffers to match; the whole record is part of its name and cache key.
#pragma once

#include <string>

namespace rnnc::schedules {

struct ScheduleParams {
  int tile = 8;           // output columns (hidden units) per register tile; packed weight tile width
  int row_units = 0;      // steps: units whose accumulators a tile of several rows keeps live at once (0: tile)
  int vector = 8;         // SIMD width in floats
  int row_tile = 4;       // rows (sequences) per register tile
  int parallel_rows = 0;  // run threads when a call has at least this many rows (0: never)
  int block_kib = 256;    // products: KiB of packed weights kept in L2 while the rows pass by (0: no blocks)
  int row_chunk = 128;    // weight gradients: rows summed per partial product (rfactor chunk)
  int split = 16384;      // flat updates: elements per thread task
  int pack_vector = 16;   // weight packing: vector width cap

  std::string key() const;  // compact text for names and cache keys
  bool operator==(const ScheduleParams &o) const;
  bool operator!=(const ScheduleParams &o) const { return !(*this == o); }
};

}  // namespace rnnc::schedules
