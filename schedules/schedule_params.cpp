#include "schedule_params.h"

namespace rnnc::schedules {

std::string ScheduleParams::key() const {
  return "t" + std::to_string(tile) + "v" + std::to_string(vector) + "r" + std::to_string(row_tile) + "p" +
         std::to_string(parallel_rows);
}

}  // namespace rnnc::schedules
