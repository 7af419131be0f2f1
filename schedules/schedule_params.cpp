#include "schedule_params.h"

namespace rnnc::schedules {

std::string ScheduleParams::key() const {
  return "t" + std::to_string(tile) + "v" + std::to_string(vector) + "r" + std::to_string(row_tile) + "p" +
         std::to_string(parallel_rows) + "b" + std::to_string(block_kib) + "c" + std::to_string(row_chunk) + "s" +
         std::to_string(split) + "k" + std::to_string(pack_vector) + (row_units ? "u" + std::to_string(row_units) : "");
}

bool ScheduleParams::operator==(const ScheduleParams &o) const {
  return tile == o.tile && vector == o.vector && row_tile == o.row_tile && parallel_rows == o.parallel_rows &&
         block_kib == o.block_kib && row_chunk == o.row_chunk && split == o.split && pack_vector == o.pack_vector &&
         row_units == o.row_units;
}

}  // namespace rnnc::schedules
