// End-to-end checks of the generated program's training runs: a resumed run
// equals an uninterrupted one bit for bit (dropout included, at any thread
// count), a run killed at random moments leaves a loadable checkpoint, bad
// labels are refused naming the file, a diverging run stops naming the
// epoch, batch and parameter and keeps the last good checkpoint, the `data`
// command's data sets, and the metrics CSV and plot.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"
#include "io/npy.h"
#include "io/safetensors.h"

namespace rnnc_e2e {
namespace {

using rnnc_rt::DType;
using rnnc_rt::NpyArray;
using rnnc_rt::SafeTensor;
using rnnc_rt::SafeTensorsFile;

const char *const kMetricsHeader = "epoch,train_loss,train_acc,val_loss,val_acc,seconds";

// tokens -> embedding -> 2-layer LSTM with dropout 0.3 -> last -> dropout ->
// linear; Adam with a binding clip. Parity data (vocab 10, T 20).
const char *const kDropoutModel =
    "name = \"tr_parity_lstm_dropout\"\n"
    "[input]\nkind = \"tokens\"\nvocab = 10\n"
    "[[layers]]\nkind = \"embedding\"\ndim = 4\n"
    "[[layers]]\nkind = \"lstm\"\nhidden = 8\nnum_layers = 2\ndropout = 0.3\n"
    "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n"
    "[[layers]]\nkind = \"dropout\"\np = 0.3\n"
    "[[layers]]\nkind = \"linear\"\nout = 2\n"
    "[loss]\nkind = \"cross_entropy\"\n"
    "[train]\noptimizer = \"adam\"\nlearning_rate = 0.01\nclip_grad_norm = 0.5\nepochs = 4\nbatch_size = 16\n"
    "seed = 5\n";

// Features (memory data: size 1) -> rnn -> last -> linear; plain SGD. The
// relu form grows without bound once its weights are large, so a huge
// learning rate makes it diverge; the tanh form never does.
std::string sgd_model(const std::string &name, const std::string &nonlinearity) {
  return "name = \"" + name + "\"\n[input]\nkind = \"features\"\nsize = 1\n[[layers]]\nkind = \"rnn\"\nhidden = 6\n" +
         "nonlinearity = \"" + nonlinearity + "\"\n" +
         "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n[[layers]]\nkind = \"linear\"\nout = 2\n"
         "[loss]\nkind = \"cross_entropy\"\n"
         "[train]\noptimizer = \"sgd\"\nlearning_rate = 0.05\nepochs = 1\nbatch_size = 8\nseed = 3\n";
}

// Compiles a model given as text (written into the test's directory).
const CompiledModel &compile_text(const ScratchDir &dir, const std::string &file, const std::string &toml) {
  write_text(dir.file(file), toml);
  return compiled_model(dir.file(file));
}

std::string fixture(const std::string &name, const std::string &file) {
  return source_dir() + "/tests/fixtures/" + name + "/" + file;
}

// Runs argv and fails the test (returning false) unless it exits with 0.
bool run_ok(const std::vector<std::string> &argv) {
  const RunResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return r.exit_code == 0;
}

// `<program> data --task <task> --n <n> --seed <seed> --out <out> [extra]`.
bool make_data(const CompiledModel &m, const std::string &task, int n, int seed, const std::string &out,
               const std::vector<std::string> &extra = {}) {
  std::vector<std::string> argv = {
      m.program, "data", "--task", task, "--n", std::to_string(n), "--seed", std::to_string(seed), "--out", out};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_ok(argv);
}

// --inputs/--labels/--lengths of a directory written by `data`.
std::vector<std::string> data_args(const std::string &dir) {
  return {"--inputs", dir + "/inputs.npy", "--labels", dir + "/labels.npy", "--lengths", dir + "/lengths.npy"};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The values of a checkpoint tensor read as T (optim.step: int64, optim.rng: uint64).
template <class T>
std::vector<T> tensor_values(const SafeTensorsFile &f, const std::string &name) {
  const SafeTensor *t = f.find(name);
  if (!t) throw std::runtime_error("no tensor " + name);
  std::vector<T> v(t->data.size() / sizeof(T));
  std::memcpy(v.data(), t->data.data(), v.size() * sizeof(T));
  return v;
}

// Success when a and b hold the same tensors (names, dtypes, shapes, bytes)
// in the same order; the failure names every tensor that differs.
::testing::AssertionResult same_tensors(const std::string &a_path, const std::string &b_path) {
  const SafeTensorsFile a = rnnc_rt::read_safetensors(a_path), b = rnnc_rt::read_safetensors(b_path);
  std::vector<std::string> names_a, names_b, differ;
  for (const SafeTensor &t : a.tensors) names_a.push_back(t.name);
  for (const SafeTensor &t : b.tensors) names_b.push_back(t.name);
  if (names_a != names_b)
    return ::testing::AssertionFailure() << a_path << " holds {" << join(names_a, ", ") << "}, " << b_path << " holds {"
                                         << join(names_b, ", ") << "}";
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const SafeTensor &x = a.tensors[i], &y = b.tensors[i];
    if (x.dtype != y.dtype || x.shape != y.shape || x.data != y.data) {
      size_t first = 0;
      while (first < std::min(x.data.size(), y.data.size()) && x.data[first] == y.data[first]) ++first;
      differ.push_back(x.name + " (first differing byte " + std::to_string(first) + ")");
    }
  }
  if (!differ.empty())
    return ::testing::AssertionFailure() << a_path << " and " << b_path << " differ in " << join(differ, ", ");
  if (read_text(a_path) != read_text(b_path))
    return ::testing::AssertionFailure() << a_path << " and " << b_path
                                         << " hold the same tensors but differ in their header";
  return ::testing::AssertionSuccess();
}

// The rows of a metrics CSV split into fields; fails the test when the
// header is not the documented one.
std::vector<std::vector<std::string>> metrics_rows(const std::string &csv_path) {
  const std::vector<std::string> lines = lines_of(read_text(csv_path));
  std::vector<std::vector<std::string>> rows;
  EXPECT_FALSE(lines.empty()) << csv_path << " is empty";
  if (lines.empty()) return rows;
  EXPECT_EQ(lines[0], kMetricsHeader) << csv_path;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f;
    size_t at = 0;
    for (size_t comma; (comma = lines[i].find(',', at)) != std::string::npos; at = comma + 1)
      f.push_back(lines[i].substr(at, comma - at));
    f.push_back(lines[i].substr(at));
    EXPECT_EQ(f.size(), 6u) << csv_path << " line " << i + 1 << ": '" << lines[i] << "'";
    rows.push_back(f);
  }
  return rows;
}

// Two runs' metrics CSVs hold the same rows, but for the seconds column.
void expect_same_metrics(const std::string &a_ckpt, const std::string &b_ckpt) {
  const auto a = metrics_rows(a_ckpt + ".metrics.csv"), b = metrics_rows(b_ckpt + ".metrics.csv");
  ASSERT_EQ(a.size(), b.size());
  for (size_t e = 0; e < a.size(); ++e) {
    if (a[e].size() != 6 || b[e].size() != 6) continue;  // reported by metrics_rows
    EXPECT_EQ(std::vector<std::string>(a[e].begin(), a[e].begin() + 5),
              std::vector<std::string>(b[e].begin(), b[e].begin() + 5))
        << "metrics of epoch " << e + 1 << " (all but the seconds)";
  }
}

// The metrics CSV and the plot of a run that completed `epochs` epochs: the
// documented header, rows for epochs 1..epochs, accuracies exactly when the
// loss is cross-entropy, validation columns exactly when validating.
void expect_metrics(const std::string &ckpt, int epochs, bool accuracy, bool validation) {
  const auto rows = metrics_rows(ckpt + ".metrics.csv");
  ASSERT_EQ(rows.size(), static_cast<size_t>(epochs)) << read_text(ckpt + ".metrics.csv");
  for (int e = 0; e < epochs; ++e) {
    const auto &f = rows[static_cast<size_t>(e)];
    if (f.size() != 6) continue;
    const std::string where = "metrics row " + std::to_string(e + 1) + ": " + join(f, ",");
    EXPECT_EQ(f[0], std::to_string(e + 1)) << where;
    EXPECT_TRUE(std::isfinite(std::strtod(f[1].c_str(), nullptr)) && !f[1].empty()) << where;
    EXPECT_EQ(!f[2].empty(), accuracy) << where;
    EXPECT_EQ(!f[3].empty(), validation) << where;
    EXPECT_EQ(!f[4].empty(), accuracy && validation) << where;
    for (int k : {2, 4})
      if (!f[k].empty()) {
        const double acc = std::strtod(f[k].c_str(), nullptr);
        EXPECT_TRUE(acc >= 0 && acc <= 1) << where;
      }
    EXPECT_GE(std::strtod(f[5].c_str(), nullptr), 0.0) << where;
  }
  const std::string svg = read_text(ckpt + ".curves.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u) << ckpt << ".curves.svg starts with '" << svg.substr(0, 40) << "'";
  EXPECT_TRUE(contains(svg, "</svg>")) << ckpt << ".curves.svg is not closed";
}

// ---------------------------------------------------------------------------
// Resume equals uninterrupted

TEST(Resume, EqualsAnUninterruptedRunBitForBit) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kDropoutModel);
  const std::string data = dir.file("parity");
  ASSERT_TRUE(make_data(m, "parity", 48, 1, data));  // 3 batches of 16 per epoch
  const std::vector<std::string> train = concat({m.program, "train"}, data_args(data));

