#include "records.h"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "cpu/cpu_families.h"
#include "cpu/cpu_schedules.h"
#include "kernels/families.h"

namespace rnnc::schedules {

using nlohmann::json;
using ordered = nlohmann::ordered_json;

namespace {

ordered params_json(const ScheduleParams &p) {
  return ordered{{"tile", p.tile},           {"vector", p.vector},
                 {"row_tile", p.row_tile},   {"parallel_rows", p.parallel_rows},
                 {"block_kib", p.block_kib}, {"row_chunk", p.row_chunk},
                 {"split", p.split},         {"pack_vector", p.pack_vector},
                 {"row_units", p.row_units}};
}

// Every field must be present and an integer.
ScheduleParams params_from(const json &j) {
  ScheduleParams p;
  auto get = [&](const char *k, int &dst) {
    if (!j.contains(k) || !j.at(k).is_number_integer()) throw std::runtime_error(std::string("'") + k + "' missing");
    dst = j.at(k).get<int>();
  };
  get("tile", p.tile);
  get("vector", p.vector);
  get("row_tile", p.row_tile);
  get("parallel_rows", p.parallel_rows);
  get("block_kib", p.block_kib);
  get("row_chunk", p.row_chunk);
  get("split", p.split);
  get("pack_vector", p.pack_vector);
  get("row_units", p.row_units);
  return p;
}

}  // namespace

int64_t workload_rows(const kernels::KernelDesc &d, int64_t batch, int64_t steps) {
  switch (d.family) {
    case kernels::Family::kGemmFwd:
    case kernels::Family::kGemmWgrad:
      return batch * steps;
    default:
      return batch;
  }
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::string name = "unknown", family, model;
  while (std::getline(in, line)) {
    auto value = [&] {
      const size_t c = line.find(':');
      std::string v = c == std::string::npos ? "" : line.substr(c + 1);
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      return v;
    };
    if (line.rfind("model name", 0) == 0 && name == "unknown") name = value();
    if (line.rfind("cpu family", 0) == 0 && family.empty()) family = value();
    if (line.rfind("model\t", 0) == 0 && model.empty()) model = value();
  }
  if (!family.empty()) name += " (family " + family + ", model " + model + ")";
  return name;
}

void write_records(const std::string &path, const TuningRecords &r) {
  ordered recs = ordered::array();
  for (const TuningRecord &t : r.records)
    recs.push_back({{"workload", t.workload},
                    {"rows", t.rows},
                    {"params", params_json(t.params)},
                    {"default_us", t.default_us},
                    {"best_us", t.best_us},
                    {"trials", t.trials},
                    {"rejected", t.rejected}});
  const ordered j = {{"rnnc_tuning_records", 1},
                     {"rnnc_version", r.rnnc_version},
                     {"schedule_version", r.schedule_version},
                     {"target", r.target},
                     {"cpu", r.cpu},
                     {"threads", r.threads},
                     {"batch", r.batch},
                     {"steps", r.steps},
                     {"records", recs}};
  const std::string text = j.dump(1) + "\n";
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error(path + ": cannot write the tuning records");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot write the tuning records");
  }
}

std::optional<TuningRecords> read_records(const std::string &path, const Halide::Target &target, std::string *problem,
                                          std::vector<std::string> *dropped) {
  auto fail = [&](const std::string &why) -> std::optional<TuningRecords> {
    *problem = path + ": " + why + "; using the default schedules";
    return std::nullopt;
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read the tuning records");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception &e) {
    return fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("rnnc_tuning_records") || !j.contains("records") || !j["records"].is_array())
    return fail("not an rnnc tuning records file");
  TuningRecords r;
  try {
    r.rnnc_version = j.at("rnnc_version").get<std::string>();
    r.schedule_version = j.at("schedule_version").get<int>();
    r.target = j.at("target").get<std::string>();
    r.cpu = j.at("cpu").get<std::string>();
    r.threads = j.at("threads").get<int>();
    r.batch = j.at("batch").get<int64_t>();
    r.steps = j.at("steps").get<int64_t>();
  } catch (const json::exception &e) {
    return fail(std::string("malformed header (") + e.what() + ")");
  }
  if (r.rnnc_version != kRnncVersion || r.schedule_version != kScheduleVersion)
    return fail("stale: tuned with rnnc " + r.rnnc_version + " (schedule version " +
                std::to_string(r.schedule_version) + "), this is rnnc " + kRnncVersion + " (schedule version " +
                std::to_string(kScheduleVersion) + ")");
  if (r.cpu != cpu_model()) return fail("tuned on another CPU (" + r.cpu + "; this is " + cpu_model() + ")");
  if (r.target != target.to_string())
    return fail("tuned for another target (" + r.target + "; this compile is for " + target.to_string() + ")");
  for (size_t i = 0; i < j["records"].size(); ++i) {
    const json &e = j["records"][i];
    TuningRecord t;
    try {
      t.workload = e.at("workload").get<std::string>();
      t.rows = e.at("rows").get<int64_t>();
      t.params = params_from(e.at("params"));
      t.default_us = e.value("default_us", 0.0);
      t.best_us = e.value("best_us", 0.0);
      t.trials = e.value("trials", 0);
      t.rejected = e.value("rejected", 0);
    } catch (const std::exception &ex) {
      dropped->push_back(path + ": record " + std::to_string(i) + " is malformed (" + ex.what() + "); ignored");
      continue;
    }
    const std::optional<kernels::KernelDesc> d = kernels::parse_workload_key(t.workload);
    if (!d || !cpu_family(d->family).tunable) {
      dropped->push_back(path + ": record " + std::to_string(i) + " names no tunable kernel family ('" + t.workload +
                         "'); ignored");
      continue;
    }
    const std::string why = cpu_params_problem(*d, t.params, target);
    if (!why.empty() || t.rows < 1) {
      dropped->push_back(path + ": the record for kernel " + t.workload + " is invalid for its family (" +
                         (why.empty() ? "rows < 1" : why) + "); ignored");
      continue;
    }
    r.records.push_back(t);
  }
  return r;
}

RecordSchedules::RecordSchedules(TuningRecords records, Halide::Target target, int64_t batch, int64_t steps)
    : records_(std::move(records)), target_(std::move(target)), batch_(batch), steps_(steps) {}

ScheduleParams RecordSchedules::params(const kernels::KernelDesc &d) const {
  const std::string key = d.workload_key();
  const int64_t want = workload_rows(d, batch_, steps_);
  const TuningRecord *best = nullptr;
  for (const TuningRecord &r : records_.records) {
    if (r.workload != key) continue;
    if (!best || std::abs(std::log(static_cast<double>(r.rows) / want)) <
                     std::abs(std::log(static_cast<double>(best->rows) / want)))
      best = &r;
  }
  if (!best) {
    if (!cpu_tuning_space(d, target_).empty()) notes_[key] = "kernel " + key + ": no record, default schedule";
    return default_cpu_params(d, target_);
  }
  notes_[key] = "kernel " + key + ": record for " + std::to_string(best->rows) + " rows" +
                (best->rows == want ? "" : " (the nearest to " + std::to_string(want) + ")") + ", " +
                best->params.key();
  return best->params;
}

std::vector<std::string> RecordSchedules::notes() const {
  std::vector<std::string> v;
  for (const auto &[k, n] : notes_) v.push_back(n);
  return v;
}

}  // namespace rnnc::schedules
