// End-to-end checks of what the notebook inspects, against PyTorch: every
// state fixture (tests/fixtures/state_*, made by tests/make_state_fixtures.py
// with an nn.*Cell loop) through the generated program's
//   predict --h0/--c0/--output-h/--output-c/--output-hidden  (h_n, c_n and the
//           per-step outputs of every sub-layer, from given initial states),
//   trace --json                                             (h_t, c_t statistics),
//   gradnorm --per-step --json                               (|dL/dh_t| per step);
// trace against statistics computed here from --output-hidden; bad state
// files; and chrono initialisation (ranges, signs, the ih/hh split, the
// distribution, reproducibility from the seed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e_util.h"
#include "io/npy.h"
#include "io/npz.h"
#include "io/safetensors.h"

namespace rnnc_e2e {
namespace {

using Json = nlohmann::json;

// The fixtures are float64 references rounded to float32; ours are float32.
constexpr double kStateTol = 1e-5;
// Per-step norms: relative to the value, with a floor of 1e-6 of the
// sub-layer's largest norm (steps whose gradient is ~0 compare absolutely).
constexpr double kNormTol = 1e-4;

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A state file as {key: array}: an .npy is one member with key "".
std::map<std::string, FloatArray> read_state_file(const std::string &path) {
  std::map<std::string, FloatArray> out;
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npz") == 0) {
    for (const rnnc_rt::NpzMember &m : rnnc_rt::read_npz(path)) {
      if (m.array.dtype != rnnc_rt::DType::kF32) throw std::runtime_error(path + "[" + m.key + "]: not float32");
      FloatArray f;
      f.shape = m.array.shape;
      f.data.assign(m.array.as<float>(), m.array.as<float>() + m.array.numel());
      out[m.key] = f;
    }
  } else {
    out[""] = read_f32(path);
  }
  return out;
}

Json parse_output(const RunResult &r) {
  try {
    return Json::parse(r.out);
  } catch (const std::exception &e) {
    ADD_FAILURE() << "not one JSON document (" << e.what() << "):\n" << r.describe();
    return Json();
  }
}

class StateFixture : public testing::TestWithParam<std::string> {
 protected:
  std::string case_dir() const { return fixtures_dir() + "/" + GetParam(); }
  std::string file(const std::string &f) const { return case_dir() + "/" + f; }
  // ".npz" when the fixture's h0 (or c0) is an archive (widths differ), else ".npy".
  std::string ext(const std::string &stem) const { return fs::exists(file(stem + ".npz")) ? ".npz" : ".npy"; }
  bool lstm() const { return fs::exists(file("c0" + ext("c0"))); }
  std::vector<std::string> data(const std::string &cmd) const {
    return {compiled().program, cmd,         "--weights",        file("weights.safetensors"), "--inputs",
            file("inputs.npy"), "--lengths", file("lengths.npy")};
  }
  const CompiledModel &compiled() const { return compiled_model(file("model.toml")); }
};

TEST(StateFixtureCases, AreFound) {
  const std::vector<std::string> names = fixture_cases("state_");
  ASSERT_GE(names.size(), 7u) << "state_* directories in " << fixtures_dir();
  bool npz = false, lstm = false;
  for (const std::string &n : names) {
    npz = npz || fs::exists(fixtures_dir() + "/" + n + "/h0.npz");
    lstm = lstm || fs::exists(fixtures_dir() + "/" + n + "/c0.npy");
  }
  EXPECT_TRUE(npz) << "no case with differing hidden sizes (.npz states)";
  EXPECT_TRUE(lstm) << "no LSTM case with .npy cell states";
}

// Initial states in; h_n, c_n, every sub-layer's outputs and the model's
// output out, all equal to PyTorch's.
TEST_P(StateFixture, StatesInAndOutMatchPyTorch) {
  ScratchDir dir;
  const std::string e = ext("h0"), ec = ext("c0");
  std::vector<std::string> argv = data("predict");
  const std::string y = dir.path() + "/y.npy", hn = dir.path() + "/hn" + e, cn = dir.path() + "/cn" + ec,
                    hid = dir.path() + "/hidden";
  argv.insert(argv.end(), {"--output", y, "--h0", file("h0" + e), "--output-h", hn, "--output-hidden", hid,
                           "--batch-size", "3"});  // chunks smaller than N: states cross chunk boundaries
  if (lstm()) argv.insert(argv.end(), {"--c0", file("c0" + ec), "--output-c", cn});
  const RunResult r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(arrays_close(read_f32(y), read_f32(file("expected_with_states.npy")), kStateTol)) << "output";
  std::vector<std::pair<std::string, std::string>> pairs = {{hn, file("expected_hn" + e)}};
  if (lstm()) pairs.push_back({cn, file("expected_cn" + ec)});
  for (const auto &[ours, theirs] : pairs) {
    const auto a = read_state_file(ours), b = read_state_file(theirs);
    ASSERT_EQ(a.size(), b.size()) << ours;
    for (const auto &[key, want] : b) {
      ASSERT_TRUE(a.count(key)) << ours << " lacks " << key;
      EXPECT_TRUE(arrays_close(a.at(key), want, kStateTol)) << theirs << " " << key;
    }
  }
  const std::vector<std::string> want = dir_entries(file("hidden"));
  EXPECT_EQ(dir_entries(hid), want);
  for (const std::string &f : want)
    EXPECT_TRUE(arrays_close(read_f32(hid + "/" + f), read_f32(file("hidden/" + f)), kStateTol)) << f;
}

// Zero initial states given explicitly change nothing; the fixture's do.
TEST_P(StateFixture, InitialStatesDefaultToZero) {
  ScratchDir dir;
  const std::string e = ext("h0");
  auto predict = [&](const std::string &out, const std::vector<std::string> &extra) {
    std::vector<std::string> argv = data("predict");
    argv.insert(argv.end(), {"--output", out});
    argv.insert(argv.end(), extra.begin(), extra.end());
    const RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return read_f32(out);
  };
  // Zero states shaped like the fixture's h0 (and c0), written by our writers.
  auto zeros_like = [&](const std::string &name) {
    const std::string x = ext(name);
    const std::string path = dir.path() + "/zero_" + name + x;
    const auto src = read_state_file(file(name + x));
    if (x == ".npy") {
      const FloatArray &a = src.at("");
      std::vector<float> z(a.data.size(), 0.0f);
      rnnc_rt::write_npy(path, rnnc_rt::DType::kF32, z.data(), a.shape);
    } else {
      std::vector<std::vector<float>> zs;
      std::vector<rnnc_rt::NpzOutput> members;
      for (const auto &[key, a] : src) zs.emplace_back(a.data.size(), 0.0f);
      size_t i = 0;
      for (const auto &[key, a] : src) members.push_back({key, rnnc_rt::DType::kF32, zs[i++].data(), a.shape});
      rnnc_rt::write_npz(path, members);
    }
    return path;
  };
  std::vector<std::string> zero_args = {"--h0", zeros_like("h0")};
  if (lstm()) zero_args.insert(zero_args.end(), {"--c0", zeros_like("c0")});
  const FloatArray plain = predict(dir.path() + "/plain.npy", {});
  EXPECT_EQ(predict(dir.path() + "/zero.npy", zero_args).data, plain.data);
  EXPECT_TRUE(arrays_close(plain, read_f32(file("expected_without_states.npy")), kStateTol));
  const FloatArray with = predict(dir.path() + "/with.npy", {"--h0", file("h0" + e)});
  EXPECT_GT(scaled_max_diff(with.data, plain.data), 1e-4) << "h0 changed nothing";
}

// trace --json equals PyTorch's statistics, and the statistics of
// --output-hidden computed here.
TEST_P(StateFixture, TraceMatchesPyTorchAndTheHiddenOutputs) {
  ScratchDir dir;
  const RunResult r = run(data("trace") + std::vector<std::string>{"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json ours = parse_output(r);
  const Json theirs = Json::parse(read_text(file("trace.json")));
  ASSERT_TRUE(ours.is_object() && ours.contains("trace")) << r.out;
  const Json &a = ours.at("trace"), &b = theirs.at("trace");
  ASSERT_EQ(a.size(), b.size());
  for (size_t s = 0; s < b.size(); ++s) {
    for (const char *key : {"layer", "direction"}) EXPECT_EQ(a[s].at(key), b[s].at(key)) << key;
    EXPECT_EQ(a[s].at("sublayer"), b[s].at("sublayer"));
    for (const auto &member : b[s].items()) {
      const std::string &key = member.key();
      const Json &w = member.value();
      if (!w.is_array()) continue;
      ASSERT_TRUE(a[s].contains(key)) << "trace entry " << s << " lacks " << key;
      const Json &x = a[s].at(key);
      ASSERT_EQ(x.size(), w.size()) << key;
      for (size_t t = 0; t < w.size(); ++t) {
        if (w[t].is_null()) {
          EXPECT_TRUE(x[t].is_null()) << key << "[" << t << "]: no sequence is that long";
          continue;
        }
        ASSERT_TRUE(x[t].is_number()) << key << "[" << t << "]: " << x[t];
        EXPECT_NEAR(x[t].get<double>(), w[t].get<double>(), kStateTol)
            << "entry " << s << " " << key << "[" << t << "]";
      }
    }
    EXPECT_EQ(a[s].contains("c_mean"), b[s].contains("c_mean")) << "c_* for LSTM only";
  }

  // The h statistics again, from the sub-layers' outputs (zero initial states).
  const std::string hid = dir.path() + "/hidden";
  const RunResult p =
      run(data("predict") + std::vector<std::string>{"--output", dir.path() + "/y.npy", "--output-hidden", hid});
  ASSERT_EQ(p.exit_code, 0) << p.describe();
  const FloatArray lengths_arr = [&] {
    const rnnc_rt::NpyArray l = rnnc_rt::read_npy(file("lengths.npy"));
    FloatArray f;
    for (int64_t i = 0; i < l.numel(); ++i)
      f.data.push_back(static_cast<float>(l.dtype == rnnc_rt::DType::kI64 ? l.as<int64_t>()[i] : l.as<int32_t>()[i]));
    return f;
  }();
  size_t s = 0;
  for (const std::string &f : dir_entries(hid)) {
    const FloatArray out = read_f32(hid + "/" + f);
    const int64_t n = out.shape[0], t_len = out.shape[1], width = out.shape[2];
    const int64_t dirs = (s + 1 < a.size() && a[s + 1].at("direction") == "reverse") ? 2 : 1;
    for (int64_t d = 0; d < dirs; ++d, ++s) {
      const int64_t h = width / dirs;
      const Json &mean = a[s].at("h_mean"), &sd = a[s].at("h_std");
      for (int64_t t = 0; t < t_len; ++t) {
        double sum = 0, sq = 0;
        int64_t count = 0;
        for (int64_t i = 0; i < n; ++i) {
          if (t >= lengths_arr.data[i]) continue;
          for (int64_t j = 0; j < h; ++j) {
            const double v = out.data[(i * t_len + t) * width + d * h + j];
            sum += v;
            sq += v * v;
            ++count;
          }
        }
        if (count == 0) {
          EXPECT_TRUE(mean[t].is_null());
          continue;
        }
        const double mu = sum / count;
        ASSERT_TRUE(mean[t].is_number() && sd[t].is_number()) << f << " direction " << d << " t " << t;
        EXPECT_NEAR(mean[t].get<double>(), mu, 1e-6) << f << " direction " << d << " t " << t;
        EXPECT_NEAR(sd[t].get<double>(), std::sqrt(std::max(0.0, sq / count - mu * mu)), 1e-6)
            << f << " direction " << d << " t " << t;
      }
    }
  }
  EXPECT_EQ(s, a.size()) << "every trace entry has its sub-layer output";
}

// gradnorm --per-step: |dL/dh_t| per sub-layer direction and step, in the
// one JSON object beside the per-tensor norms, equal to PyTorch's.
TEST_P(StateFixture, PerStepGradientNormsMatchPyTorch) {
  ScratchDir dir;
  const std::string plot = dir.path() + "/flow.svg";
  const RunResult r = run(data("gradnorm") + std::vector<std::string>{"--labels", file("labels.npy"), "--per-step",
                                                                      "--json", "--plot", plot});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  // One JSON object, the plot named in it ("wrote").
  const Json ours = parse_output(r);
  ASSERT_TRUE(ours.is_object());
  ASSERT_TRUE(ours.contains("grad_norms") && ours.contains("total") && ours.contains("per_step")) << r.out;
  EXPECT_EQ(ours.value("wrote", Json()), Json::array({plot})) << r.out;
  const Json theirs = Json::parse(read_text(file("per_step.json")));
  const Json &a = ours.at("per_step"), &b = theirs.at("per_step");
  ASSERT_EQ(a.size(), b.size());
  for (size_t s = 0; s < b.size(); ++s) {
    for (const char *key : {"layer", "direction"}) EXPECT_EQ(a[s].at(key), b[s].at(key)) << key;
    EXPECT_EQ(a[s].at("sublayer"), b[s].at("sublayer"));
    const Json &x = a[s].at("norms"), &w = b[s].at("norms");
    ASSERT_EQ(x.size(), w.size());
    double top = 0;
    for (const Json &v : w) top = std::max(top, v.get<double>());
    ASSERT_GT(top, 0) << "entry " << s << ": PyTorch's gradient never reaches it";
    for (size_t t = 0; t < w.size(); ++t) {
      ASSERT_TRUE(x[t].is_number()) << "entry " << s << " t " << t << ": " << x[t];
      const double want = w[t].get<double>(), got = x[t].get<double>();
      EXPECT_LE(std::abs(got - want), kNormTol * std::max(want, 1e-6 * top))
          << "entry " << s << " (" << b[s].at("layer").get<std::string>() << " "
          << b[s].at("direction").get<std::string>() << ") t " << t << ": " << got << " vs " << want;
    }
  }
  const std::string svg = read_text(plot);
  EXPECT_TRUE(contains(svg, "<svg") && contains(svg, "polyline")) << plot;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, StateFixture, testing::ValuesIn(fixture_cases("state_")),
                         [](const testing::TestParamInfo<std::string> &info) { return info.param; });

// --- bad state files ---------------------------------------------------------

TEST(StateFiles, BadInitialStatesAreRefusedNamingTheFile) {
  ScratchDir dir;
  const std::string lstm_dir = fixtures_dir() + "/state_lstm_bidir2_mean";
  const std::string mixed_dir = fixtures_dir() + "/state_mixed_lstm_gru_rnn";
  const std::string rnn_dir = fixtures_dir() + "/state_rnn_relu_all";
  const std::string out = dir.path() + "/y.npy";
  auto predict = [&](const std::string &case_dir, const std::vector<std::string> &extra) {
    std::vector<std::string> argv = {compiled_model(case_dir + "/model.toml").program,
                                     "predict",
                                     "--weights",
                                     case_dir + "/weights.safetensors",
                                     "--inputs",
                                     case_dir + "/inputs.npy",
                                     "--lengths",
                                     case_dir + "/lengths.npy",
                                     "--output",
                                     out};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv);
  };
  // Shape: 4 rows (2 layers x 2 directions), 5 sequences, hidden 5.
  const std::string wrong = dir.path() + "/wrong.npy";
  std::vector<float> z(3 * 5 * 5, 0.0f);
  rnnc_rt::write_npy(wrong, rnnc_rt::DType::kF32, z.data(), {3, 5, 5});
  RunResult r = predict(lstm_dir, {"--h0", wrong});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, wrong) && contains(r.err, "shape [3, 5, 5]") && contains(r.err, "expected [4, 5, 5]"))
      << r.err;
  EXPECT_FALSE(fs::exists(out));
  // A non-finite value.
  z.assign(4 * 5 * 5, 0.0f);
  z[7] = std::nanf("");
  const std::string nan = dir.path() + "/nan.npy";
  rnnc_rt::write_npy(nan, rnnc_rt::DType::kF32, z.data(), {4, 5, 5});
  r = predict(lstm_dir, {"--c0", nan});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, nan) && contains(r.err, "non-finite value at element 7")) << r.err;
  // Cell states for a model without an LSTM: a usage error.
  r = predict(rnn_dir, {"--c0", nan});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_TRUE(contains(r.err, "--c0") && contains(r.err, "no cell states")) << r.err;
  // Differing hidden sizes need an .npz; a wrong or missing member is named.
  r = predict(mixed_dir, {"--h0", wrong});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "different hidden sizes") && contains(r.err, ".npz")) << r.err;
  const std::string partial = dir.path() + "/partial.npz";
  std::vector<float> z1(1 * 4 * 5, 0.0f), z2(2 * 4 * 2, 0.0f);
  rnnc_rt::write_npz(partial, {{"layers.0", rnnc_rt::DType::kF32, z1.data(), {1, 4, 5}},
                               {"layers.1", rnnc_rt::DType::kF32, z2.data(), {2, 4, 2}}});
  r = predict(mixed_dir, {"--h0", partial});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, partial + "[layers.1]: shape [2, 4, 2]; expected [2, 4, 3]")) << r.err;
  rnnc_rt::write_npz(partial, {{"layers.0", rnnc_rt::DType::kF32, z1.data(), {1, 4, 5}}});
  r = predict(mixed_dir, {"--h0", partial});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, partial + "[layers.1]: missing")) << r.err;
  rnnc_rt::write_npz(partial, {{"layers.0", rnnc_rt::DType::kF32, z1.data(), {1, 4, 5}},
                               {"layers.9", rnnc_rt::DType::kF32, z1.data(), {1, 4, 5}}});
  r = predict(mixed_dir, {"--h0", partial});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "unknown member 'layers.9'")) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