  // The dropout masks must matter, or this test would not exercise the
  // dropout stream across the resume: two dropout seeds, two gradients.
  {
    const std::vector<std::string> gradnorm = concat({m.program, "gradnorm", "--json"}, data_args(data));
    const std::string w = dir.file("w0.safetensors");
    ASSERT_TRUE(run_ok({m.program, "init", "--seed", "1", "--output", w}));
    const RunResult g1 = run(concat(gradnorm, {"--weights", w, "--seed", "1"}));
    const RunResult g2 = run(concat(gradnorm, {"--weights", w, "--seed", "2"}));
    ASSERT_EQ(g1.exit_code, 0) << g1.describe();
    ASSERT_EQ(g2.exit_code, 0) << g2.describe();
    EXPECT_NE(g1.out, g2.out) << "the gradient does not depend on the dropout seed";
  }

  std::map<std::string, std::string> straight_by_threads;
  for (const std::string threads : {"2", "1"}) {
    SCOPED_TRACE("--threads " + threads);
    const std::string a = dir.file("a" + threads + ".safetensors"),
                      again = dir.file("again" + threads + ".safetensors"),
                      b = dir.file("b" + threads + ".safetensors");
    const std::vector<std::string> t = concat(train, {"--threads", threads});
    ASSERT_TRUE(run_ok(concat(t, {"--epochs", "4", "--checkpoint", a})));
    ASSERT_TRUE(run_ok(concat(t, {"--epochs", "4", "--checkpoint", again})));
    ASSERT_TRUE(run_ok(concat(t, {"--epochs", "2", "--checkpoint", b})));
    const auto first_half = metrics_rows(b + ".metrics.csv");
    EXPECT_EQ(first_half.size(), 2u);
    const RunResult resumed = run(concat(t, {"--epochs", "4", "--checkpoint", b, "--resume"}));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
    EXPECT_TRUE(contains(resumed.out, "resuming after epoch 2")) << resumed.describe();

    EXPECT_TRUE(same_tensors(a, again)) << "two uninterrupted runs differ";
    EXPECT_TRUE(same_tensors(a, b)) << "4 epochs straight vs 2 epochs, then --resume up to 4";
    const SafeTensorsFile ck = rnnc_rt::read_safetensors(b);
    EXPECT_EQ(tensor_values<int64_t>(ck, "optim.step"), std::vector<int64_t>{12}) << "4 epochs of 3 batches";
    EXPECT_EQ(tensor_values<uint64_t>(ck, "optim.rng"), (std::vector<uint64_t>{5, 4})) << "[seed, epochs]";
    for (const char *slot : {"optim.exp_avg.layers.4.weight", "optim.exp_avg_sq.layers.1.weight_hh_l1"})
      EXPECT_NE(ck.find(slot), nullptr) << b << " lacks " << slot;

    // The resumed run's metrics: four rows, the same losses as the straight run.
    expect_metrics(b, 4, true, false);
    const auto straight = metrics_rows(a + ".metrics.csv"), joined = metrics_rows(b + ".metrics.csv");
    ASSERT_EQ(straight.size(), 4u);
    ASSERT_EQ(joined.size(), 4u);
    for (size_t e = 0; e < 4; ++e) {
      if (joined[e].size() != 6 || straight[e].size() != 6) continue;  // reported by metrics_rows
      EXPECT_EQ(std::vector<std::string>(joined[e].begin(), joined[e].begin() + 5),
                std::vector<std::string>(straight[e].begin(), straight[e].begin() + 5))
          << "metrics of epoch " << e + 1 << " (all but the seconds)";
    }
    straight_by_threads[threads] = read_text(a);
  }
  // Not required (a kernel may split a sum by thread count), only reported.
  std::printf("[ measured ] checkpoints with --threads 1 and --threads 2 are %s\n",
              straight_by_threads["1"] == straight_by_threads["2"] ? "identical" : "different");
}

// ---------------------------------------------------------------------------
// Killed runs

// A child process started without waiting for it; stdout and stderr go to
// log_path.
pid_t spawn(const std::vector<std::string> &argv, const std::string &log_path) {
  std::vector<char *> cargv;
  for (const auto &a : argv) cargv.push_back(const_cast<char *>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  return pid;
}

// Whether the file name is "<base>.tmp.<pid>" for one of the given bases;
// sets *pid.
bool temporary_of(const std::string &name, const std::vector<std::string> &bases, long *pid) {
  for (const std::string &b : bases) {
    const std::string prefix = b + ".tmp.";
    if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) continue;
    char *end = nullptr;
    *pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (*end == '\0') return true;
  }
  return false;
}

