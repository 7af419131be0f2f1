// End-to-end checks of `rnnc tune` and `rnnc compile --schedules`: a small
// model tuned with a short budget gives records that compile into a
// program computing what the default one computes; records that are
// corrupted, stale, for another CPU or invalid for their family are
// reported on stderr and ignored, and the compile goes on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e_util.h"

namespace rnnc_e2e {
namespace {

using Json = nlohmann::json;

const char *kModel =
    "name = \"tune_check\"\n[input]\nkind = \"features\"\nsize = 1\n"
    "[[layers]]\nkind = \"lstm\"\nhidden = 24\n"
    "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n"
    "[[layers]]\nkind = \"linear\"\nout = 2\n"
    "[loss]\nkind = \"cross_entropy\"\n[train]\nbatch_size = 8\n";

// One tuning run shared by the tests of this file (the search is the slow part).
struct Tuned {
  std::string dir, model, records;
  RunResult run;
};

const Tuned &tuned() {
  static const Tuned t = [] {
    Tuned x;
    x.dir = executable_work_dir() + "/tuned." + std::to_string(getpid());
    fs::remove_all(x.dir);
    fs::create_directories(x.dir);
    x.model = x.dir + "/tune_check.toml";
    write_text(x.model, kModel);
    x.records = x.dir + "/records.json";
    x.run = run({rnnc_exe(), "tune", x.model, "-o", x.records, "--steps", "6", "--trials", "3", "--time-budget", "90",
                 "--cache-dir", cache_dir()});
    return x;
  }();
  return t;
}

RunResult compile_with(const std::string &out, const std::vector<std::string> &extra) {
  std::vector<std::string> argv = compile_command(tuned().model, out);
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv);
}

// The checks share one tuning run, so they are one test (ctest runs each
// test in a process of its own).
void records_and_report() {
  const Tuned &t = tuned();
  ASSERT_EQ(t.run.exit_code, 0) << t.run.describe();
  for (const char *want :
       {"rnnc: tuned tune_check", "lstm_step_fwd_h24", "lstm_step_bwd_h24", "gemm_wgrad", "C++ ref",
        "model bench (training step, batch 8 x 6 steps): default", "not tuned (no tuning space, default schedule):"})
    EXPECT_TRUE(contains(t.run.out, want)) << want << "\n" << t.run.out;
  const Json j = Json::parse(read_text(t.records));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("batch"), 8);
  EXPECT_EQ(j.at("steps"), 6);
  const Json &recs = j.at("records");
  ASSERT_GE(recs.size(), 5u);
  bool step = false;
  for (const Json &r : recs) {
    EXPECT_GE(r.at("trials").get<int>(), 1);
    EXPECT_LE(r.at("best_us").get<double>(), r.at("default_us").get<double>() * 1.0001);
    if (r.at("workload") == "lstm_step_fwd_h24") {
      step = true;
      EXPECT_EQ(r.at("rows"), 8) << "a step kernel sees one step's rows";
    }
  }
  EXPECT_TRUE(step);
}

