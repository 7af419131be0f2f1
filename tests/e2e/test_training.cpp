// End-to-end checks of training against references: every PyTorch training
// fixture (tests/fixtures/train_*) through the generated program's `eval`,
// `gradnorm` and one full-batch `train` step, and the gradients of the C
// API (<name>_gradients) against central finite differences of <name>_loss
// on small dropout-free models with random weights and batches.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e_util.h"
#include "io/npy.h"
#include "io/safetensors.h"

namespace rnnc_e2e {
namespace {

using rnnc_rt::DType;
using rnnc_rt::SafeTensor;
using rnnc_rt::SafeTensorsFile;

// ---------------------------------------------------------------------------
// Tolerances against the fixtures

// loss.npy is computed in float64; the program's loss is a float32 forward
// summed in double.
constexpr double kLossTol = 1e-5;
// grads.safetensors holds float64 gradients rounded to float32; ours are a
// float32 backward pass. Per tensor: max |ours - theirs| / max(max |theirs|,
// kGradFloor); the floor keeps a tensor whose gradient is (nearly) zero from
// turning rounding noise into a large relative error.
constexpr double kGradTol = 1e-4;
constexpr double kGradFloor = 1e-6;
// after_step.safetensors is PyTorch's own float32 step. Per tensor:
// max |ours - theirs| <= kStepTol * max(1, max |w|).
constexpr double kStepTol = 1e-5;
// Adam's first step moves each element by lr * g / (|g| + eps): elements whose
// effective gradient (with weight decay) is below this size are decided by
// rounding of the gradient's sign and size (tests/fixtures/README.md), so they
// are only held to Adam's bound on the step, |dw| <= lr. (Measured: today
// they agree with PyTorch as closely as the others, within 1.5e-7; their
// error is logged separately.)
constexpr double kAdamTinyGrad = 1e-6;

// A safetensors file's F32 tensors as floats, in file order.
struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

std::vector<NamedTensor> read_f32_tensors(const std::string &path) {
  const SafeTensorsFile f = rnnc_rt::read_safetensors(path);
  std::vector<NamedTensor> out;
  for (const SafeTensor &t : f.tensors) {
    if (t.dtype != "F32") continue;
    NamedTensor n{t.name, t.shape, std::vector<float>(t.data.size() / sizeof(float))};
    std::memcpy(n.data.data(), t.data.data(), t.data.size());
    out.push_back(std::move(n));
  }
  return out;
}

const NamedTensor *find_tensor(const std::vector<NamedTensor> &ts, const std::string &name) {
  for (const NamedTensor &t : ts)
    if (t.name == name) return &t;
  return nullptr;
}

double max_abs(const std::vector<float> &v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

// The number `key` of the one JSON object the program printed.
double json_number(const std::string &text, const std::string &key) {
  const nlohmann::json j = nlohmann::json::parse(text);
  if (!j.contains(key) || !j.at(key).is_number()) throw std::runtime_error("no number '" + key + "' in: " + text);
  return j.at(key).get<double>();
}

// The value of `key = <number>` in a fixture's model.toml (the files are
// written by make_fixtures.py, one key per line); fallback when absent.
double toml_number(const std::string &toml, const std::string &key, double fallback) {
  for (const std::string &line : lines_of(toml))
    if (line.rfind(key + " = ", 0) == 0) return std::strtod(line.c_str() + key.size() + 3, nullptr);
  return fallback;
}

// The worst per-tensor error of one comparison, for the log.
struct Worst {
  double error = 0;
  std::string where;
  void note(double e, const std::string &w) {
    if (e > error || where.empty()) {
      error = e;
      where = w;
    }
  }
};

class TrainFixture : public ::testing::TestWithParam<std::string> {
 protected:
  std::string fixture(const std::string &file) const { return fixtures_dir() + "/" + GetParam() + "/" + file; }
  std::vector<std::string> data_args() const {
    return {"--inputs", fixture("inputs.npy"), "--labels", fixture("labels.npy"), "--lengths", fixture("lengths.npy")};
  }
  std::vector<std::string> command(const CompiledModel &m, const std::string &cmd,
                                   const std::vector<std::string> &extra) const {
    std::vector<std::string> argv = {m.program, cmd};
    const std::vector<std::string> data = data_args();
    argv.insert(argv.end(), data.begin(), data.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
};

TEST(TrainFixtureCases, AreFoundAndComplete) {
  const std::vector<std::string> names = fixture_cases("train_");
  ASSERT_FALSE(names.empty()) << "no train_* directory in " << fixtures_dir();
  for (const std::string &n : names)
    for (const char *f : {"model.toml", "weights.safetensors", "inputs.npy", "lengths.npy", "labels.npy", "loss.npy",
                          "grads.safetensors", "after_step.safetensors"})
      EXPECT_TRUE(fs::is_regular_file(fixtures_dir() + "/" + n + "/" + f)) << n << " lacks " << f;
}

// The three checks share one test, so that ctest (one process per test)
// compiles each case's model once.
TEST_P(TrainFixture, LossGradientsAndOneStepMatchPyTorch) {
  const ScratchDir dir;
  const CompiledModel &m = compiled_model(fixture("model.toml"));
  const std::string weights = fixture("weights.safetensors");

  // (a) eval --json: the loss of the whole batch.
  {
    SCOPED_TRACE("eval");
    const RunResult r = run(command(m, "eval", {"--weights", weights, "--json"}));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const rnnc_rt::NpyArray expected = rnnc_rt::read_npy(fixture("loss.npy"));
    ASSERT_EQ(expected.dtype, DType::kF64);
    ASSERT_EQ(expected.numel(), 1);
    const double want = expected.as<double>()[0], got = json_number(r.out, "loss");
    const double rel = std::fabs(got - want) / std::fabs(want);
    std::printf("[ measured ] %s loss: %.9g vs %.9g, relative error %.3g\n", GetParam().c_str(), got, want, rel);
    EXPECT_LE(rel, kLossTol) << "eval loss " << got << ", PyTorch (float64) " << want << "\n" << r.describe();
  }

  const std::vector<NamedTensor> before = read_f32_tensors(weights);
  const std::vector<NamedTensor> ref_grads = read_f32_tensors(fixture("grads.safetensors"));

  // (b) gradnorm --output: the gradient of every parameter.
  {
    SCOPED_TRACE("gradnorm");
    const std::string out = dir.file("grads.safetensors");
    const RunResult r = run(command(m, "gradnorm", {"--weights", weights, "--json", "--output", out}));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const std::vector<NamedTensor> got = read_f32_tensors(out);
    ASSERT_EQ(got.size(), ref_grads.size()) << "gradient tensors written: " << got.size();
    Worst worst;
    for (const NamedTensor &want : ref_grads) {
      const NamedTensor *g = find_tensor(got, want.name);
      ASSERT_NE(g, nullptr) << out << " lacks " << want.name;
      ASSERT_EQ(g->shape, want.shape) << want.name;
      double diff = 0;
      size_t at = 0;
      for (size_t i = 0; i < want.data.size(); ++i) {
        const double d =
            std::isfinite(g->data[i]) ? std::fabs(static_cast<double>(g->data[i]) - want.data[i]) : INFINITY;
        if (d > diff) diff = d, at = i;
      }
      const double rel = diff / std::max(max_abs(want.data), kGradFloor);
      worst.note(rel, want.name);
      EXPECT_LE(rel, kGradTol) << "gradient of " << want.name << ": max |diff| / max |expected| = " << rel
                               << "; worst at flat index " << at << ": " << g->data[at] << ", expected "
                               << want.data[at];
    }
    std::printf("[ measured ] %s gradients: worst relative error %.3g (%s)\n", GetParam().c_str(), worst.error,
                worst.where.c_str());
  }

  // (c) one optimizer step on the whole batch, then export.
  {
    SCOPED_TRACE("train one step");
    const std::string ckpt = dir.file("ckpt.safetensors"), exported = dir.file("after.safetensors");
    const RunResult r =
        run(command(m, "train", {"--weights", weights, "--epochs", "1", "--batch-size", "4096", "--checkpoint", ckpt}));
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const RunResult e = run({m.program, "export", "--checkpoint", ckpt, "--output", exported});
    ASSERT_EQ(e.exit_code, 0) << e.describe();

    // The run's metrics: the documented header and one row for its epoch; the
    // plot is an SVG document.
    const std::vector<std::string> csv = lines_of(read_text(ckpt + ".metrics.csv"));
    ASSERT_EQ(csv.size(), 2u) << read_text(ckpt + ".metrics.csv");
    EXPECT_EQ(csv[0], "epoch,train_loss,train_acc,val_loss,val_acc,seconds");
    EXPECT_EQ(csv[1].rfind("1,", 0), 0u) << csv[1];
    EXPECT_EQ(read_text(ckpt + ".curves.svg").rfind("<svg", 0), 0u);

    const SafeTensorsFile ck = rnnc_rt::read_safetensors(ckpt);
    const SafeTensor *step = ck.find("optim.step");
    ASSERT_NE(step, nullptr) << ckpt << " lacks optim.step";
    ASSERT_EQ(step->dtype, "I64");
    ASSERT_EQ(step->data.size(), sizeof(int64_t));
    int64_t steps = 0;
    std::memcpy(&steps, step->data.data(), sizeof steps);
    EXPECT_EQ(steps, 1) << "one epoch of one full batch is one optimizer step";

    const std::string toml = read_text(fixture("model.toml"));
    const bool adam = contains(toml, "optimizer = \"adam\"");
    const double lr = toml_number(toml, "learning_rate", 1e-3);
    const double wd = toml_number(toml, "weight_decay", 0.0);
    const std::vector<NamedTensor> got = read_f32_tensors(exported);
    const std::vector<NamedTensor> want_all = read_f32_tensors(fixture("after_step.safetensors"));
    ASSERT_EQ(got.size(), want_all.size()) << "exported tensors: " << got.size();
    Worst worst, tiny;
    int relaxed = 0;
    for (const NamedTensor &want : want_all) {
      const NamedTensor *w = find_tensor(got, want.name);
      const NamedTensor *w0 = find_tensor(before, want.name);
      const NamedTensor *g = find_tensor(ref_grads, want.name);
      ASSERT_TRUE(w && w0 && g) << want.name << " missing from the export, the weights or the gradients";
      ASSERT_EQ(w->shape, want.shape) << want.name;
      const double scale = std::max(1.0, max_abs(want.data));
      double diff = 0;
      size_t at = 0;
      for (size_t i = 0; i < want.data.size(); ++i) {
        const double d =
            std::isfinite(w->data[i]) ? std::fabs(static_cast<double>(w->data[i]) - want.data[i]) : INFINITY;
        const double g_eff = static_cast<double>(g->data[i]) + wd * w0->data[i];
        if (adam && std::fabs(g_eff) < kAdamTinyGrad) {
          ++relaxed;
          tiny.note(d / scale, want.name);
          const double moved = std::fabs(static_cast<double>(w->data[i]) - w0->data[i]);
          EXPECT_LE(moved, lr * (1 + 1e-3) + kStepTol * scale)
              << want.name << "[" << i << "] (gradient " << g_eff << ") moved by " << moved << ", more than lr " << lr;
          continue;
        }
        if (d > diff) diff = d, at = i;
      }
      worst.note(diff / scale, want.name);
      EXPECT_LE(diff, kStepTol * scale) << want.name << " after one step: max |diff| = " << diff << " > " << kStepTol
                                        << " * " << scale << "; worst at flat index " << at << ": " << w->data[at]
                                        << ", expected " << want.data[at] << " (before " << w0->data[at]
                                        << ", gradient " << g->data[at] << ")";
    }
    std::printf(
        "[ measured ] %s after one step: worst max|diff|/max(1,max|w|) %.3g (%s); %d Adam elements with |g| < %g "
        "held to |dw| <= lr only, their worst %.3g\n",
        GetParam().c_str(), worst.error, worst.where.c_str(), relaxed, kAdamTinyGrad, tiny.error);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TrainFixture, ::testing::ValuesIn(fixture_cases("train_")),
                         [](const ::testing::TestParamInfo<std::string> &info) { return info.param; });

// ---------------------------------------------------------------------------
// Sizes at the edges (README, "Data"): a data set of one sequence trains, a
// batch size above the set's size makes one batch of the whole set (the
// fixtures' one-step check above runs --batch-size 4096 on a few sequences),
// and a set without sequences or time steps is refused naming the file.

const char *const kEdgeCase = "train_lstm_tokens_last_ce_adam_clip";

std::string edge_fixture(const std::string &file) { return fixtures_dir() + "/" + kEdgeCase + "/" + file; }

// Rows [i, i + 1) of an array, written to path.
std::string write_row(const std::string &from, int64_t i, const std::string &path) {
  const rnnc_rt::NpyArray a = rnnc_rt::read_npy(from);
  std::vector<int64_t> shape = a.shape;
  const size_t row = a.data.size() / static_cast<size_t>(shape.at(0));
  shape[0] = 1;
  rnnc_rt::write_npy(path, a.dtype, a.data.data() + i * row, shape);
  return path;
}

// The cross-entropy of a `last` readout is the mean over sequences, so the
// mean of the gradients of one-sequence batches is the whole batch's
// gradient, which PyTorch made (grads.safetensors).
TEST(EdgeSizes, OneSequenceBatchesAverageToTheWholeBatchGradient) {
  const ScratchDir dir;
  const CompiledModel &m = compiled_model(edge_fixture("model.toml"));
  const std::vector<NamedTensor> want = read_f32_tensors(edge_fixture("grads.safetensors"));
  const int64_t n = rnnc_rt::read_npy(edge_fixture("lengths.npy")).shape.at(0);
  ASSERT_GE(n, 2);
  std::vector<NamedTensor> mean;
  for (int64_t i = 0; i < n; ++i) {
    const std::string tag = dir.file("seq" + std::to_string(i));
    const std::string out = tag + ".grads.safetensors";
    const RunResult r = run({m.program, "gradnorm", "--weights", edge_fixture("weights.safetensors"), "--inputs",
                             write_row(edge_fixture("inputs.npy"), i, tag + ".inputs.npy"), "--lengths",
                             write_row(edge_fixture("lengths.npy"), i, tag + ".lengths.npy"), "--labels",
                             write_row(edge_fixture("labels.npy"), i, tag + ".labels.npy"), "--output", out});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const std::vector<NamedTensor> g = read_f32_tensors(out);
    ASSERT_EQ(g.size(), want.size()) << out;
    if (mean.empty()) {
      mean = g;
      for (NamedTensor &t : mean) std::fill(t.data.begin(), t.data.end(), 0.0f);
    }
    for (size_t k = 0; k < g.size(); ++k)
      for (size_t e = 0; e < g[k].data.size(); ++e) mean[k].data[e] += g[k].data[e] / static_cast<float>(n);
  }
  for (const NamedTensor &w : want) {
    const NamedTensor *g = find_tensor(mean, w.name);
    ASSERT_NE(g, nullptr) << w.name;
    ASSERT_EQ(g->data.size(), w.data.size()) << w.name;
    double diff = 0;
    for (size_t e = 0; e < w.data.size(); ++e)
      diff = std::max(diff, std::fabs(static_cast<double>(g->data[e]) - w.data[e]));
    EXPECT_LE(diff / std::max(max_abs(w.data), kGradFloor), kGradTol)
        << w.name << ": the mean of " << n << " one-sequence gradients is off by " << diff;
  }
}

TEST(EdgeSizes, OneSequenceTrainsOneStepPerEpochWhateverTheBatchSize) {
  const ScratchDir dir;
  const CompiledModel &m = compiled_model(edge_fixture("model.toml"));
  const std::string ckpt = dir.file("one.safetensors");
  const RunResult r = run({m.program, "train", "--weights", edge_fixture("weights.safetensors"), "--inputs",
                           write_row(edge_fixture("inputs.npy"), 0, dir.file("inputs.npy")), "--lengths",
                           write_row(edge_fixture("lengths.npy"), 0, dir.file("lengths.npy")), "--labels",
                           write_row(edge_fixture("labels.npy"), 0, dir.file("labels.npy")), "--epochs", "3",
                           "--batch-size", "64", "--checkpoint", ckpt, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::vector<std::string> epochs = lines_of(r.out);
  ASSERT_EQ(epochs.size(), 4u) << "three epochs and a summary:\n" << r.out;
  for (int e = 0; e < 3; ++e) {
    const nlohmann::json j = nlohmann::json::parse(epochs[e]);
    EXPECT_EQ(j.value("type", ""), "epoch") << epochs[e];
    EXPECT_TRUE(j.at("train_loss").is_number()) << epochs[e];
  }
  const SafeTensorsFile ck = rnnc_rt::read_safetensors(ckpt);
  const SafeTensor *step = ck.find("optim.step");
  ASSERT_NE(step, nullptr) << ckpt << " lacks optim.step";
  int64_t steps = 0;
  ASSERT_EQ(step->data.size(), sizeof steps);
  std::memcpy(&steps, step->data.data(), sizeof steps);
  EXPECT_EQ(steps, 3) << "one sequence, batch size 64: one optimizer step per epoch";
}

TEST(EdgeSizes, SetsWithoutSequencesOrStepsAreRefusedNamingTheFile) {
  const ScratchDir dir;
  const CompiledModel &m = compiled_model(edge_fixture("model.toml"));
  const rnnc_rt::NpyArray in = rnnc_rt::read_npy(edge_fixture("inputs.npy"));
  ASSERT_EQ(in.shape.size(), 2u);
  const std::vector<std::vector<int64_t>> shapes = {{0, in.shape[1]}, {in.shape[0], 0}};
  for (const std::vector<int64_t> &shape : shapes) {
    const std::string path = dir.file("empty" + std::to_string(shape[0]) + "x" + std::to_string(shape[1]) + ".npy");
    rnnc_rt::write_npy(path, in.dtype, in.data.data(), shape);
    const std::string dims = "[" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + "]";
    const RunResult p = run({m.program, "predict", "--weights", edge_fixture("weights.safetensors"), "--inputs", path,
                             "--output", dir.file("out.npy")});
    EXPECT_EQ(p.exit_code, 1) << p.describe();
    EXPECT_TRUE(contains(p.err, path + ": shape " + dims + " holds no sequence")) << p.describe();
    const RunResult t = run({m.program, "train", "--weights", edge_fixture("weights.safetensors"), "--inputs", path,
                             "--labels", edge_fixture("labels.npy"), "--checkpoint", dir.file("ckpt.safetensors")});
    EXPECT_EQ(t.exit_code, 1) << t.describe();
    EXPECT_TRUE(contains(t.err, path + ": shape " + dims + " holds no sequence")) << t.describe();
    EXPECT_FALSE(fs::exists(dir.file("out.npy")));
    EXPECT_FALSE(fs::exists(dir.file("ckpt.safetensors")));
  }
}

// ---------------------------------------------------------------------------
// Finite differences through the C API

// The training functions of one generated library, resolved with dlsym.
struct TrainApi {
  struct Model;
  std::string name;
  Model *(*init)(uint64_t) = nullptr;
  int (*get_params)(Model *, float *) = nullptr;
  int (*set_params)(Model *, const float *) = nullptr;
  int (*loss)(Model *, const void *, const int32_t *, const void *, int64_t, int64_t, double *) = nullptr;
  int (*gradients)(Model *, const void *, const int32_t *, const void *, int64_t, int64_t, float *, double *) = nullptr;
  int (*forward_train)(Model *, const void *, const int32_t *, int64_t, int64_t, const float *, const float *, int,
                       uint64_t, float *, float *, float *) = nullptr;
  int (*backward)(Model *, const void *, const int32_t *, int64_t, int64_t, const float *, const float *, int, uint64_t,
                  const float *, float *, float *) = nullptr;
  int64_t (*output_size)(int64_t, int64_t) = nullptr;
  int (*save)(Model *, const char *) = nullptr;
  const char *(*last_error)() = nullptr;
  void (*close)(Model *) = nullptr;
};

// Loads lib<name>.so and resolves the training API; throws naming a
// missing symbol.
TrainApi load_train_api(const CompiledModel &m) {
  const ModelLibrary lib(m.shared_lib, m.name);
  TrainApi api;
  api.name = m.name;
  auto resolve = [&](auto &fn, const char *suffix) { lib.resolve(fn, suffix); };
  resolve(api.init, "_init");
  resolve(api.get_params, "_get_params");
  resolve(api.set_params, "_set_params");
  resolve(api.loss, "_loss");
  resolve(api.gradients, "_gradients");
  resolve(api.forward_train, "_forward_train");
  resolve(api.backward, "_backward");
  resolve(api.output_size, "_output_size");
  resolve(api.save, "_save");
  resolve(api.last_error, "_last_error");
  resolve(api.close, "_close");
  return api;
}

// A deterministic pseudo-random stream (xorshift32).
class Stream {
 public:
  explicit Stream(uint32_t seed) : x_(seed * 2654435761u + 0x9e3779b9u) {}
  uint32_t next() {
    x_ ^= x_ << 13;
    x_ ^= x_ >> 17;
    x_ ^= x_ << 5;
    return x_;
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * (next() % 1000003u) / 1000002.0; }

 private:
  uint32_t x_;
};

// A random batch with labels: n sequences of at most t steps, lengths in
// 1..t (the first t), junk at padded positions of per-step labels.
struct LabeledBatch {
  int64_t n = 0, t = 0;
  std::vector<int32_t> tokens, lengths, classes;
  std::vector<float> features, targets;
  const void *inputs() const { return tokens.empty() ? static_cast<const void *>(features.data()) : tokens.data(); }
  const void *labels() const { return classes.empty() ? static_cast<const void *>(targets.data()) : classes.data(); }
};

LabeledBatch random_batch(const CompiledModel &m, bool mse, int64_t n, int64_t t, uint32_t seed) {
  Stream s(seed);
  LabeledBatch b;
  b.n = n;
  b.t = t;
  for (int64_t i = 0; i < n; ++i) b.lengths.push_back(i == 0 ? static_cast<int32_t>(t) : 1 + s.next() % t);
  if (m.tokens) {
    for (int64_t k = 0; k < n * t; ++k) b.tokens.push_back(static_cast<int32_t>(s.next() % m.vocab));
  } else {
    for (int64_t k = 0; k < n * t * m.input_size; ++k) b.features.push_back(static_cast<float>(s.uniform(-1, 1)));
  }
  const int64_t rows = m.per_step ? n * t : n;
  for (int64_t r = 0; r < rows; ++r) {
    const bool padded = m.per_step && r % t >= b.lengths[static_cast<size_t>(r / t)];
    if (mse) {
      for (int64_t k = 0; k < m.output_width; ++k)
        b.targets.push_back(padded ? 1e3f : static_cast<float>(s.uniform(-1, 1)));
    } else {
      b.classes.push_back(padded ? -1 : static_cast<int32_t>(s.next() % m.output_width));
    }
  }
  return b;
}

// Finite differences of the float32 loss: steps of kFdStep per coordinate;
// the difference of the two losses is compared with the gradient's dot
// product with the actual (rounded) float32 displacement, within kFdTol
// relative plus the rounding of the two float32 losses, 2^-23 |L| (measured:
// the differences come in steps of about 1e-8 for a loss near 1, which is
// what limits the checks along one small tensor, where L changes by ~1e-5).
constexpr double kFdStep = 1e-3;
constexpr double kFdTol = 1e-3;
constexpr double kFdLossRounding = 0x1p-23;
// Along one tensor the loss changes ten times less, so the step is ten times
// larger there for smooth models: measured, the truncation error stays below
// 3e-4 while the rounding falls below kFdTol for every tensor of these
// models. A relu model keeps kFdStep: a larger step moves some relu's input
// across 0, where the loss has a kink.
constexpr double kFdTensorStep = 1e-2;
// The gradient call's loss (training mode) and _loss (inference mode) run
// different pipelines over the same math when there is no dropout.
constexpr double kLossAgreementTol = 1e-6;

struct FdModel {
  const char *name;
  bool mse;
  double tensor_step;
  const char *toml;
};

void PrintTo(const FdModel &m, std::ostream *os) { *os << m.name; }

// Small dropout-free models covering each cell, readout and loss.
const FdModel kFdModels[] = {
    {"lstm_last_ce", false, kFdTensorStep,
     "name = \"fd_lstm_last_ce\"\n[input]\nkind = \"features\"\nsize = 3\n"
     "[[layers]]\nkind = \"lstm\"\nhidden = 5\n"
     "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n"
     "[[layers]]\nkind = \"linear\"\nout = 3\n"
     "[loss]\nkind = \"cross_entropy\"\n"},
    {"gru_onnx_bidir_mean_mse", true, kFdTensorStep,
     "name = \"fd_gru_onnx_bidir_mean_mse\"\n[input]\nkind = \"features\"\nsize = 3\n"
     "[[layers]]\nkind = \"gru\"\nhidden = 4\nbidirectional = true\nlinear_before_reset = false\n"
     "[[layers]]\nkind = \"readout\"\nmode = \"mean\"\n"
     "[[layers]]\nkind = \"linear\"\nout = 2\n"
     "[loss]\nkind = \"mse\"\n"},
    {"rnn_relu_all_ce", false, kFdStep,
     "name = \"fd_rnn_relu_all_ce\"\n[input]\nkind = \"features\"\nsize = 3\n"
     "[[layers]]\nkind = \"rnn\"\nhidden = 5\nnonlinearity = \"relu\"\n"
     "[[layers]]\nkind = \"readout\"\nmode = \"all\"\n"
     "[[layers]]\nkind = \"linear\"\nout = 3\n"
     "[loss]\nkind = \"cross_entropy\"\n"},
    {"tokens_gru_lstm_last_ce", false, kFdTensorStep,
     "name = \"fd_tokens_gru_lstm_last_ce\"\n[input]\nkind = \"tokens\"\nvocab = 7\n"
     "[[layers]]\nkind = \"embedding\"\ndim = 4\n"
     "[[layers]]\nkind = \"gru\"\nhidden = 4\n"
     "[[layers]]\nkind = \"lstm\"\nhidden = 4\nnum_layers = 2\n"
     "[[layers]]\nkind = \"readout\"\nmode = \"last\"\n"
     "[[layers]]\nkind = \"linear\"\nout = 3\n"
     "[loss]\nkind = \"cross_entropy\"\n"},
};

class GradientCheck : public ::testing::TestWithParam<FdModel> {};

TEST_P(GradientCheck, GradientsMatchFiniteDifferencesOfTheLoss) {
  const ScratchDir dir;
  const FdModel &fm = GetParam();
  const std::string toml = dir.file(std::string(fm.name) + ".toml");
  write_text(toml, fm.toml);
  const CompiledModel &m = compiled_model(toml);
  const TrainApi api = load_train_api(m);
  const int64_t num_params = m.num_params;

  TrainApi::Model *model = api.init(3);
  ASSERT_NE(model, nullptr) << api.last_error();
  // The parameter tensors' names and sizes, in the flat order of _get_params.
  const std::string saved = dir.file("init.safetensors");
  ASSERT_EQ(api.save(model, saved.c_str()), 0) << api.last_error();
  const std::vector<NamedTensor> tensors = read_f32_tensors(saved);
  int64_t total = 0;
  for (const NamedTensor &t : tensors) total += static_cast<int64_t>(t.data.size());
  ASSERT_EQ(total, num_params) << "the saved tensors and the header's NUM_PARAMS disagree";

  std::vector<float> theta(static_cast<size_t>(num_params));
  ASSERT_EQ(api.get_params(model, theta.data()), 0) << api.last_error();
  {
    // _get_params is the saved tensors one after another.
    size_t k = 0;
    for (const NamedTensor &t : tensors)
      for (float v : t.data) ASSERT_EQ(theta[k++], v) << "flat element " << k - 1 << " (" << t.name << ")";
  }

  const LabeledBatch b = random_batch(m, fm.mse, 5, 6, 11);
  std::vector<float> grad(static_cast<size_t>(num_params));
  double grad_loss = 0, loss0 = 0;
  ASSERT_EQ(api.gradients(model, b.inputs(), b.lengths.data(), b.labels(), b.n, b.t, grad.data(), &grad_loss), 0)
      << api.last_error();
  ASSERT_EQ(api.loss(model, b.inputs(), b.lengths.data(), b.labels(), b.n, b.t, &loss0), 0) << api.last_error();
  EXPECT_NEAR(grad_loss, loss0, kLossAgreementTol * std::fabs(loss0))
      << "without dropout, the training-mode loss of _gradients should equal _loss";

  auto loss_at = [&](const std::vector<float> &p) {
    double l = NAN;
    EXPECT_EQ(api.set_params(model, p.data()), 0) << api.last_error();
    EXPECT_EQ(api.loss(model, b.inputs(), b.lengths.data(), b.labels(), b.n, b.t, &l), 0) << api.last_error();
    return l;
  };
  // Compares the loss difference between theta + step*v and theta - step*v
  // with the gradient along the actual displacement; returns the relative
  // error.
  const double noise = kFdLossRounding * std::fabs(loss0);
  auto check_direction = [&](const std::vector<double> &v, double step, const std::string &what) {
    std::vector<float> plus = theta, minus = theta;
    for (size_t i = 0; i < v.size(); ++i) {
      plus[i] = static_cast<float>(theta[i] + step * v[i]);
      minus[i] = static_cast<float>(theta[i] - step * v[i]);
    }
    double predicted = 0;
    for (size_t i = 0; i < v.size(); ++i)
      predicted += static_cast<double>(grad[i]) * (static_cast<double>(plus[i]) - minus[i]);
    const double measured = loss_at(plus) - loss_at(minus);
    const double rel = std::fabs(measured - predicted) / std::fabs(predicted);
    EXPECT_LE(std::fabs(measured - predicted), kFdTol * std::fabs(predicted) + noise)
        << what << ": L(theta + d) - L(theta - d) = " << measured << ", gradient . 2d = " << predicted
        << " (relative error " << rel << ", loss rounding " << noise << ")";
    return rel;
  };

  Worst whole, per_tensor;
  Stream s(97);
  // Random directions over all parameters: one with random signs, two with
  // each coordinate's sign agreeing with its gradient (so that the dot
  // product is not a small difference of large terms).
  for (int k = 0; k < 3; ++k) {
    std::vector<double> v(theta.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const bool negative = k == 0 ? s.next() % 2 == 0 : grad[i] < 0;
      v[i] = (negative ? -1 : 1) * s.uniform(0.25, 1.0);
    }
    whole.note(check_direction(v, kFdStep, "random direction " + std::to_string(k)),
               "random direction " + std::to_string(k));
  }
  // Single coordinates: the three largest gradient elements.
  std::vector<size_t> order(theta.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                    [&](size_t a, size_t c) { return std::fabs(grad[a]) > std::fabs(grad[c]); });
  for (int k = 0; k < 3; ++k) {
    std::vector<double> v(theta.size(), 0.0);
    v[order[k]] = 1.0;
    whole.note(check_direction(v, kFdStep, "coordinate " + std::to_string(order[k])),
               "coordinate " + std::to_string(order[k]));
  }
  // One gradient-aligned direction within each tensor, so that an error in
  // a small tensor is not hidden by the large ones.
  size_t offset = 0;
  for (const NamedTensor &t : tensors) {
    std::vector<double> v(theta.size(), 0.0);
    for (size_t i = offset; i < offset + t.data.size(); ++i) v[i] = (grad[i] < 0 ? -1 : 1) * s.uniform(0.25, 1.0);
    offset += t.data.size();
    per_tensor.note(check_direction(v, fm.tensor_step, "direction within " + t.name), t.name);
  }
  std::printf(
      "[ measured ] %s: loss %.6g; gradient vs finite differences: worst relative error %.3g over random "
      "directions and the largest coordinates (%s), %.3g along single tensors (%s)\n",
      fm.name, loss0, whole.error, whole.where.c_str(), per_tensor.error, per_tensor.where.c_str());
  api.close(model);
}

// dL/d(outputs) of the model's loss (PyTorch's mean reductions) at outputs z
// ([n, w], or [n, t, w] with padded positions ignored), in double.
std::vector<float> loss_gradient(const CompiledModel &m, bool mse, const LabeledBatch &b, const std::vector<float> &z) {
  const int64_t w = m.output_width, steps = m.per_step ? b.t : 1;
  std::vector<float> dz(z.size(), 0.0f);
  int64_t rows = 0;
  for (int64_t i = 0; i < b.n; ++i) rows += m.per_step ? b.lengths[i] : 1;
  for (int64_t i = 0; i < b.n; ++i)
    for (int64_t s = 0; s < (m.per_step ? b.lengths[i] : 1); ++s) {
      const int64_t r = i * steps + s;
      const float *zr = &z[r * w];
      if (mse) {
        for (int64_t k = 0; k < w; ++k)
          dz[r * w + k] = static_cast<float>(2.0 * (zr[k] - b.targets[r * w + k]) / static_cast<double>(rows * w));
        continue;
      }
      const double top = *std::max_element(zr, zr + w);
      double sum = 0;
      for (int64_t k = 0; k < w; ++k) sum += std::exp(zr[k] - top);
      for (int64_t k = 0; k < w; ++k)
        dz[r * w + k] = static_cast<float>((std::exp(zr[k] - top) / sum - (k == b.classes[r] ? 1.0 : 0.0)) /
                                           static_cast<double>(rows));
    }
  return dz;
}

// _backward from an upstream gradient: with the loss's own gradient of the
// outputs it gives _gradients' parameter gradients; its features gradient
// agrees with finite differences of _loss along random input directions.
TEST_P(GradientCheck, BackwardFromTheLossGradientMatchesGradients) {
  const ScratchDir dir;
  const FdModel &fm = GetParam();
  const std::string toml = dir.file(std::string(fm.name) + ".toml");
  write_text(toml, fm.toml);
  const CompiledModel &m = compiled_model(toml);
  const TrainApi api = load_train_api(m);
  TrainApi::Model *model = api.init(5);
  ASSERT_NE(model, nullptr) << api.last_error();
  const LabeledBatch b = random_batch(m, fm.mse, 5, 6, 23);
  const int64_t num_params = m.num_params;
  std::vector<float> z(static_cast<size_t>(api.output_size(b.n, b.t)));
  ASSERT_EQ(api.forward_train(model, b.inputs(), b.lengths.data(), b.n, b.t, nullptr, nullptr, 0, 0, z.data(), nullptr,
                              nullptr),
            0)
      << api.last_error();
  const std::vector<float> dz = loss_gradient(m, fm.mse, b, z);
  std::vector<float> want(static_cast<size_t>(num_params)), got(want.size());
  double loss = 0;
  ASSERT_EQ(api.gradients(model, b.inputs(), b.lengths.data(), b.labels(), b.n, b.t, want.data(), &loss), 0)
      << api.last_error();
  std::vector<float> dx(m.tokens ? 0 : static_cast<size_t>(b.n * b.t * m.input_size), -1.0f);
  ASSERT_EQ(api.backward(model, b.inputs(), b.lengths.data(), b.n, b.t, nullptr, nullptr, 0, 0, dz.data(), got.data(),
                         m.tokens ? nullptr : dx.data()),
            0)
      << api.last_error();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  EXPECT_LE(worst, 1e-5 * std::max(1.0, scale)) << "largest gradient " << scale;
  EXPECT_GT(scale, 0.0);
  if (m.tokens) {
    // Token ids have no gradient: asking for one is an error that names it.
    EXPECT_NE(api.backward(model, b.inputs(), b.lengths.data(), b.n, b.t, nullptr, nullptr, 0, 0, dz.data(), got.data(),
                           got.data()),
              0);
    EXPECT_NE(std::string(api.last_error()).find("input_grads"), std::string::npos) << api.last_error();
    api.close(model);
    return;
  }
  for (int64_t i = 0; i < b.n; ++i)
    for (int64_t s = b.lengths[i]; s < b.t; ++s)
      for (int64_t k = 0; k < m.input_size; ++k)
        EXPECT_EQ(dx[(i * b.t + s) * m.input_size + k], 0.0f) << "padded position (" << i << ", " << s << ")";
  // Central differences of the inference loss along random input directions.
  Stream st(29);
  const double noise = kFdLossRounding * std::fabs(loss);
  for (int k = 0; k < 3; ++k) {
    LabeledBatch plus = b, minus = b;
    double predicted = 0;
    for (size_t e = 0; e < b.features.size(); ++e) {
      const double v = (k == 0 ? (st.next() % 2 ? 1 : -1) : (dx[e] < 0 ? -1 : 1)) * st.uniform(0.25, 1.0);
      plus.features[e] = static_cast<float>(b.features[e] + kFdStep * v);
      minus.features[e] = static_cast<float>(b.features[e] - kFdStep * v);
      predicted += static_cast<double>(dx[e]) * (static_cast<double>(plus.features[e]) - minus.features[e]);
    }
    double lp = NAN, lm = NAN;
    ASSERT_EQ(api.loss(model, plus.inputs(), b.lengths.data(), b.labels(), b.n, b.t, &lp), 0) << api.last_error();
    ASSERT_EQ(api.loss(model, minus.inputs(), b.lengths.data(), b.labels(), b.n, b.t, &lm), 0) << api.last_error();
    EXPECT_LE(std::fabs((lp - lm) - predicted), kFdTol * std::fabs(predicted) + noise)
        << "direction " << k << ": L(x + d) - L(x - d) = " << lp - lm << ", dL/dx . 2d = " << predicted;
  }
  api.close(model);
}

INSTANTIATE_TEST_SUITE_P(Models, GradientCheck, ::testing::ValuesIn(kFdModels),
                         [](const ::testing::TestParamInfo<FdModel> &info) { return std::string(info.param.name); });

}  // namespace
}  // namespace rnnc_e2e