// What repeated kills of one training run left behind.
struct KillReport {
  std::string checkpoint;
  std::vector<uint64_t> epochs_after_kill;  // the checkpoint's epochs after each kill (0: none yet)
  int mid_save = 0;                         // kills that left a temporary file (killed inside a write)
  uint64_t final_epochs = 0;                // after the last, uninterrupted run
};

// Starts a long training run of a tiny model writing a checkpoint every epoch
// (one batch each), SIGKILLs it after each of ten staggered delays,
// restarting it with --resume once a checkpoint exists, and after each kill
// checks what it left: no checkpoint (killed before the first one) or a
// complete one, as recent as the previous one, that `export` loads; the
// metrics never ahead of it; no file but the checkpoint, its metrics and
// plot, and temporaries named after a killed process (".tmp.<pid>", which no
// later run reads or reuses: each writes its own pid's name with O_EXCL).
// Finally one uninterrupted run resumes and completes one more epoch.
//
// This is probabilistic: whether a kill lands inside a write depends on
// timing, so each run only shows that nothing went wrong at the moments it
// happened to hit (epochs are short and mostly spent saving, so kills often
// land in a save). The deterministic check that the writes are atomic at
// the I/O level is tests/unit/test_io.cpp (AtomicWrite.*: a write failing
// halfway leaves the destination untouched and removes its temporary; a
// successful one replaces the file by rename).
KillReport kill_repeatedly(const ScratchDir &dir) {
  KillReport report;
  const CompiledModel &m = compile_text(dir, "model.toml", sgd_model("tr_memory_rnn_tanh", "tanh"));
  const std::string data = dir.file("memory");
  if (!make_data(m, "memory", 8, 2, data, {"--steps", "5"})) return report;  // one batch per epoch
  const std::string runs = dir.file("runs");
  fs::create_directories(runs);
  const std::string ckpt = runs + "/ckpt.safetensors";
  report.checkpoint = ckpt;
  const std::vector<std::string> bases = {"ckpt.safetensors", "ckpt.safetensors.metrics.csv",
                                          "ckpt.safetensors.curves.svg"};
  auto train = [&](uint64_t epochs) {
    return concat({m.program, "train", "--checkpoint", ckpt, "--epochs", std::to_string(epochs), "--threads", "1"},
                  data_args(data));
  };

  // The first runs may die before their first checkpoint, the later ones
  // during one of many saves.
  const int delays_ms[] = {1, 4, 9, 16, 30, 50, 75, 105, 140, 180};
  std::set<long> killed;
  uint64_t epochs_before = 0;
  for (int k = 0; k < 10; ++k) {
    SCOPED_TRACE("kill " + std::to_string(k) + " after " + std::to_string(delays_ms[k]) + " ms");
    const bool resume = fs::exists(ckpt);
    const std::string log = dir.file("run" + std::to_string(k) + ".log");
    const std::vector<std::string> argv = train(1 << 20);
    const pid_t pid = spawn(resume ? concat(argv, {"--resume"}) : argv, log);
    std::this_thread::sleep_for(std::chrono::milliseconds(delays_ms[k]));
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the run ended before it was killed:\n"
                                                                    << read_text(log);
    killed.insert(pid);

    for (const std::string &name : dir_entries(runs)) {
      long owner = 0;
      if (std::find(bases.begin(), bases.end(), name) != bases.end()) continue;
      EXPECT_TRUE(temporary_of(name, bases, &owner) && killed.count(owner))
          << "unexpected file " << name << " in " << runs << " (entries: " << join(dir_entries(runs)) << ")";
      report.mid_save += owner == pid;
    }
    if (!fs::exists(ckpt)) {
      EXPECT_FALSE(resume) << "the checkpoint disappeared";
      report.epochs_after_kill.push_back(0);
      continue;
    }
    SafeTensorsFile f;
    try {
      f = rnnc_rt::read_safetensors(ckpt);
    } catch (const std::exception &e) {
      ADD_FAILURE() << "the checkpoint left by the killed run is not valid: " << e.what();
      return report;
    }
    const std::vector<uint64_t> rng = tensor_values<uint64_t>(f, "optim.rng");
    const std::vector<int64_t> step = tensor_values<int64_t>(f, "optim.step");
    if (rng.size() != 2 || step.size() != 1) {
      ADD_FAILURE() << "optim.rng holds " << rng.size() << " values, optim.step " << step.size();
      return report;
    }
    EXPECT_EQ(static_cast<uint64_t>(step[0]), rng[1]) << "one optimizer step per epoch";
    EXPECT_GE(rng[1], epochs_before) << "the checkpoint went back in time";
    epochs_before = rng[1];
    report.epochs_after_kill.push_back(rng[1]);
    const RunResult e = run({m.program, "export", "--checkpoint", ckpt, "--output", dir.file("export.safetensors")});
    EXPECT_EQ(e.exit_code, 0) << e.describe();
    if (fs::exists(ckpt + ".metrics.csv")) {
      int64_t last = 0;
      for (const auto &r : metrics_rows(ckpt + ".metrics.csv")) {
        const int64_t epoch = std::atoll(r[0].c_str());
        EXPECT_GT(epoch, last) << "metrics rows out of order";
        last = epoch;
      }
      // The metrics of an epoch are written just before its checkpoint, so
      // a kill between the two leaves them one row ahead, which the resumed
      // run drops and rewrites; never more.
      EXPECT_LE(static_cast<uint64_t>(last), rng[1] + 1) << "the metrics run ahead of the checkpoint";
    }
  }
  EXPECT_GT(epochs_before, 0u) << "no run lived long enough to write a checkpoint";

  const RunResult r = run(concat(train(epochs_before + 1), {"--resume"}));
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  const SafeTensorsFile f = rnnc_rt::read_safetensors(ckpt);
  report.final_epochs = tensor_values<uint64_t>(f, "optim.rng")[1];
  EXPECT_EQ(report.final_epochs, epochs_before + 1);
  EXPECT_EQ(tensor_values<int64_t>(f, "optim.step")[0], static_cast<int64_t>(epochs_before + 1));
  return report;
}

std::string epochs_str(const std::vector<uint64_t> &v) {
  std::vector<std::string> s;
  for (uint64_t e : v) s.push_back(std::to_string(e));
  return join(s, ", ");
}

TEST(KilledRun, LeavesALoadableCheckpoint) {
  const ScratchDir dir;
  const KillReport r = kill_repeatedly(dir);
  std::printf(
      "[ measured ] checkpoint epochs after the 10 kills: %s; %d kills left a temporary file; %llu epochs "
      "in the end\n",
      epochs_str(r.epochs_after_kill).c_str(), r.mid_save, static_cast<unsigned long long>(r.final_epochs));
}

