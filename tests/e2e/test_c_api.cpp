// End-to-end checks of the generated libraries' C API: two models' shared
// libraries loaded into this process side by side with dlopen, compared with
// their programs' `predict`; concurrent handles; error messages; initial
// states; a relocated output directory; and applications built with the link
// lines the generated header documents.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"
#include "io/npy.h"

namespace rnnc_e2e {
namespace {

using rnnc_rt::DType;

// A token model with an LSTM (so it has cell states) and a feature model with
// a GRU.
const char *const kTokenModel = "models/packed_lstm.toml";
const char *const kFeatureModel = "models/compare_gru.toml";

// Identical results are expected from the same library on the same inputs;
// the tolerance only allows for a different summation order between runs.
constexpr double kTol = 1e-6;

// The C API of one generated library, resolved with dlsym.
struct ModelApi {
  struct Model;
  std::string name;
  Model *(*open)(const char *) = nullptr;
  Model *(*init)(uint64_t) = nullptr;
  int (*forward)(Model *, const void *, const int32_t *, int64_t, int64_t, float *) = nullptr;
  int (*forward_state)(Model *, const void *, const int32_t *, int64_t, int64_t, const float *, const float *, float *,
                       float *, float *) = nullptr;
  int (*forward_device)(Model *, const void *, const int32_t *, int64_t, int64_t, const float *, const float *, float *,
                        float *, float *) = nullptr;
  int (*set_stream)(void *) = nullptr;
  int64_t (*output_size)(int64_t, int64_t) = nullptr;
  int64_t (*state_size)(int64_t, int) = nullptr;
  int (*save)(Model *, const char *) = nullptr;
  int (*set_threads)(int) = nullptr;
  const char *(*last_error)() = nullptr;
  void (*close)(Model *) = nullptr;
  int (*program_main)(int, char **) = nullptr;
};

// Loads lib<name>.so and resolves every function of the header; throws
// naming what is missing.
ModelApi load_api(const std::string &so_path, const std::string &name) {
  const ModelLibrary lib(so_path, name);
  ModelApi api;
  api.name = name;
  auto resolve = [&](auto &fn, const char *suffix) { lib.resolve(fn, suffix); };
  resolve(api.open, "_open");
  resolve(api.init, "_init");
  resolve(api.forward, "_forward");
  resolve(api.forward_state, "_forward_state");
  resolve(api.forward_device, "_forward_device");
  resolve(api.set_stream, "_set_stream");
  resolve(api.output_size, "_output_size");
  resolve(api.state_size, "_state_size");
  resolve(api.save, "_save");
  resolve(api.set_threads, "_set_threads");
  resolve(api.last_error, "_last_error");
  resolve(api.close, "_close");
  resolve(api.program_main, "_program_main");
  return api;
}

// The library of a compiled model, loaded once per process.
const ModelApi &api_of(const CompiledModel &m) {
  static std::map<std::string, ModelApi> loaded;
  auto it = loaded.find(m.shared_lib);
  if (it == loaded.end()) it = loaded.emplace(m.shared_lib, load_api(m.shared_lib, m.name)).first;
  return it->second;
}

// A deterministic batch for model m: n sequences of at most t steps, token
// ids in the vocabulary or features in [-1, 1], and lengths in 1..t of which
// the first is t.
struct Batch {
  int64_t n = 0, t = 0;
  std::vector<int32_t> tokens;
  std::vector<float> features;
  std::vector<int32_t> lengths;

  const void *inputs() const { return tokens.empty() ? static_cast<const void *>(features.data()) : tokens.data(); }

