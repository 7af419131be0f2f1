// Where lowering takes each kernel's schedule parameters from. Lowering is
// handed a source (the defaults for a target, or tuning records over the
// defaults) and never chooses a schedule itself, so a new way of choosing
// (tuning, CUDA schedules) is a new source, not an edit of the lowering.
#pragma once

#include "kernels/kernel_desc.h"

namespace rnnc::schedules {

class ScheduleSource {
 public:
  virtual ~ScheduleSource() = default;
  // The parameters for the workload `d` (its family, sizes and flags; its
  // sched field is ignored).
  virtual ScheduleParams params(const kernels::KernelDesc &d) const = 0;
};

}  // namespace rnnc::schedules