// After kills and resumes, the metrics CSV still has one row per epoch.
TEST(KilledRun, ResumedMetricsKeepARowPerEpoch) {
  const ScratchDir dir;
  const KillReport r = kill_repeatedly(dir);
  ASSERT_GT(r.final_epochs, 0u);
  std::vector<uint64_t> missing;
  uint64_t expected = 1;
  for (const auto &row : metrics_rows(r.checkpoint + ".metrics.csv")) {
    const uint64_t epoch = std::strtoull(row[0].c_str(), nullptr, 10);
    while (expected < epoch) missing.push_back(expected++);
    expected = epoch + 1;
  }
  while (expected <= r.final_epochs) missing.push_back(expected++);
  EXPECT_TRUE(missing.empty())
      << "after " << r.final_epochs << " epochs the metrics CSV lacks the rows of epochs " << epochs_str(missing)
      << "; the checkpoints left by the kills held epochs " << epochs_str(r.epochs_after_kill)
      << ". `train` saves the checkpoint before it rewrites the CSV (runtime/src/program_train.cpp, cmd_train), so "
         "a kill between the two leaves a checkpoint of epoch E with a CSV ending at E - 1, and the resumed run "
         "keeps the rows up to E and appends E + 1 on: epoch E's row is lost.";
}

// ---------------------------------------------------------------------------
// Bad labels

// Expects `train` and `eval` with these labels to exit 1 with a message
// naming the labels file and holding every needle; `train` writes no checkpoint.
void expect_labels_refused(const ScratchDir &dir, const CompiledModel &m, const std::string &case_name,
                           const std::string &labels, const std::vector<std::string> &needles) {
  const std::vector<std::string> data = {
      "--inputs", fixture(case_name, "inputs.npy"), "--lengths", fixture(case_name, "lengths.npy"), "--labels", labels};
  const std::string ckpt = dir.file("refused.safetensors");
  const RunResult train = run(concat({m.program, "train", "--checkpoint", ckpt, "--epochs", "1"}, data));
  const RunResult eval = run(concat({m.program, "eval", "--weights", fixture(case_name, "weights.safetensors")}, data));
  for (const RunResult *r : {&train, &eval}) {
    EXPECT_EQ(r->exit_code, 1) << r->describe();
    EXPECT_TRUE(contains(r->err, labels)) << "the message does not name the labels file\n" << r->describe();
    for (const std::string &n : needles) EXPECT_TRUE(contains(r->err, n)) << "no '" << n << "'\n" << r->describe();
  }
  EXPECT_FALSE(fs::exists(ckpt)) << "a refused run wrote a checkpoint";
}

// Expects `eval` with these labels to succeed.
void expect_labels_accepted(const CompiledModel &m, const std::string &case_name, const std::string &labels) {
  run_ok({m.program, "eval", "--weights", fixture(case_name, "weights.safetensors"), "--inputs",
          fixture(case_name, "inputs.npy"), "--lengths", fixture(case_name, "lengths.npy"), "--labels", labels});
}

// The fixture's lengths as integers.
std::vector<int64_t> fixture_lengths(const std::string &case_name) {
  const NpyArray l = rnnc_rt::read_npy(fixture(case_name, "lengths.npy"));
  std::vector<int64_t> v;
  for (int64_t i = 0; i < l.numel(); ++i) v.push_back(l.dtype == DType::kI32 ? l.as<int32_t>()[i] : l.as<int64_t>()[i]);
  return v;
}

// Readout "last", cross-entropy over 4 classes; 6 sequences of up to 7 steps.
TEST(BadLabels, ClassIdsPerSequence) {
  const ScratchDir dir;
  const std::string c = "train_lstm_tokens_last_ce_adam_clip";
  const CompiledModel &m = compiled_model(fixture(c, "model.toml"));
  const int64_t n = 6, t = 7, classes = 4;
  ASSERT_EQ(m.output_width, classes);
  auto labels = [&](const std::string &name, std::vector<int64_t> v, std::vector<int64_t> shape) {
    const std::string path = dir.file(name);
    rnnc_rt::write_npy(path, DType::kI64, v.data(), shape);
    return path;
  };
  std::vector<int64_t> good = {0, 1, 2, 3, 1, 0};
  expect_labels_accepted(m, c, labels("good.npy", good, {n}));
  std::vector<int32_t> good32(good.begin(), good.end());
  rnnc_rt::write_npy(dir.file("good32.npy"), DType::kI32, good32.data(), {n});
  expect_labels_accepted(m, c, dir.file("good32.npy"));

  std::vector<int64_t> v = good;
  v[2] = classes;
  expect_labels_refused(dir, m, c, labels("too_big.npy", v, {n}), {"class id 4", "sequence 2", "[0, 4)"});
  v = good;
  v[5] = -1;
  expect_labels_refused(dir, m, c, labels("negative.npy", v, {n}), {"class id -1", "sequence 5"});
  v = good;
  v.push_back(0);
  expect_labels_refused(dir, m, c, labels("one_more.npy", v, {n + 1}), {"shape [7]", "[6]"});
  v = good;
  v.pop_back();
  expect_labels_refused(dir, m, c, labels("one_less.npy", v, {n - 1}), {"shape [5]", "[6]"});
  v.assign(static_cast<size_t>(n * t), 1);
  expect_labels_refused(dir, m, c, labels("per_step.npy", v, {n, t}), {"shape [6, 7]", "[6]"});
  std::vector<float> f(good.begin(), good.end());
  rnnc_rt::write_npy(dir.file("float.npy"), DType::kF32, f.data(), {n});
  expect_labels_refused(dir, m, c, dir.file("float.npy"), {"float32"});
}

// Readout "all", cross-entropy over 3 classes per step; 5 sequences of up to 7 steps.
TEST(BadLabels, ClassIdsPerStep) {
  const ScratchDir dir;
  const std::string c = "train_rnn_relu_all_ce_sgd";
  const CompiledModel &m = compiled_model(fixture(c, "model.toml"));
  const NpyArray fixture_labels = rnnc_rt::read_npy(fixture(c, "labels.npy"));
  ASSERT_EQ(fixture_labels.dtype, DType::kI64);
  ASSERT_EQ(fixture_labels.shape, (std::vector<int64_t>{5, 7}));
  const std::vector<int64_t> lengths = fixture_lengths(c);
  const int64_t t = 7;
  std::vector<int64_t> base(fixture_labels.as<int64_t>(), fixture_labels.as<int64_t>() + fixture_labels.numel());
  auto labels = [&](const std::string &name, std::vector<int64_t> v, std::vector<int64_t> shape) {
    const std::string path = dir.file(name);
    rnnc_rt::write_npy(path, DType::kI64, v.data(), shape);
    return path;
  };

  // Junk at padded positions: the fixture's own (-1 and 99), then huge values.
  std::vector<int64_t> junk = base;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t s = lengths[static_cast<size_t>(i)]; s < t; ++s)
      junk[static_cast<size_t>(i * t + s)] = (s % 2) ? -1000000 : 1 << 30;
  expect_labels_accepted(m, c, fixture(c, "labels.npy"));
  expect_labels_accepted(m, c, labels("junk.npy", junk, {5, t}));
  const std::string ckpt = dir.file("junk.safetensors");
  run_ok({m.program, "train", "--inputs", fixture(c, "inputs.npy"), "--lengths", fixture(c, "lengths.npy"), "--labels",
          dir.file("junk.npy"), "--epochs", "1", "--checkpoint", ckpt});

  // An invalid id at a valid position: the last step of sequence 1, the
  // first step of sequence 3.
  std::vector<int64_t> v = base;
  const int64_t last1 = lengths[1] - 1;
  v[static_cast<size_t>(1 * t + last1)] = 3;
  expect_labels_refused(dir, m, c, labels("too_big.npy", v, {5, t}),
                        {"class id 3", "sequence 1", "position " + std::to_string(last1)});
  v = base;
  v[static_cast<size_t>(3 * t)] = -1;
  expect_labels_refused(dir, m, c, labels("negative.npy", v, {5, t}), {"class id -1", "sequence 3", "position 0"});
  v.assign(5, 0);
  expect_labels_refused(dir, m, c, labels("per_sequence.npy", v, {5}), {"shape [5]", "[5, 7]"});
  v.assign(6 * t, 0);
  expect_labels_refused(dir, m, c, labels("one_more.npy", v, {6, t}), {"shape [6, 7]", "[5, 7]"});
}

