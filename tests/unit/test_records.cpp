// Tuning records: round trip, and every way a records file is refused or
// partly ignored (unreadable, not JSON, stale, another CPU or target, a
// record invalid for its family); the schedule source they make (exact row
// count, nearest row count, defaults).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cpu/cpu_families.h"
#include "cpu/cpu_schedules.h"
#include "kernels/families.h"
#include "records.h"

namespace rnnc::schedules {
namespace {

namespace fs = std::filesystem;

Halide::Target target() {
  return Halide::get_host_target().with_feature(Halide::Target::UserContext).with_feature(Halide::Target::NoRuntime);
}

kernels::KernelDesc lstm_step(int64_t h) {
  kernels::KernelDesc d;
  d.family = kernels::Family::kLstmStepFwd;
  d.h = h;
  d.g = 4;
  return d;
}

std::string scratch(const std::string &name) {
  const fs::path dir = fs::temp_directory_path() / ("rnnc_test_records_" + std::to_string(getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string read(const std::string &path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write(const std::string &path, const std::string &text) { std::ofstream(path) << text; }

TuningRecords sample() {
  TuningRecords r;
  r.target = target().to_string();
  r.cpu = cpu_model();
  r.threads = 2;
  r.batch = 16;
  r.steps = 10;
  const kernels::KernelDesc d = lstm_step(32);
  for (int64_t rows : {4, 16, 64}) {
    TuningRecord t;
    t.workload = d.workload_key();
    t.rows = rows;
    t.params = default_cpu_params(d, target());
    t.params.row_tile = rows == 16 ? 2 : 1;
    t.params.parallel_rows = static_cast<int>(rows);
    t.default_us = 10;
    t.best_us = 8;
    t.trials = 5;
    r.records.push_back(t);
  }
  return r;
}

TEST(Records, RoundTrip) {
  const std::string path = scratch("round.json");
  write_records(path, sample());
  std::string problem;
  std::vector<std::string> dropped;
  const auto r = read_records(path, target(), &problem, &dropped);
  ASSERT_TRUE(r) << problem;
  EXPECT_TRUE(dropped.empty());
  ASSERT_EQ(r->records.size(), 3u);
  EXPECT_EQ(r->records[1].params, sample().records[1].params);
  EXPECT_EQ(r->batch, 16);
  EXPECT_EQ(r->steps, 10);
  EXPECT_EQ(r->threads, 2);
}

TEST(Records, UnusableFilesAreReportedWithTheirPath) {
  std::string problem;
  std::vector<std::string> dropped;
  const std::string missing = scratch("missing.json");
  EXPECT_FALSE(read_records(missing, target(), &problem, &dropped));
  EXPECT_NE(problem.find(missing + ": cannot read"), std::string::npos) << problem;

  const std::string bad = scratch("bad.json");
  write(bad, "{\"rnnc_tuning_records\": 1, \"records\": [");
  EXPECT_FALSE(read_records(bad, target(), &problem, &dropped));
  EXPECT_NE(problem.find(bad + ": not valid JSON"), std::string::npos) << problem;

  write(bad, "{\"some\": \"other file\"}");
  EXPECT_FALSE(read_records(bad, target(), &problem, &dropped));
  EXPECT_NE(problem.find("not an rnnc tuning records file"), std::string::npos) << problem;

  const std::string good = scratch("good.json");
  write_records(good, sample());
  auto edited = [&](const std::string &from, const std::string &to) {
    std::string text = read(good);
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    write(bad, text);
    problem.clear();
    return read_records(bad, target(), &problem, &dropped);
  };
  EXPECT_FALSE(edited(std::string("\"rnnc_version\": \"") + kRnncVersion, "\"rnnc_version\": \"0.0.1"));
  EXPECT_NE(problem.find("stale: tuned with rnnc 0.0.1"), std::string::npos) << problem;
  EXPECT_FALSE(edited("\"schedule_version\": " + std::to_string(kScheduleVersion), "\"schedule_version\": 0"));
  EXPECT_NE(problem.find("stale"), std::string::npos) << problem;
  EXPECT_FALSE(edited("\"cpu\": \"", "\"cpu\": \"Some Other CPU "));
  EXPECT_NE(problem.find("tuned on another CPU (Some Other CPU"), std::string::npos) << problem;
  EXPECT_FALSE(edited("\"target\": \"", "\"target\": \"arm-64-linux-"));
  EXPECT_NE(problem.find("tuned for another target"), std::string::npos) << problem;
}

TEST(Records, RecordsInvalidForTheirFamilyAreDroppedNamingTheKernel) {
  TuningRecords r = sample();
  r.records[0].params.tile = r.records[0].params.vector + 1;  // not a multiple of the vector width
  r.records[1].params.row_tile = 32;                          // 4 gates x 32 rows of accumulators
  TuningRecord unknown = r.records[2];
  unknown.workload = "warp_drive_h64";
  r.records.push_back(unknown);
  const std::string path = scratch("invalid.json");
  write_records(path, r);
  std::string problem;
  std::vector<std::string> dropped;
  const auto got = read_records(path, target(), &problem, &dropped);
  ASSERT_TRUE(got) << problem;
  ASSERT_EQ(got->records.size(), 1u);
  ASSERT_EQ(dropped.size(), 3u);
  EXPECT_NE(dropped[0].find("kernel " + r.records[0].workload + " is invalid for its family (tile"), std::string::npos)
      << dropped[0];
  EXPECT_NE(dropped[1].find("exceed the register budget"), std::string::npos) << dropped[1];
  EXPECT_NE(dropped[2].find("names no tunable kernel family ('warp_drive_h64')"), std::string::npos) << dropped[2];
}

TEST(Records, SourceUsesTheExactOrNearestRowCountOrTheDefault) {
  const TuningRecords r = sample();
  const kernels::KernelDesc d = lstm_step(32);
  // Step kernels run batch rows: 16 -> the 16-row record.
  RecordSchedules exact(r, target(), 16, 10);
  EXPECT_EQ(exact.params(d), r.records[1].params);
  EXPECT_NE(exact.notes().at(0).find("record for 16 rows, "), std::string::npos) << exact.notes().at(0);
  // 40 rows: nearest on a log scale is 64.
  RecordSchedules nearest(r, target(), 40, 10);
  EXPECT_EQ(nearest.params(d), r.records[2].params);
  EXPECT_NE(nearest.notes().at(0).find("the nearest to 40"), std::string::npos) << nearest.notes().at(0);
  // Another size has no record: the default, said so.
  const kernels::KernelDesc other = lstm_step(48);
  EXPECT_EQ(exact.params(other), default_cpu_params(other, target()));
  bool said = false;
  for (const std::string &n : exact.notes())
    said = said || n.find(other.workload_key() + ": no record") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(TuningSpace, EveryPointObeysTheRulesAndTheDefaultComesFirst) {
  for (kernels::Family f : {kernels::Family::kGemmFwd, kernels::Family::kGemmWgrad, kernels::Family::kLstmStepFwd,
                            kernels::Family::kGruStepBwd}) {
    kernels::KernelDesc d;
    d.family = f;
    d.k = 40;
    d.n = 96;
    d.h = 24;
    d.g = f == kernels::Family::kLstmStepFwd ? 4 : f == kernels::Family::kGruStepBwd ? 3 : 1;
    const std::vector<ScheduleParams> space = cpu_tuning_space(d, target());
    ASSERT_GT(space.size(), 4u) << kernels::to_string(f);
    EXPECT_EQ(space.front(), default_cpu_params(d, target()));
    for (const ScheduleParams &p : space) EXPECT_EQ(cpu_params_problem(d, p, target()), "") << p.key();
  }
  kernels::KernelDesc readout;
  readout.family = kernels::Family::kReadoutLast;
  readout.h = 8;
  EXPECT_TRUE(cpu_tuning_space(readout, target()).empty());
}

// Every family has its algorithm-side entry and its CPU entry, and a
// workload key names its descriptor again.
TEST(FamilyTables, EveryFamilyHasBothEntriesAndItsKeyParsesBack) {
  const auto &table = kernels::family_table();
  ASSERT_EQ(table.size(), static_cast<size_t>(kernels::Family::kSgdUpdate) + 1);
  for (size_t i = 0; i < table.size(); ++i) {
    const kernels::FamilyEntry &e = table[i];
    EXPECT_EQ(static_cast<size_t>(e.family), i) << e.name << ": entries in Family order";
    EXPECT_EQ(kernels::family_by_name(e.name), e.family) << e.name;
    EXPECT_EQ(cpu_family(e.family).family, e.family) << e.name;
  }
  kernels::KernelDesc d;
  d.family = kernels::Family::kGruStepBwd;
  d.h = 48;
  d.g = 3;
  d.linear_before_reset = false;
  d.train = true;
  const auto back = kernels::parse_workload_key(d.workload_key());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->family, d.family);
  EXPECT_EQ(back->h, 48);
  EXPECT_EQ(back->g, 3);
  kernels::KernelDesc w;
  w.family = kernels::Family::kGemmWgrad;
  w.k = 64;
  w.n = 256;
  w.gather = true;
  const auto wb = kernels::parse_workload_key(w.workload_key());
  ASSERT_TRUE(wb);
  EXPECT_EQ(wb->family, kernels::Family::kGemmWgrad);
  EXPECT_EQ(wb->k, 64);
  EXPECT_EQ(wb->n, 256);
  EXPECT_FALSE(kernels::parse_workload_key("warp_drive_h64"));
}

}  // namespace
}  // namespace rnnc::schedules