  // Writes inputs and lengths as the program reads them.
  void write(const CompiledModel &m, const std::string &inputs_path, const std::string &lengths_path) const {
    if (m.tokens)
      rnnc_rt::write_npy(inputs_path, DType::kI32, tokens.data(), {n, t});
    else
      rnnc_rt::write_npy(inputs_path, DType::kF32, features.data(), {n, t, m.input_size});
    rnnc_rt::write_npy(lengths_path, DType::kI32, lengths.data(), {n});
  }
};

Batch make_batch(const CompiledModel &m, int64_t n, int64_t t, uint32_t seed) {
  Batch b;
  b.n = n;
  b.t = t;
  uint32_t x = seed * 2654435761u + 12345u;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  if (m.tokens) {
    b.tokens.resize(static_cast<size_t>(n * t));
    for (auto &v : b.tokens) v = static_cast<int32_t>(next() % static_cast<uint32_t>(m.vocab));
  } else {
    b.features.resize(static_cast<size_t>(n * t * m.input_size));
    for (auto &v : b.features) v = static_cast<float>(next() % 20001u) / 10000.0f - 1.0f;
  }
  for (int64_t i = 0; i < n; ++i) b.lengths.push_back(i == 0 ? static_cast<int32_t>(t) : 1 + next() % t);
  return b;
}

// Runs the library's forward; fails the test (and returns nothing) when it fails.
std::vector<float> forward(const ModelApi &api, ModelApi::Model *model, const Batch &b) {
  std::vector<float> out(static_cast<size_t>(api.output_size(b.n, b.t)));
  const int status = api.forward(model, b.inputs(), b.lengths.data(), b.n, b.t, out.data());
  EXPECT_EQ(status, 0) << api.name << "_forward: " << api.last_error();
  return status == 0 ? out : std::vector<float>{};
}

// The program's `predict` on the batch with the given weights.
FloatArray program_predict(const ScratchDir &dir, const std::string &program, const CompiledModel &m,
                           const std::string &weights, const Batch &b, const std::string &tag) {
  const std::string x = dir.file(tag + "_x.npy"), l = dir.file(tag + "_l.npy"), y = dir.file(tag + "_y.npy");
  b.write(m, x, l);
  const RunResult r = run({program, "predict", "--weights", weights, "--inputs", x, "--lengths", l, "--output", y});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return r.exit_code == 0 ? read_f32(y) : FloatArray{};
}

std::vector<int64_t> output_shape(const CompiledModel &m, const Batch &b) {
  return m.per_step ? std::vector<int64_t>{b.n, b.t, m.output_width} : std::vector<int64_t>{b.n, m.output_width};
}

TEST(CApi, ForwardMatchesProgramPredictForTwoModelsInOneProcess) {
  const ScratchDir dir;
  for (const char *path : {kTokenModel, kFeatureModel}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *model = api.init(7);
    ASSERT_NE(model, nullptr) << api.last_error();
    const std::string weights = dir.file(m.name + ".safetensors");
    ASSERT_EQ(api.save(model, weights.c_str()), 0) << api.last_error();
    EXPECT_STREQ(api.last_error(), "");

    // The program's `init` with the same seed writes the same file.
    const RunResult init = run({m.program, "init", "--seed", "7", "--output", dir.file(m.name + "_init.safetensors")});
    ASSERT_EQ(init.exit_code, 0) << init.describe();
    EXPECT_EQ(read_text(dir.file(m.name + "_init.safetensors")), read_text(weights))
        << m.name << "_init(7) + _save and `" << m.name << " init --seed 7` disagree";

    const Batch b = make_batch(m, 6, 9, 1);
    const std::vector<float> out = forward(api, model, b);
    EXPECT_EQ(static_cast<int64_t>(out.size()), api.output_size(b.n, b.t));
    const FloatArray predicted = program_predict(dir, m.program, m, weights, b, m.name);
    EXPECT_TRUE(arrays_close(out, output_shape(m, b), predicted.data, predicted.shape, kTol));

    // Weights saved and opened again give the same outputs.
    ModelApi::Model *reopened = api.open(weights.c_str());
    ASSERT_NE(reopened, nullptr) << api.last_error();
    EXPECT_TRUE(arrays_close(forward(api, reopened, b), output_shape(m, b), out, output_shape(m, b), kTol));
    api.close(reopened);
    api.close(model);
  }
  // Both libraries are still usable after the other one ran.
  const CompiledModel &first = compiled_model(kTokenModel);
  ModelApi::Model *again = api_of(first).init(7);
  ASSERT_NE(again, nullptr);
  const Batch b = make_batch(first, 2, 4, 3);
  EXPECT_FALSE(forward(api_of(first), again, b).empty());
  api_of(first).close(again);
  char prog[] = "program", version[] = "--version";
  char *argv[] = {prog, version, nullptr};
  EXPECT_EQ(api_of(first).program_main(2, argv), 0);
}

TEST(CApi, HandlesOfOneModelRunConcurrently) {
  const ScratchDir dir;
  for (const char *path : {kTokenModel, kFeatureModel}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *seeded = api.init(11);
    ASSERT_NE(seeded, nullptr) << api.last_error();
    const std::string weights = dir.file(m.name + ".safetensors");
    ASSERT_EQ(api.save(seeded, weights.c_str()), 0) << api.last_error();
    api.close(seeded);

    ModelApi::Model *h1 = api.open(weights.c_str());
    ModelApi::Model *h2 = api.open(weights.c_str());
    ASSERT_TRUE(h1 && h2) << api.last_error();
    // Different batch sizes and lengths, so that the two handles' workspaces
    // and geometries differ.
    const Batch a = make_batch(m, 7, 12, 21), b = make_batch(m, 3, 5, 22);
    const std::vector<float> ref_a = forward(api, h1, a), ref_b = forward(api, h2, b);
    ASSERT_FALSE(ref_a.empty() || ref_b.empty());

    std::atomic<int> failures_a{0}, failures_b{0};
    std::string error_a, error_b;
    auto worker = [&api](ModelApi::Model *h, const Batch &batch, const std::vector<float> &ref,
                         std::atomic<int> &failures, std::string &error) {
      std::vector<float> out(ref.size());
      for (int k = 0; k < 30; ++k) {
        if (api.forward(h, batch.inputs(), batch.lengths.data(), batch.n, batch.t, out.data()) != 0) {
          error = api.last_error();
          ++failures;
        } else if (scaled_max_diff(out, ref) > kTol) {
          ++failures;
        }
      }
    };
    std::thread ta(worker, h1, std::cref(a), std::cref(ref_a), std::ref(failures_a), std::ref(error_a));
    std::thread tb(worker, h2, std::cref(b), std::cref(ref_b), std::ref(failures_b), std::ref(error_b));
    ta.join();
    tb.join();
    EXPECT_EQ(failures_a.load(), 0) << "handle 1 on its own thread differed from its sequential result " << error_a;
    EXPECT_EQ(failures_b.load(), 0) << "handle 2 on its own thread differed from its sequential result " << error_b;
    api.close(h1);
    api.close(h2);
  }
}

TEST(CApi, LastErrorNamesTheProblem) {
  const ScratchDir dir;
  const CompiledModel &m = compiled_model(kTokenModel);
  const ModelApi &api = api_of(m);

  const std::string missing = dir.file("no-such-weights.safetensors");
  EXPECT_EQ(api.open(missing.c_str()), nullptr);
  EXPECT_TRUE(contains(api.last_error(), missing)) << "last error: '" << api.last_error() << "'";

  ModelApi::Model *model = api.init(3);
  ASSERT_NE(model, nullptr) << api.last_error();
  EXPECT_STREQ(api.last_error(), "") << "a successful call leaves an empty message";

  Batch b = make_batch(m, 4, 6, 5);
  std::vector<float> out(static_cast<size_t>(api.output_size(b.n, b.t)));
  b.lengths[2] = 0;
  EXPECT_NE(api.forward(model, b.inputs(), b.lengths.data(), b.n, b.t, out.data()), 0);
  EXPECT_TRUE(contains(api.last_error(), "length of sequence 2")) << "last error: '" << api.last_error() << "'";
  b.lengths[2] = 7;  // > t
  EXPECT_NE(api.forward(model, b.inputs(), b.lengths.data(), b.n, b.t, out.data()), 0);
  EXPECT_TRUE(contains(api.last_error(), "length of sequence 2")) << "last error: '" << api.last_error() << "'";
  b.lengths[2] = 6;
  b.tokens[1 * 6 + 0] = static_cast<int32_t>(m.vocab);
  EXPECT_NE(api.forward(model, b.inputs(), b.lengths.data(), b.n, b.t, out.data()), 0);
  EXPECT_TRUE(contains(api.last_error(), "sequence 1") && contains(api.last_error(), "position 0"))
      << "last error: '" << api.last_error() << "'";
  b.tokens[1 * 6 + 0] = 0;
  EXPECT_EQ(api.forward(model, b.inputs(), b.lengths.data(), b.n, b.t, out.data()), 0) << api.last_error();
  EXPECT_STREQ(api.last_error(), "");

  EXPECT_NE(api.set_threads(0), 0);
  EXPECT_TRUE(contains(api.last_error(), "thread")) << "last error: '" << api.last_error() << "'";
  EXPECT_EQ(api.set_threads(2), 0) << api.last_error();
  const std::string unwritable = dir.file("no-such-dir/w.safetensors");
  EXPECT_NE(api.save(model, unwritable.c_str()), 0);
  EXPECT_TRUE(contains(api.last_error(), unwritable)) << "last error: '" << api.last_error() << "'";
  api.close(model);
  EXPECT_EQ(api.set_threads(2), 0) << api.last_error();
  EXPECT_STREQ(api.last_error(), "");

  // Messages are per thread: a failure on another thread leaves this one's alone.
  std::thread([&] { EXPECT_EQ(api.open(missing.c_str()), nullptr); }).join();
  EXPECT_STREQ(api.last_error(), "");
}

TEST(CApi, ForwardStateWithInitialStates) {
  for (const char *path : {kTokenModel, kFeatureModel}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *model = api.init(5);
    ASSERT_NE(model, nullptr) << api.last_error();
    const Batch b = make_batch(m, 5, 8, 9);
    const std::vector<int64_t> shape = output_shape(m, b);
    const std::vector<float> plain = forward(api, model, b);
    const int64_t h_size = api.state_size(b.n, 0), c_size = api.state_size(b.n, 1);
    ASSERT_GT(h_size, 0);
    const bool lstm = m.tokens;  // packed_lstm has an LSTM, compare_gru none
    EXPECT_EQ(c_size > 0, lstm) << "c states: " << c_size;

    auto run_state = [&](const float *h0, const float *c0) {
      std::vector<float> out(plain.size()), h_n(static_cast<size_t>(h_size)), c_n(static_cast<size_t>(c_size) + 1);
      EXPECT_EQ(api.forward_state(model, b.inputs(), b.lengths.data(), b.n, b.t, h0, c0, out.data(), h_n.data(),
                                  c_size ? c_n.data() : nullptr),
                0)
          << api.last_error();
      return out;
    };
    EXPECT_TRUE(arrays_close(run_state(nullptr, nullptr), shape, plain, shape, kTol)) << "h0 = NULL";
    const std::vector<float> zero_h(static_cast<size_t>(h_size), 0.0f), zero_c(static_cast<size_t>(c_size) + 1, 0.0f);
    EXPECT_TRUE(arrays_close(run_state(zero_h.data(), c_size ? zero_c.data() : nullptr), shape, plain, shape, kTol))
        << "h0 = 0";
    const std::vector<float> half_h(static_cast<size_t>(h_size), 0.5f), half_c(static_cast<size_t>(c_size) + 1, 0.5f);
    EXPECT_GT(scaled_max_diff(run_state(half_h.data(), nullptr), plain), 1e-4) << "h0 = 0.5 changed nothing";
    if (lstm) {
      EXPECT_GT(scaled_max_diff(run_state(nullptr, half_c.data()), plain), 1e-4) << "c0 = 0.5 changed nothing";
    }
    api.close(model);
  }
}

// A handle opened while RNNC_EMULATE_DEVICE is `value` (the variable is read
// when a handle is made), the environment restored afterwards.
ModelApi::Model *init_with_emulation(const ModelApi &api, uint64_t seed, const char *value) {
  const char *old = std::getenv("RNNC_EMULATE_DEVICE");
  const std::string saved = old ? old : "";
  if (value) {
    setenv("RNNC_EMULATE_DEVICE", value, 1);
  } else {
    unsetenv("RNNC_EMULATE_DEVICE");
  }
  ModelApi::Model *model = api.init(seed);
  if (old) {
    setenv("RNNC_EMULATE_DEVICE", saved.c_str(), 1);
  } else {
    unsetenv("RNNC_EMULATE_DEVICE");
  }
  return model;
}

// A host program that holds its data on the device: on the emulated device
// (whose device pointers are host addresses) _forward_device equals
// _forward_state bit for bit, per-step outputs with padding, bidirectional
// states and cell states included; a CPU build without a device refuses it
// and _set_stream, saying why.
TEST(CApi, ForwardDeviceTakesDevicePointers) {
  for (const char *path : {kTokenModel, kFeatureModel, "models/bigru_tagger.toml"}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *host = init_with_emulation(api, 7, nullptr);
    ModelApi::Model *device = init_with_emulation(api, 7, "1");
    ASSERT_NE(host, nullptr) << api.last_error();
    ASSERT_NE(device, nullptr) << api.last_error();
    const Batch b = make_batch(m, 6, 9, 41);
    const int64_t out_size = api.output_size(b.n, b.t), h_size = api.state_size(b.n, 0),
                  c_size = api.state_size(b.n, 1);
    std::vector<float> h0(static_cast<size_t>(h_size)), c0(static_cast<size_t>(c_size));
    for (size_t i = 0; i < h0.size(); ++i) h0[i] = 0.01f * static_cast<float>(i % 37) - 0.2f;
    for (size_t i = 0; i < c0.size(); ++i) c0[i] = 0.02f * static_cast<float>(i % 11) - 0.1f;
    auto run_on = [&](ModelApi::Model *model, bool on_device, std::vector<float> &out, std::vector<float> &h_n,
                      std::vector<float> &c_n) {
      out.assign(static_cast<size_t>(out_size), 99.0f);  // padding must come back as 0
      h_n.assign(static_cast<size_t>(h_size), 0.0f);
      c_n.assign(static_cast<size_t>(c_size), 0.0f);
      auto fn = on_device ? api.forward_device : api.forward_state;
      return fn(model, b.inputs(), b.lengths.data(), b.n, b.t, h0.data(), c_size ? c0.data() : nullptr, out.data(),
                h_n.data(), c_size ? c_n.data() : nullptr);
    };
    std::vector<float> want, want_h, want_c, got, got_h, got_c;
    ASSERT_EQ(run_on(host, false, want, want_h, want_c), 0) << api.last_error();
    ASSERT_EQ(run_on(device, true, got, got_h, got_c), 0) << api.last_error();
    EXPECT_EQ(got, want);
    EXPECT_EQ(got_h, want_h);
    EXPECT_EQ(got_c, want_c);

    EXPECT_NE(run_on(host, true, got, got_h, got_c), 0);
    EXPECT_TRUE(contains(api.last_error(), "device pointers are for CUDA builds")) << api.last_error();
    EXPECT_NE(api.set_stream(nullptr), 0);
    EXPECT_TRUE(contains(api.last_error(), "a CUDA stream is for CUDA builds")) << api.last_error();
    api.close(host);
    api.close(device);
  }
}

// For these one-layer, one-direction models with readout "last", running the
// first steps, then the rest from the final states of the first part, must
// equal running every step at once.
TEST(CApi, FinalStatesContinueASplitSequence) {
  for (const char *path : {kTokenModel, kFeatureModel}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *model = api.init(23);
    ASSERT_NE(model, nullptr) << api.last_error();
    const int64_t n = 4, t = 10, t1 = 6, width = m.tokens ? 1 : m.input_size;
    Batch whole = make_batch(m, n, t, 31);
    whole.lengths.assign(static_cast<size_t>(n), static_cast<int32_t>(t));
    Batch head = whole, tail = whole;
    head.t = t1;
    tail.t = t - t1;
    head.lengths.assign(static_cast<size_t>(n), static_cast<int32_t>(t1));
    tail.lengths.assign(static_cast<size_t>(n), static_cast<int32_t>(t - t1));
    auto slice = [&](auto &dst, const auto &src, int64_t from, int64_t steps) {
      dst.clear();
      for (int64_t i = 0; i < n; ++i)
        dst.insert(dst.end(), src.begin() + (i * t + from) * width, src.begin() + (i * t + from + steps) * width);
    };
    if (m.tokens) {
      slice(head.tokens, whole.tokens, 0, t1);
      slice(tail.tokens, whole.tokens, t1, t - t1);
    } else {
      slice(head.features, whole.features, 0, t1);
      slice(tail.features, whole.features, t1, t - t1);
    }
    const int64_t h_size = api.state_size(n, 0), c_size = api.state_size(n, 1);
    std::vector<float> h(static_cast<size_t>(h_size)), c(static_cast<size_t>(c_size) + 1);
    std::vector<float> head_out(static_cast<size_t>(api.output_size(n, t1)));
    ASSERT_EQ(api.forward_state(model, head.inputs(), head.lengths.data(), n, t1, nullptr, nullptr, head_out.data(),
                                h.data(), c_size ? c.data() : nullptr),
              0)
        << api.last_error();
    std::vector<float> tail_out(static_cast<size_t>(api.output_size(n, t - t1)));
    ASSERT_EQ(api.forward_state(model, tail.inputs(), tail.lengths.data(), n, t - t1, h.data(),
                                c_size ? c.data() : nullptr, tail_out.data(), nullptr, nullptr),
              0)
        << api.last_error();
    const std::vector<int64_t> shape = output_shape(m, whole);
    EXPECT_TRUE(arrays_close(tail_out, shape, forward(api, model, whole), shape, 1e-5));
    api.close(model);
  }
}

// The header promises that inputs past a sequence's length are ignored: junk
// there (ids outside the vocabulary, huge or NaN features) changes nothing.
TEST(CApi, InputsPastTheLengthsAreIgnored) {
  for (const char *path : {kTokenModel, kFeatureModel}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *model = api.init(29);
    ASSERT_NE(model, nullptr) << api.last_error();
    const Batch clean = make_batch(m, 5, 7, 37);
    Batch junk = clean;
    const int64_t width = m.tokens ? 1 : m.input_size;
    for (int64_t i = 0; i < clean.n; ++i)
      for (int64_t s = clean.lengths[i]; s < clean.t; ++s)
        for (int64_t k = 0; k < width; ++k) {
          const int64_t at = (i * clean.t + s) * width + k;
          if (m.tokens)
            junk.tokens[at] = (s % 2) ? -1 : static_cast<int32_t>(m.vocab + 1000000);
          else
            junk.features[at] = (s % 2) ? NAN : 1e30f;
        }
    const std::vector<int64_t> shape = output_shape(m, clean);
    EXPECT_TRUE(arrays_close(forward(api, model, junk), shape, forward(api, model, clean), shape, kTol));
    api.close(model);
  }
}

TEST(CApi, OutputDirectoryCanBeMoved) {
  const ScratchDir dir;
  const CompiledModel &built = compiled_model(kFeatureModel);
  const std::string first = dir.file("first"), moved = dir.file("moved/elsewhere");
  fs::copy(built.dir, first, fs::copy_options::recursive);
  fs::create_directories(fs::path(moved).parent_path());
  fs::copy(first, moved, fs::copy_options::recursive);
  fs::remove_all(first);
  const CompiledModel m = describe_compiled(moved);

  const RunResult info = run({m.program, "info"});
  EXPECT_EQ(info.exit_code, 0) << info.describe();
  EXPECT_TRUE(contains(info.out, m.name)) << info.describe();

  const ModelApi api = load_api(m.shared_lib, m.name);
  ModelApi::Model *model = api.init(13);
  ASSERT_NE(model, nullptr) << api.last_error();
  const std::string weights = dir.file("w.safetensors");
  ASSERT_EQ(api.save(model, weights.c_str()), 0) << api.last_error();
  const Batch b = make_batch(m, 4, 6, 17);
  const FloatArray predicted = program_predict(dir, m.program, m, weights, b, "moved");
  EXPECT_TRUE(arrays_close(forward(api, model, b), output_shape(m, b), predicted.data, predicted.shape, kTol));
  api.close(model);
}

// ---------------------------------------------------------------------------
// Applications linked as the header says

// An application in C (which also compiles as C++): opens the weights given
// as its argument, runs a fixed batch of 3 sequences of 5 steps with lengths
// {5, 2, 4} and prints every output with %.9g, one per line.
std::string app_source(const CompiledModel &m) {
  std::string up;
  for (char c : m.name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string s =
      "#include <stdio.h>\n"
      "#include <stdlib.h>\n"
      "#include \"@.h\"\n"
      "\n"
      "#define N 3\n"
      "#define T 5\n"
      "#if @@_INPUT_IS_TOKENS\n"
      "static int32_t inputs[N * T];\n"
      "#else\n"
      "static float inputs[N * T * @@_INPUT_SIZE];\n"
      "#endif\n"
      "\n"
      "int main(int argc, char **argv) {\n"
      "  int32_t lengths[N] = {5, 2, 4};\n"
      "  float *out;\n"
      "  int64_t i, size;\n"
      "  @_model *m;\n"
      "  if (argc != 2) return 2;\n"
      "  m = @_open(argv[1]);\n"
      "  if (!m) { fprintf(stderr, \"open: %s\\n\", @_last_error()); return 1; }\n"
      "  for (i = 0; i < (int64_t)(sizeof inputs / sizeof inputs[0]); ++i)\n"
      "#if @@_INPUT_IS_TOKENS\n"
      "    inputs[i] = (int32_t)((i * 7 + 3) % @@_VOCAB);\n"
      "#else\n"
      "    inputs[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;\n"
      "#endif\n"
      "  size = @_output_size(N, T);\n"
      "  out = (float *)malloc((size_t)size * sizeof(float));\n"
      "  if (!out || @_forward(m, inputs, lengths, N, T, out) != 0) {\n"
      "    fprintf(stderr, \"forward: %s\\n\", @_last_error());\n"
      "    return 1;\n"
      "  }\n"
      "  for (i = 0; i < size; ++i) printf(\"%.9g\\n\", out[i]);\n"
      "  free(out);\n"
      "  @_close(m);\n"
      "  return 0;\n"
      "}\n";
  s = std::regex_replace(s, std::regex("@@"), up);
  return std::regex_replace(s, std::regex("@"), m.name);
}

// The same batch as app_source's, for the in-process comparison.
Batch app_batch(const CompiledModel &m) {
  Batch b;
  b.n = 3;
  b.t = 5;
  b.lengths = {5, 2, 4};
  if (m.tokens) {
    for (int64_t i = 0; i < b.n * b.t; ++i) b.tokens.push_back(static_cast<int32_t>((i * 7 + 3) % m.vocab));
  } else {
    for (int64_t i = 0; i < b.n * b.t * m.input_size; ++i)
      b.features.push_back(static_cast<float>((i * 37) % 101) / 50.0f - 1.0f);
  }
  return b;
}

// The command of the header's "<kind>:" link line (kind is "shared" or
// "static"), with OUT replaced by the output directory, app.c by source and
// "-o exe" appended; empty when the header has no such line.
std::vector<std::string> header_link_command(const CompiledModel &m, const std::string &kind, const std::string &source,
                                             const std::string &exe) {
  const std::string marker = kind + ":";
  for (const std::string &line : lines_of(read_text(m.header))) {
    const size_t at = line.find(marker);
    if (at == std::string::npos) continue;
    std::istringstream words(line.substr(at + marker.size()));
    std::vector<std::string> argv;
    const std::regex out_dir("(^|-I|-L|,)OUT(?=/|$)");
    for (std::string w; words >> w;)
      argv.push_back(w == "app.c" ? source : std::regex_replace(w, out_dir, "$1" + m.dir));
    argv.insert(argv.end(), {"-o", exe});
    return argv;
  }
  return {};
}

TEST(CApi, ApplicationsBuildWithTheHeaderLinkLines) {
  const ScratchDir dir;
  for (const char *path : {kTokenModel, kFeatureModel}) {
    SCOPED_TRACE(path);
    const CompiledModel &m = compiled_model(path);
    const ModelApi &api = api_of(m);
    ModelApi::Model *model = api.init(19);
    ASSERT_NE(model, nullptr) << api.last_error();
    const std::string weights = dir.file(m.name + ".safetensors");
    ASSERT_EQ(api.save(model, weights.c_str()), 0) << api.last_error();
    const Batch b = app_batch(m);
    const std::vector<float> expected = forward(api, model, b);
    api.close(model);

    const std::string source = dir.file(m.name + "_app/app.c");
    fs::create_directories(fs::path(source).parent_path());
    write_text(source, app_source(m));
    for (const std::string kind : {"static", "shared"}) {
      SCOPED_TRACE(kind);
      const std::string exe = dir.file(m.name + "_app/app_" + kind);
      const std::vector<std::string> link = header_link_command(m, kind, source, exe);
      ASSERT_FALSE(link.empty()) << m.header << " has no '" << kind << ":' link line";
      const RunResult built = run(link);
      ASSERT_EQ(built.exit_code, 0) << "the header's " << kind << " link line fails\n" << built.describe();
      const RunResult app = run({exe, weights});
      ASSERT_EQ(app.exit_code, 0) << app.describe();
      std::vector<float> printed;
      for (const std::string &l : lines_of(app.out)) printed.push_back(std::strtof(l.c_str(), nullptr));
      EXPECT_TRUE(arrays_close(printed, {static_cast<int64_t>(printed.size())}, expected,
                               {static_cast<int64_t>(expected.size())}, kTol))
          << app.describe();
    }
  }
}

}  // namespace
}  // namespace rnnc_e2e