// MSE against [N, 2] targets; 4 sequences.
TEST(BadLabels, MseTargets) {
  const ScratchDir dir;
  const std::string c = "train_gru_nonlbr_last_mse_sgd_momentum";
  const CompiledModel &m = compiled_model(fixture(c, "model.toml"));
  ASSERT_EQ(m.output_width, 2);
  std::vector<double> d = {0.5, -0.5, 1, 2, 0, 0, -1, 3};
  rnnc_rt::write_npy(dir.file("f64.npy"), DType::kF64, d.data(), {4, 2});
  expect_labels_accepted(m, c, dir.file("f64.npy"));

  std::vector<int64_t> ints = {0, 1, 1, 0, 0, 1, 1, 0};
  rnnc_rt::write_npy(dir.file("int.npy"), DType::kI64, ints.data(), {4, 2});
  expect_labels_refused(dir, m, c, dir.file("int.npy"), {"int64", "float"});
  std::vector<float> f(10, 0.5f);
  rnnc_rt::write_npy(dir.file("one_more.npy"), DType::kF32, f.data(), {5, 2});
  expect_labels_refused(dir, m, c, dir.file("one_more.npy"), {"shape [5, 2]", "[4, 2]"});
  rnnc_rt::write_npy(dir.file("flat.npy"), DType::kF32, f.data(), {4});
  expect_labels_refused(dir, m, c, dir.file("flat.npy"), {"shape [4]", "[4, 2]"});
}

TEST(BadLabels, ModelWithoutLossIsNotTrained) {
  const ScratchDir dir;
  const std::string c = "fwd_rnn_tanh_last";
  const CompiledModel &m = compiled_model(fixture(c, "model.toml"));
  std::vector<int64_t> labels = {0, 1, 2, 0, 1};
  rnnc_rt::write_npy(dir.file("labels.npy"), DType::kI64, labels.data(), {5});
  const std::string ckpt = dir.file("ckpt.safetensors");
  const RunResult r = run({m.program, "train", "--inputs", fixture(c, "inputs.npy"), "--lengths",
                           fixture(c, "lengths.npy"), "--labels", dir.file("labels.npy"), "--checkpoint", ckpt});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "no loss") && contains(r.err, "none")) << r.describe();
  EXPECT_FALSE(fs::exists(ckpt));
}

// ---------------------------------------------------------------------------
// Divergence

// Reads the whole file, or "" when it does not exist.
std::string file_or_empty(const std::string &path) { return fs::exists(path) ? read_text(path) : std::string(); }

// Trains the relu model one epoch, then resumes it with `extra` arguments
// and, when input_scale is not 1, its inputs multiplied by input_scale; the
// resumed run must stop in epoch 2 leaving the checkpoint, metrics and plot
// of epoch 1 byte for byte. Returns the resumed run's stderr.
std::string diverge_in_epoch_two(const ScratchDir &dir, const std::vector<std::string> &extra, float input_scale) {
  const CompiledModel &m = compile_text(dir, "model.toml", sgd_model("tr_memory_rnn_relu", "relu"));
  const std::string data = dir.file("memory");
  if (!make_data(m, "memory", 32, 1, data, {"--steps", "12"})) return "";  // 4 batches of 8
  const std::string ckpt = dir.file("ckpt.safetensors");
  if (!run_ok(concat({m.program, "train", "--checkpoint", ckpt, "--epochs", "1"}, data_args(data)))) return "";
  const std::string saved = read_text(ckpt), csv = read_text(ckpt + ".metrics.csv");
  const std::string svg = read_text(ckpt + ".curves.svg");

  std::string inputs = data + "/inputs.npy";
  if (input_scale != 1.0f) {
    const NpyArray x = rnnc_rt::read_npy(inputs);
    EXPECT_EQ(x.dtype, DType::kF32);
    std::vector<float> scaled(x.as<float>(), x.as<float>() + x.numel());
    for (float &v : scaled) v *= input_scale;
    inputs = dir.file("scaled_inputs.npy");
    rnnc_rt::write_npy(inputs, DType::kF32, scaled.data(), x.shape);
  }
  const RunResult r = run(concat({m.program, "train", "--checkpoint", ckpt, "--epochs", "3", "--resume", "--inputs",
                                  inputs, "--labels", data + "/labels.npy", "--lengths", data + "/lengths.npy"},
                                 extra));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "diverged") && contains(r.err, "epoch 2") && contains(r.err, "batch "))
      << "the message should name the epoch and the batch\n"
      << r.describe();
  EXPECT_TRUE(file_or_empty(ckpt) == saved) << "the checkpoint changed although epoch 2 failed";
  EXPECT_TRUE(file_or_empty(ckpt + ".metrics.csv") == csv) << "the metrics changed although epoch 2 failed";
  EXPECT_TRUE(file_or_empty(ckpt + ".curves.svg") == svg) << "the plot changed although epoch 2 failed";
  const std::vector<std::string> left = dir_entries(dir.path());
  EXPECT_TRUE(std::none_of(left.begin(), left.end(), [](const std::string &n) { return contains(n, ".tmp."); }))
      << "temporary files left: " << join(left);
  return r.err;
}

// Whether the message names a parameter ("layers.<i>.<tensor>") or a layer ("layer <i>").
bool names_a_layer(const std::string &message) {
  return std::regex_search(message, std::regex("layers\\.[0-9]+\\.[a-z_0-9]+|layer [0-9]+"));
}

// SGD at the largest learning rate the flag allows (1e6; --lr 1e30 is
// refused as a usage error) makes the relu model's activations overflow
// within a few steps of epoch 2.
TEST(Divergence, HugeLearningRateStopsInEpochTwoKeepingEpochOne) {
  const ScratchDir dir;
  const std::string err = diverge_in_epoch_two(dir, {"--lr", "1e6"}, 1.0f);
  EXPECT_TRUE(names_a_layer(err))
      << "the divergence message names no layer or parameter (runtime/src/train.h promises the layer):\n"
      << err;
}

