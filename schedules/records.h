// Tuning records: the schedule parameters `rnnc tune` measured best, per
// workload (kernel family, sizes and flags) and row count, for one machine
// (CPU model, target, thread count) and one rnnc version; and the schedule
// source that `rnnc compile --schedules` builds from them. Records are
// never trusted blindly: a file that cannot be read, or whose rnnc version,
// CPU or target differ from this compile's, and any record that breaks its
// family's rules, is reported and left out.
#pragma once

#include <rnnc_version.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "Halide.h"
#include "schedule_source.h"

namespace rnnc::schedules {

// Bumped whenever a schedule's meaning for given parameters changes, so
// that records measured with an older meaning read as stale. 2: products
// whose weights fit one block take the blocked (rows-outer) order.
constexpr int kScheduleVersion = 2;
constexpr const char *kRnncVersion = RNNC_VERSION;

struct TuningRecord {
  std::string workload;  // KernelDesc::workload_key()
  int64_t rows = 0;      // rows per call it was measured at
  ScheduleParams params;
  double default_us = 0, best_us = 0;
  int trials = 0;    // candidates measured
  int rejected = 0;  // candidates that failed to build or gave wrong results
};

struct TuningRecords {
  std::string rnnc_version = kRnncVersion;
  int schedule_version = kScheduleVersion;
  std::string target;  // Halide target string of the kernels
  std::string cpu;     // this machine's CPU model
  int threads = 1;
  int64_t batch = 0, steps = 0;  // the workload tuned for
  std::vector<TuningRecord> records;
};

// The rows one call of `d`'s family processes for a batch of `batch`
// sequences of `steps` steps (all full length): a step kernel sees a
// step's rows, a product over all steps every packed row.
int64_t workload_rows(const kernels::KernelDesc &d, int64_t batch, int64_t steps);

// The CPU model name of this machine (/proc/cpuinfo), "unknown" without one.
std::string cpu_model();

// Writes `r` as JSON, atomically (a temporary file renamed over `path`).
// Throws std::runtime_error naming the path.
void write_records(const std::string &path, const TuningRecords &r);

// Reads a records file. Problems that void the whole file (unreadable, not
// JSON, not a records file, stale, another CPU or target) return nullopt
// with one line in *problem naming the path; records that are malformed or
// invalid for their family are dropped, each with a line in *dropped.
std::optional<TuningRecords> read_records(const std::string &path, const Halide::Target &target, std::string *problem,
                                          std::vector<std::string> *dropped);

// The defaults, overridden by records: for each workload the record at the
// wanted row count (the workload's rows for `batch` x `steps`), else the
// nearest recorded row count; every choice is noted once in notes().
class RecordSchedules final : public ScheduleSource {
 public:
  RecordSchedules(TuningRecords records, Halide::Target target, int64_t batch, int64_t steps);
  ScheduleParams params(const kernels::KernelDesc &d) const override;
  // One line per tuned workload the lowering asked for: which record it uses.
  std::vector<std::string> notes() const;

 private:
  TuningRecords records_;
  Halide::Target target_;
  int64_t batch_, steps_;
  mutable std::map<std::string, std::string> notes_;
};

}  // namespace rnnc::schedules