void records_compile_into_the_same_results(const ScratchDir &dir) {
  ASSERT_EQ(tuned().run.exit_code, 0) << tuned().run.describe();
  const RunResult a = compile_with(dir.path() + "/default", {});
  ASSERT_EQ(a.exit_code, 0) << a.describe();
  const RunResult b = compile_with(dir.path() + "/tuned", {"--schedules", tuned().records});
  ASSERT_EQ(b.exit_code, 0) << b.describe();
  EXPECT_TRUE(contains(b.out, "schedule: kernel lstm_step_fwd_h24: record for 8 rows")) << b.out;
  EXPECT_EQ(b.err, "") << "valid records give no warning";
  // Asking for another batch picks the nearest recorded row count, and says so.
  const RunResult c = compile_with(dir.path() + "/batch20", {"--schedules", tuned().records, "--batch", "20"});
  ASSERT_EQ(c.exit_code, 0) << c.describe();
  EXPECT_TRUE(contains(c.out, "(the nearest to 20)")) << c.out;

  const std::string prog_a = dir.path() + "/default/tune_check", prog_b = dir.path() + "/tuned/tune_check";
  ASSERT_EQ(
      run({prog_a, "data", "--task", "memory", "--n", "37", "--steps", "9", "--out", dir.path() + "/d"}).exit_code, 0);
  ASSERT_EQ(run({prog_a, "init", "--seed", "3", "--output", dir.path() + "/w.safetensors"}).exit_code, 0);
  for (const std::string &p : {prog_a, prog_b}) {
    const RunResult r = run({p, "predict", "--weights", dir.path() + "/w.safetensors", "--inputs",
                             dir.path() + "/d/inputs.npy", "--output", p + ".y.npy"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  }
  EXPECT_TRUE(arrays_close(read_f32(prog_b + ".y.npy"), read_f32(prog_a + ".y.npy"), 1e-5));
  // Training gradients too (the tuned backward kernels).
  for (const std::string &p : {prog_a, prog_b}) {
    const RunResult r = run({p, "gradnorm", "--weights", dir.path() + "/w.safetensors", "--inputs",
                             dir.path() + "/d/inputs.npy", "--labels", dir.path() + "/d/labels.npy", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    write_text(p + ".g.json", r.out);
  }
  const double total_a = Json::parse(read_text(prog_a + ".g.json")).at("total").get<double>();
  const double total_b = Json::parse(read_text(prog_b + ".g.json")).at("total").get<double>();
  EXPECT_NEAR(total_b, total_a, 1e-5 * total_a);
}

void bad_records_are_reported_and_ignored(const ScratchDir &dir) {
  ASSERT_EQ(tuned().run.exit_code, 0) << tuned().run.describe();
  const std::string good = read_text(tuned().records);
  auto check = [&](const std::string &name, const std::string &text, const std::string &warning, bool tuned_left) {
    SCOPED_TRACE(name);
    const std::string path = dir.path() + "/" + name + ".json";
    if (name != "missing") write_text(path, text);
    const RunResult r = compile_with(dir.path() + "/" + name, {"--schedules", path});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "rnnc compile: warning: " + path)) << r.err;
    EXPECT_TRUE(contains(r.err, warning)) << r.err;
    EXPECT_EQ(contains(r.out, "record for"), tuned_left) << r.out;
    EXPECT_TRUE(fs::exists(dir.path() + "/" + name + "/tune_check")) << "the compile went on";
  };
  auto replaced = [&](const std::string &from, const std::string &to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  check("missing", "", "cannot read the tuning records", false);
  check("truncated", good.substr(0, good.size() / 2), "not valid JSON", false);
  check("stale", replaced("\"rnnc_version\": \"", "\"rnnc_version\": \"9."), "stale: tuned with rnnc 9.", false);
  check("foreign", replaced("\"cpu\": \"", "\"cpu\": \"Another "), "tuned on another CPU", false);
  // One record broken: only it is dropped, the others still apply.
  check("invalid", replaced("\"vector\": ", "\"vector\": 3, \"was\": "), "is invalid for its family", true);
}

// Bad flags and an unwritable records path fail at once, before any search.
TEST(Tune, BadArgumentsFailBeforeSearching) {
  ScratchDir dir;
  const std::string model = dir.path() + "/m.toml";
  write_text(model, kModel);
  RunResult r = run({rnnc_exe(), "tune", model, "-o", dir.path() + "/no/such/dir/r.json"}, {}, 20);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, dir.path() + "/no/such/dir/r.json: cannot write the tuning records")) << r.err;
  r = run({rnnc_exe(), "tune", model, "-o", dir.path() + "/r.json", "--trials", "0"}, {}, 20);
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_TRUE(contains(r.err, "--trials must be at least 1")) << r.err;
  r = run({rnnc_exe(), "tune", dir.path() + "/missing.toml", "-o", dir.path() + "/r.json"}, {}, 20);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "missing.toml")) << r.err;
  EXPECT_FALSE(fs::exists(dir.path() + "/r.json"));
}

TEST(Tune, RecordsAreWrittenCompileToTheSameResultsAndBadOnesAreIgnored) {
  ScratchDir dir;
  {
    SCOPED_TRACE("rnnc tune: records and report");
    records_and_report();
  }
  {
    SCOPED_TRACE("rnnc compile --schedules: same results");
    records_compile_into_the_same_results(dir);
  }
  {
    SCOPED_TRACE("rnnc compile --schedules: bad records");
    bad_records_are_reported_and_ignored(dir);
  }
}

}  // namespace
}  // namespace rnnc_e2e