// Inputs scaled to about 1e30 in epoch 2 (the model is unchanged) give a
// finite loss but gradients whose squares overflow: the message names the
// parameter and its layer.
TEST(Divergence, NonFiniteGradientNamesTheParameter) {
  const ScratchDir dir;
  const std::string err = diverge_in_epoch_two(dir, {}, 1e30f);
  EXPECT_TRUE(contains(err, "batch 1 of 4")) << err;
  EXPECT_TRUE(std::regex_search(err, std::regex("gradient of layers\\.[0-9]+\\.[a-z_0-9]+ in layer [0-9]+"))) << err;
}

// ---------------------------------------------------------------------------
// Data sets and metrics

TEST(DataCommand, ParityAndMemorySets) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kDropoutModel);
  ASSERT_EQ(m.vocab, 10);

  // parity: tokens [N, 20] int64 in the model's vocabulary, lengths 5..20,
  // label = parity of the sum of the tokens before the length.
  ASSERT_TRUE(make_data(m, "parity", 300, 7, dir.file("p7")));
  const NpyArray x = rnnc_rt::read_npy(dir.file("p7/inputs.npy")), l = rnnc_rt::read_npy(dir.file("p7/lengths.npy"));
  const NpyArray y = rnnc_rt::read_npy(dir.file("p7/labels.npy"));
  ASSERT_EQ(x.dtype, DType::kI64);
  ASSERT_EQ(x.shape, (std::vector<int64_t>{300, 20}));
  ASSERT_EQ(l.dtype, DType::kI64);
  ASSERT_EQ(l.shape, std::vector<int64_t>{300});
  ASSERT_EQ(y.dtype, DType::kI64);
  ASSERT_EQ(y.shape, std::vector<int64_t>{300});
  std::set<int64_t> seen_lengths, seen_labels;
  for (int64_t i = 0; i < 300; ++i) {
    const int64_t len = l.as<int64_t>()[i];
    ASSERT_TRUE(len >= 5 && len <= 20) << "length of sequence " << i << ": " << len;
    int64_t sum = 0;
    for (int64_t s = 0; s < len; ++s) {
      const int64_t tok = x.as<int64_t>()[i * 20 + s];
      ASSERT_TRUE(tok >= 0 && tok < 10) << "token " << tok << " of sequence " << i;
      sum += tok;
    }
    EXPECT_EQ(y.as<int64_t>()[i], sum % 2) << "label of sequence " << i;
    seen_lengths.insert(len);
    seen_labels.insert(y.as<int64_t>()[i]);
  }
  EXPECT_EQ(seen_lengths.size(), 16u) << "300 sequences should show every length 5..20";
  EXPECT_EQ(seen_labels.size(), 2u);

  // memory: features [N, 50, 1] float32, every length 50, label = first input > 0.
  ASSERT_TRUE(make_data(m, "memory", 100, 7, dir.file("m7")));
  const NpyArray mx = rnnc_rt::read_npy(dir.file("m7/inputs.npy")), ml = rnnc_rt::read_npy(dir.file("m7/lengths.npy"));
  const NpyArray my = rnnc_rt::read_npy(dir.file("m7/labels.npy"));
  ASSERT_EQ(mx.dtype, DType::kF32);
  ASSERT_EQ(mx.shape, (std::vector<int64_t>{100, 50, 1}));
  ASSERT_EQ(ml.shape, std::vector<int64_t>{100});
  ASSERT_EQ(my.dtype, DType::kI64);
  ASSERT_EQ(my.shape, std::vector<int64_t>{100});
  int64_t ones = 0;
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(ml.dtype == DType::kI32 ? ml.as<int32_t>()[i] : ml.as<int64_t>()[i], 50) << "sequence " << i;
    EXPECT_EQ(my.as<int64_t>()[i], mx.as<float>()[i * 50] > 0 ? 1 : 0) << "label of sequence " << i;
    ones += my.as<int64_t>()[i];
  }
  EXPECT_TRUE(ones > 20 && ones < 80) << ones << " of 100 labels are 1";

  // Same seed, same files; another seed, other inputs.
  ASSERT_TRUE(make_data(m, "parity", 300, 7, dir.file("p7b")));
  ASSERT_TRUE(make_data(m, "parity", 300, 8, dir.file("p8")));
  ASSERT_TRUE(make_data(m, "memory", 100, 7, dir.file("m7b")));
  ASSERT_TRUE(make_data(m, "memory", 100, 8, dir.file("m8")));
  for (const std::string f : {"inputs.npy", "labels.npy", "lengths.npy"}) {
    EXPECT_EQ(read_text(dir.file("p7/" + f)), read_text(dir.file("p7b/" + f))) << "parity seed 7 twice: " << f;
    EXPECT_EQ(read_text(dir.file("m7/" + f)), read_text(dir.file("m7b/" + f))) << "memory seed 7 twice: " << f;
  }
  EXPECT_NE(read_text(dir.file("p7/inputs.npy")), read_text(dir.file("p8/inputs.npy"))) << "parity seeds 7 and 8";
  EXPECT_NE(read_text(dir.file("p7/lengths.npy")), read_text(dir.file("p8/lengths.npy"))) << "parity seeds 7 and 8";
  EXPECT_NE(read_text(dir.file("m7/inputs.npy")), read_text(dir.file("m8/inputs.npy"))) << "memory seeds 7 and 8";
}

TEST(TrainingMetrics, CsvRowPerEpochAndPlot) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kDropoutModel);
  ASSERT_TRUE(make_data(m, "parity", 32, 1, dir.file("train")));
  ASSERT_TRUE(make_data(m, "parity", 16, 2, dir.file("val")));
  const std::string with_val = dir.file("with_val.safetensors"), without = dir.file("without.safetensors");
  const std::vector<std::string> train = concat({m.program, "train", "--epochs", "3"}, data_args(dir.file("train")));
  ASSERT_TRUE(
      run_ok(concat(train, {"--checkpoint", with_val, "--val-inputs", dir.file("val/inputs.npy"), "--val-labels",
                            dir.file("val/labels.npy"), "--val-lengths", dir.file("val/lengths.npy")})));
  expect_metrics(with_val, 3, true, true);
  ASSERT_TRUE(run_ok(concat(train, {"--checkpoint", without})));
  expect_metrics(without, 3, true, false);
}

// ---------------------------------------------------------------------------
// The device memory layer, on the emulated device (runtime/src/memory.h)

// A token model whose weights (about 330 KB) outweigh an epoch's data.
const char *const kWideModel =
    "name = \"tr_device_wide\"\n"
    "[input]\nkind = \"tokens\"\nvocab = 10\n"
    "[[layers]]\nkind = \"embedding\"\ndim = 32\n"
    "[[layers]]\nkind = \"lstm\"\nhidden = 128\n"
    "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n"
    "[[layers]]\nkind = \"linear\"\nout = 2\n"
    "[loss]\nkind = \"cross_entropy\"\n"
    "[train]\noptimizer = \"adam\"\nlearning_rate = 0.01\nepochs = 3\nbatch_size = 16\nseed = 2\n";