// --- chrono initialisation ---------------------------------------------------

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

std::map<std::string, Tensor> read_weights(const std::string &path) {
  std::map<std::string, Tensor> out;
  for (const rnnc_rt::SafeTensor &t : rnnc_rt::read_safetensors(path).tensors) {
    Tensor x{t.shape, std::vector<float>(t.data.size() / sizeof(float))};
    std::memcpy(x.data.data(), t.data.data(), t.data.size());
    out[t.name] = x;
  }
  return out;
}

constexpr int64_t kChronoT = 40;
constexpr int64_t kHidden = 128;

std::string chrono_model(const ScratchDir &dir) {
  const std::string path = dir.path() + "/chrono.toml";
  write_text(path,
             "name = \"chrono_check\"\n[input]\nkind = \"features\"\nsize = 2\n"
             "[[layers]]\nkind = \"lstm\"\nhidden = " +
                 std::to_string(kHidden) +
                 "\nnum_layers = 2\nbidirectional = true\ninit = \"chrono\"\nchrono_t_max = " +
                 std::to_string(kChronoT) + "\n[[layers]]\nkind = \"gru\"\nhidden = " + std::to_string(kHidden) +
                 "\nnum_layers = 2\ninit = \"chrono\"\nchrono_t_max = " + std::to_string(kChronoT) +
                 "\n[[layers]]\nkind = \"readout\"\nmode = \"last\"\n[[layers]]\nkind = \"linear\"\nout = 2\n"
                 "[loss]\nkind = \"cross_entropy\"\n[train]\nlearning_rate = 1e-12\nbatch_size = 8\nepochs = 1\n");
  return path;
}

