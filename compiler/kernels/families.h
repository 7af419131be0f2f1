// The kernel families: one entry per family with what the pipeline knows
// of it apart from its schedules — its name, the sizes and flags that make
// its workload key, and its signature (the argument list the plan passes and
// the built pipeline must have). Its algorithm is in <family>.cpp of this
// folder; its schedules, defaults and tuning space are in the schedule
// table of each target class (schedules/cpu/cpu_families.cpp). Adding a
// family: a Family value, one entry here, its algorithm, one entry in each
// schedule table, and its tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kernels/kernel_desc.h"

namespace rnnc::kernels {

struct FamilyEntry {
  Family family;
  const char *name;  // e.g. "lstm_step_fwd"
  int gates;         // gates of the cell (step kernels: 1 rnn, 4 lstm, 3 gru), else 1
  // The workload key after the name: sizes and flags, e.g. "_h64_train".
  std::string (*sizes)(const KernelDesc &d);
  std::vector<ArgSig> (*signature)(const KernelDesc &d);
};

// The entry of `f`; every Family has one.
const FamilyEntry &family_entry(Family f);
// Every entry, in Family order.
const std::vector<FamilyEntry> &family_table();
// The family named `name` ("lstm_step_fwd"), if any.
std::optional<Family> family_by_name(const std::string &name);
// The descriptor a workload key (KernelDesc::workload_key) names: its
// family, sizes (k, n, h, dirs, v) and gates; nullopt when no family's
// name starts it. Flags are not recovered.
std::optional<KernelDesc> parse_workload_key(const std::string &key);

}  // namespace rnnc::kernels