struct Transfers {
  int64_t uploads = 0, upload_bytes = 0, downloads = 0, download_bytes = 0;
};

// What a run with RNNC_DEVICE_STATS=1 reported crossing; fails the test
// when the report is missing.
Transfers transfers_of(const RunResult &r) {
  static const std::regex line(
      R"(rnnc emulated device: (\d+) uploads \((\d+) bytes\), (\d+) downloads \((\d+) bytes\))");
  std::smatch mt;
  Transfers t;
  EXPECT_TRUE(std::regex_search(r.err, mt, line)) << r.describe();
  if (mt.empty()) return t;
  t.uploads = std::stoll(mt[1]);
  t.upload_bytes = std::stoll(mt[2]);
  t.downloads = std::stoll(mt[3]);
  t.download_bytes = std::stoll(mt[4]);
  return t;
}

// Training with every array on the emulated device writes the checkpoint
// and metrics of a host-memory run bit for bit (dropout masks and a
// validation set included).
TEST(EmulatedDevice, TrainsBitIdenticallyToHostMemory) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kDropoutModel);
  ASSERT_TRUE(make_data(m, "parity", 48, 1, dir.file("train")));
  ASSERT_TRUE(make_data(m, "parity", 16, 2, dir.file("val")));
  const std::vector<std::string> train =
      concat(concat({m.program, "train", "--epochs", "3"}, data_args(dir.file("train"))),
             {"--val-inputs", dir.file("val/inputs.npy"), "--val-labels", dir.file("val/labels.npy"), "--val-lengths",
              dir.file("val/lengths.npy")});
  const std::string host = dir.file("host.safetensors"), device = dir.file("device.safetensors");
  const RunResult h = run(concat(train, {"--checkpoint", host}), {"RNNC_EMULATE_DEVICE=0"});
  const RunResult d = run(concat(train, {"--checkpoint", device}), {"RNNC_EMULATE_DEVICE=1", "RNNC_DEVICE_STATS=1"});
  ASSERT_EQ(h.exit_code, 0) << h.describe();
  ASSERT_EQ(d.exit_code, 0) << d.describe();
  EXPECT_FALSE(contains(h.err, "emulated device")) << h.describe();
  EXPECT_GT(transfers_of(d).uploads, 0) << "the run did not use the emulated device";
  EXPECT_TRUE(same_tensors(host, device));
  expect_same_metrics(host, device);
}

// The weights go to the device once and stay: each further epoch uploads
// only its batches' data (well under one copy of the weights), and what
// comes back per epoch is the checkpoint (weights and Adam's two slots)
// plus a few floats per batch (the loss, the outputs, the gradient norms).
TEST(EmulatedDevice, WeightsCrossOnceAndResultsOnlyWhenAskedFor) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kWideModel);
  ASSERT_TRUE(make_data(m, "parity", 48, 1, dir.file("train")));  // 3 batches of 16 per epoch
  const int64_t weight_bytes = m.num_params * static_cast<int64_t>(sizeof(float));
  std::vector<Transfers> runs;
  for (int epochs = 1; epochs <= 3; ++epochs) {
    const RunResult r =
        run(concat(concat({m.program, "train", "--epochs", std::to_string(epochs)}, data_args(dir.file("train"))),
                   {"--checkpoint", dir.file("e" + std::to_string(epochs) + ".safetensors")}),
            {"RNNC_EMULATE_DEVICE=1", "RNNC_DEVICE_STATS=1"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    runs.push_back(transfers_of(r));
  }
  EXPECT_GE(runs[0].upload_bytes, weight_bytes) << "the weights never went to the device";
  const Transfers d1{runs[1].uploads - runs[0].uploads, runs[1].upload_bytes - runs[0].upload_bytes,
                     runs[1].downloads - runs[0].downloads, runs[1].download_bytes - runs[0].download_bytes};
  const Transfers d2{runs[2].uploads - runs[1].uploads, runs[2].upload_bytes - runs[1].upload_bytes,
                     runs[2].downloads - runs[1].downloads, runs[2].download_bytes - runs[1].download_bytes};
  // Every epoch after the first moves the same.
  EXPECT_EQ(d1.uploads, d2.uploads);
  EXPECT_EQ(d1.upload_bytes, d2.upload_bytes);
  EXPECT_EQ(d1.downloads, d2.downloads);
  EXPECT_EQ(d1.download_bytes, d2.download_bytes);
  EXPECT_GT(d1.upload_bytes, 0);
  EXPECT_LT(d1.upload_bytes, weight_bytes / 2) << "an epoch uploads more than its data";
  EXPECT_GE(d1.download_bytes, 3 * weight_bytes) << "the checkpoint did not come back";
  EXPECT_LT(d1.download_bytes, 3 * weight_bytes + weight_bytes / 10) << "an epoch downloads more than its results";
}

// ---------------------------------------------------------------------------
// Faults: signals, a full disk, an unwritable directory, non-finite data

// SIGINT and SIGTERM during `train` finish the batch, write a checkpoint
// that records the epoch and batch, and exit 130 / 143 with a message;
// --resume then ends bit for bit where an uninterrupted run ends, with the
// same metrics.
TEST(Interrupted, SigintAndSigtermCheckpointInsideAnEpochAndResumeBitForBit) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kDropoutModel);
  // 5,000 batches of 4 per epoch: long enough (about half a second) for a
  // signal sent after the first lines to land inside an epoch.
  ASSERT_TRUE(make_data(m, "parity", 20000, 1, dir.file("train")));
  const std::vector<std::string> train =
      concat(concat({m.program, "train", "--epochs", "2", "--batch-size", "4"}, data_args(dir.file("train"))), {});
  const std::string straight = dir.file("straight.safetensors");
  ASSERT_TRUE(run_ok(concat(train, {"--checkpoint", straight})));
  for (const int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    const std::string ckpt = dir.file(std::string(sig == SIGINT ? "int" : "term") + ".safetensors");
    const std::string log = ckpt + ".log";
    const pid_t pid = spawn(concat(train, {"--checkpoint", ckpt}), log);
    // Wait for the run to start training, then signal it.
    auto log_text = [&] { return std::filesystem::exists(log) ? read_text(log) : std::string(); };
    for (int i = 0; i < 600 && !contains(log_text(), "training "); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(pid, sig);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string out = read_text(log);
    ASSERT_TRUE(WIFEXITED(status)) << out;
    ASSERT_EQ(WEXITSTATUS(status), 128 + sig) << out;
    EXPECT_TRUE(contains(out, std::string("stopped by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"))) << out;
    EXPECT_TRUE(contains(out, "--resume")) << out;
    const SafeTensorsFile f = rnnc_rt::read_safetensors(ckpt);
    const std::vector<int64_t> where = tensor_values<int64_t>(f, "optim.progress");
    ASSERT_EQ(where.size(), 5u);
    EXPECT_EQ(static_cast<uint64_t>(where[0]), tensor_values<uint64_t>(f, "optim.rng")[1] + 1);
    EXPECT_GE(where[1], 1);
    EXPECT_LE(where[1], 5000);
    EXPECT_TRUE(contains(out, "in epoch " + std::to_string(where[0]) + " after batch " + std::to_string(where[1])))
        << out;
    const RunResult resumed = run(concat(train, {"--checkpoint", ckpt, "--resume"}));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.describe();
    EXPECT_TRUE(contains(resumed.out, "resuming in epoch " + std::to_string(where[0]))) << resumed.describe();
    EXPECT_TRUE(same_tensors(straight, ckpt));
    expect_same_metrics(straight, ckpt);
    std::printf("[ measured ] %s stopped the run in epoch %lld after batch %lld of 5000; resumed bit for bit\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(where[0]),
                static_cast<long long>(where[1]));
  }
}