TEST(Chrono, BiasesFollowTheScheme) {
  ScratchDir dir;
  const CompiledModel &m = compiled_model(chrono_model(dir));
  const std::string w = dir.path() + "/w.safetensors";
  const RunResult r = run({m.program, "init", "--seed", "5", "--output", w});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto weights = read_weights(w);
  const double lo = 0.0, hi = std::log(static_cast<double>(kChronoT - 1));
  int lstm_biases = 0, gru_biases = 0;
  std::vector<std::vector<float>> drawn;  // the log(u) of each bias vector
  double sum_u = 0;
  int64_t count_u = 0;
  for (const auto &[name, t] : weights) {
    const bool lstm = name.rfind("layers.0.", 0) == 0, gru = name.rfind("layers.1.", 0) == 0;
    if (name.find("bias_hh") != std::string::npos) {
      for (float v : t.data) ASSERT_EQ(v, 0.0f) << name << ": bias_hh starts at 0";
    } else if (name.find("bias_ih") != std::string::npos) {
      ASSERT_TRUE(lstm || gru) << name;
      const int gates = lstm ? 4 : 3;
      ASSERT_EQ(static_cast<int64_t>(t.data.size()), gates * kHidden) << name;
      std::vector<float> logs;
      for (int64_t j = 0; j < kHidden; ++j) {
        // LSTM: i, f, g, o with b_f = log u, b_i = -b_f; GRU: r, z, n with b_z = log u.
        const float b = t.data[kHidden + j];
        EXPECT_GE(b, lo) << name << " unit " << j;
        EXPECT_LE(b, hi + 1e-6) << name << " unit " << j;
        logs.push_back(b);
        sum_u += std::exp(static_cast<double>(b));
        ++count_u;
        if (lstm) {
          EXPECT_EQ(t.data[j], -b) << name << " unit " << j << ": b_i = -b_f";
          EXPECT_EQ(t.data[2 * kHidden + j], 0.0f) << name << " g";
          EXPECT_EQ(t.data[3 * kHidden + j], 0.0f) << name << " o";
        } else {
          EXPECT_EQ(t.data[j], 0.0f) << name << " r";
          EXPECT_EQ(t.data[2 * kHidden + j], 0.0f) << name << " n";
        }
      }
      drawn.push_back(logs);
      (lstm ? lstm_biases : gru_biases)++;
    } else if (name.find("weight_") != std::string::npos) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(kHidden));
      float top = 0;
      for (float v : t.data) top = std::max(top, std::abs(v));
      EXPECT_LE(top, bound) << name << ": PyTorch's default U(-1/sqrt(H), 1/sqrt(H))";
      EXPECT_GT(top, 0.9f * bound) << name;
    }
  }
  EXPECT_EQ(lstm_biases, 4);  // 2 sub-layers x 2 directions
  EXPECT_EQ(gru_biases, 2);
  // u ~ U(1, T - 1): mean T / 2, standard error (T - 2) / sqrt(12 n).
  const double se = (kChronoT - 2) / std::sqrt(12.0 * count_u);
  EXPECT_NEAR(sum_u / count_u, kChronoT / 2.0, 5 * se);
  // Every direction and sub-layer is drawn on its own.
  for (size_t i = 0; i < drawn.size(); ++i)
    for (size_t j = i + 1; j < drawn.size(); ++j) EXPECT_NE(drawn[i], drawn[j]) << "bias vectors " << i << ", " << j;
}