// A checkpoint write that fails (here: past a file-size limit, as on a full
// disk) is reported naming the file, and the previous checkpoint stays.
TEST(Faults, AFailedCheckpointWriteKeepsThePreviousOne) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kWideModel);  // a checkpoint of about 1 MB
  ASSERT_TRUE(make_data(m, "parity", 32, 1, dir.file("train")));
  const std::string ckpt = dir.file("c.safetensors");
  const std::vector<std::string> train = concat({m.program, "train"}, data_args(dir.file("train")));
  ASSERT_TRUE(run_ok(concat(train, {"--epochs", "1", "--checkpoint", ckpt})));
  const std::string before = read_text(ckpt);
  ASSERT_GT(before.size(), 200000u);
  // The metrics and plot (a few KB) fit under the limit, the checkpoint not.
  const RunResult r = run(
      concat({"prlimit", "--fsize=100000", "--"}, concat(train, {"--epochs", "2", "--resume", "--checkpoint", ckpt})));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, ckpt + ": write error")) << r.describe();
  EXPECT_TRUE(contains(r.err, "keeps its previous contents")) << r.describe();
  EXPECT_EQ(read_text(ckpt), before) << "the previous checkpoint changed";
  for (const std::string &name : dir_entries(dir.path()))
    EXPECT_FALSE(contains(name, ".tmp.")) << "a temporary file was left: " << name;
  // It still resumes.
  ASSERT_TRUE(run_ok(concat(train, {"--epochs", "2", "--resume", "--checkpoint", ckpt})));
}

// A checkpoint that cannot be written is refused before any data is read
// or any epoch runs.
TEST(Faults, AnUnwritableCheckpointDirectoryIsRefusedFirst) {
  const ScratchDir dir;
  const CompiledModel &m = compile_text(dir, "model.toml", kDropoutModel);
  ASSERT_TRUE(make_data(m, "parity", 32, 1, dir.file("train")));
  // /proc takes no new files, for root too; a missing directory; a file
  // where the directory should be.
  write_text(dir.file("plain"), "x");
  for (const std::string &ckpt : {std::string("/proc/rnnc-test.safetensors"), dir.file("missing/c.safetensors"),
                                  dir.file("plain/c.safetensors")}) {
    SCOPED_TRACE(ckpt);
    // Inputs that do not exist: the directory must be refused before they are read.
    const RunResult r = run(
        {m.program, "train", "--inputs", dir.file("none.npy"), "--labels", dir.file("none.npy"), "--checkpoint", ckpt});
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_TRUE(contains(r.err, "checkpoint")) << r.describe();
    EXPECT_FALSE(contains(r.err, "none.npy")) << r.describe();
  }
}

// NaN or Inf in the data a run reads is refused before training, naming the
// file and the element; values in padding past a sequence's length are not read.
TEST(Faults, NonFiniteDataIsReportedWithFileAndIndex) {
  const ScratchDir dir;
  const CompiledModel &m =
      compile_text(dir, "model.toml",
                   "name = \"tr_nonfinite\"\n[input]\nkind = \"features\"\nsize = 2\n"
                   "[[layers]]\nkind = \"gru\"\nhidden = 4\n[[layers]]\nkind = \"readout\"\nmode = \"last\"\n"
                   "[[layers]]\nkind = \"linear\"\nout = 1\n[loss]\nkind = \"mse\"\n"
                   "[train]\noptimizer = \"sgd\"\nlearning_rate = 0.01\nepochs = 1\nbatch_size = 4\n");
  const int64_t n = 4, t = 3;
  std::vector<float> x(n * t * 2, 0.25f), y(n, 0.5f);
  const std::vector<int32_t> lengths = {3, 2, 3, 1};
  auto write_all = [&](const std::vector<float> &xs, const std::vector<double> &x64, const std::vector<float> &ys) {
    if (x64.empty())
      rnnc_rt::write_npy(dir.file("x.npy"), DType::kF32, xs.data(), {n, t, 2});
    else
      rnnc_rt::write_npy(dir.file("x.npy"), DType::kF64, x64.data(), {n, t, 2});
    rnnc_rt::write_npy(dir.file("y.npy"), DType::kF32, ys.data(), {n, 1});
    rnnc_rt::write_npy(dir.file("l.npy"), DType::kI32, lengths.data(), {n});
  };
  const std::vector<std::string> train = {
      m.program,         "train",     "--inputs",        dir.file("x.npy"), "--labels",
      dir.file("y.npy"), "--lengths", dir.file("l.npy"), "--checkpoint",    dir.file("c.safetensors")};
  auto expect_refused = [&](const std::string &needle) {
    const RunResult r = run(train);
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_TRUE(contains(r.err, needle)) << "wanted '" << needle << "' in: " << r.describe();
    EXPECT_FALSE(contains(r.out, "epoch 1/")) << r.describe();
  };
  std::vector<float> bad = x;
  bad[(1 * t + 1) * 2 + 1] = std::nanf("");  // sequence 1, step 1, feature 1
  write_all(bad, {}, y);
  expect_refused("x.npy: element [1, 1, 1] is NaN");
  bad = x;
  bad[(2 * t + 0) * 2 + 0] = -INFINITY;
  write_all(bad, {}, y);
  expect_refused("x.npy: element [2, 0, 0] is -inf");
  std::vector<double> big(x.begin(), x.end());
  big[(0 * t + 2) * 2 + 0] = 1e300;  // finite in float64, not in float32
  write_all({}, big, y);
  expect_refused("x.npy: element [0, 2, 0] is 1e+300, beyond float32's range");
  std::vector<float> bad_y = y;
  bad_y[3] = INFINITY;
  write_all(x, {}, bad_y);
  expect_refused("y.npy: target [3, 0] is inf");
  // NaN past sequence 3's length (1) is padding: accepted.
  bad = x;
  bad[(3 * t + 2) * 2 + 0] = std::nanf("");
  write_all(bad, {}, y);
  EXPECT_TRUE(run_ok(train));
}

}  // namespace
}  // namespace rnnc_e2e