TEST(Chrono, ReproducibleFromTheSeedAndUsedByTrain) {
  ScratchDir dir;
  const CompiledModel &m = compiled_model(chrono_model(dir));
  auto init = [&](const std::string &seed) {
    const std::string w = dir.path() + "/w" + seed + ".safetensors";
    const RunResult r = run({m.program, "init", "--seed", seed, "--output", w});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return w;
  };
  const std::string a = init("7"), b = init("7"), c = init("8");
  EXPECT_EQ(read_text(a), read_text(b));
  const auto wa = read_weights(a), wc = read_weights(c);
  EXPECT_NE(wa.at("layers.0.bias_ih_l0").data, wc.at("layers.0.bias_ih_l0").data);

  // train without --weights starts from the same chrono weights: one epoch
  // at lr 1e-12 leaves them where init put them.
  const int64_t n = 8, t = 5;
  std::vector<float> x(n * t * 2);
  std::vector<int64_t> y(n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * static_cast<double>(i));
  for (int64_t i = 0; i < n; ++i) y[i] = i % 2;
  rnnc_rt::write_npy(dir.path() + "/x.npy", rnnc_rt::DType::kF32, x.data(), {n, t, 2});
  rnnc_rt::write_npy(dir.path() + "/y.npy", rnnc_rt::DType::kI64, y.data(), {n});
  const std::string ckpt = dir.path() + "/c.safetensors";
  const RunResult r = run({m.program, "train", "--inputs", dir.path() + "/x.npy", "--labels", dir.path() + "/y.npy",
                           "--checkpoint", ckpt, "--seed", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const auto trained = read_weights(ckpt);
  for (const auto &[name, tensor] : wa) {
    ASSERT_TRUE(trained.count(name)) << name;
    EXPECT_TRUE(arrays_close(trained.at(name).data, trained.at(name).shape, tensor.data, tensor.shape, 1e-6)) << name;
  }
}

}  // namespace
}  // namespace rnnc_e2e
