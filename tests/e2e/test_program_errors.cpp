// End-to-end checks of how rnnc and the generated programs fail: exit codes
// (0 success, 1 bad input or data, 2 usage), messages that name the file, the
// tensor or the sequence concerned, and no partial output: a failed
// `predict` leaves its output path as it was, a failed `rnnc compile` adds
// nothing to its output directory.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
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

// A token model (vocab 20, inputs int64 [5, 7], lengths [3, 7, 5, 1, 6]) and
// a feature model (input size 5, float32 [5, 7, 5], lengths [4, 7, 1, 6, 3]).
const char *const kTokensCase = "tests/fixtures/fwd_lstm_tokens_last";
const char *const kFeaturesCase = "tests/fixtures/fwd_rnn_tanh_last";

std::string case_file(const char *fixture, const std::string &file) {
  return source_dir() + "/" + fixture + "/" + file;
}

// Runs `<program> predict <args> --output <dir>/out/y.npy` twice, first with
// no y.npy, then with a y.npy holding other content, and expects both runs to
// fail with exit_code, a stderr holding every needle, and the out directory
// exactly as it was before (no y.npy, or the old y.npy unchanged; no
// temporary files left behind).
void expect_predict_refused(const ScratchDir &dir, const CompiledModel &m, const std::vector<std::string> &args,
                            int exit_code, const std::vector<std::string> &needles) {
  const std::string out_dir = dir.file("out"), out = out_dir + "/y.npy";
  fs::remove_all(out_dir);
  fs::create_directories(out_dir);
  std::vector<std::string> argv = {m.program, "predict"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--output", out});

  for (const bool existed : {false, true}) {
    SCOPED_TRACE(existed ? "with an existing output file" : "without an output file");
    const std::string previous = "previous content of y.npy\n";
    if (existed) write_text(out, previous);
    const RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, exit_code) << r.describe();
    EXPECT_TRUE(contains(r.err, "error:")) << r.describe();
    for (const std::string &n : needles)
      EXPECT_TRUE(contains(r.err, n)) << "stderr lacks '" << n << "'\n" << r.describe();
    if (existed) {
      EXPECT_EQ(dir_entries(out_dir), std::vector<std::string>{"y.npy"});
      EXPECT_EQ(read_text(out), previous) << "a failed predict changed its output file";
    } else {
      EXPECT_EQ(dir_entries(out_dir), std::vector<std::string>{}) << "a failed predict left files behind";
    }
  }
}

// Runs predict and expects success; returns the output.
FloatArray predict_ok(const ScratchDir &dir, const CompiledModel &m, const std::vector<std::string> &args) {
  std::vector<std::string> argv = {m.program, "predict"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--output", dir.file("ok.npy")});
  const RunResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  if (r.exit_code != 0) return {};
  return read_f32(dir.file("ok.npy"));
}

// ---------------------------------------------------------------------------
// Model files

// Expects `rnnc check` and `rnnc compile` to refuse the model file text with
// exactly one "file:line:col: error:" line, at the given line, and compile
// to add nothing to its (existing, empty) output directory.
void expect_model_refused(const std::string &name, const std::string &text, int line) {
  const ScratchDir dir;
  const std::string model = dir.file(name);
  write_text(model, text);
  const std::regex diag("^(.*):([0-9]+):([0-9]+): error: .+$");
  fs::create_directories(dir.file("out"));
  for (const RunResult &r : {run({rnnc_exe(), "check", model}), run(compile_command(model, dir.file("out")))}) {
    SCOPED_TRACE(join(r.argv));
    EXPECT_NE(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.exit_code, 2) << "a bad model file is not a usage error\n" << r.describe();
    int count = 0;
    for (const std::string &l : lines_of(r.out + r.err)) {
      std::smatch m;
      if (!std::regex_match(l, m, diag)) continue;
      ++count;
      EXPECT_EQ(m[1].str(), model) << l;
      EXPECT_EQ(std::stoi(m[2].str()), line) << l;
      EXPECT_GE(std::stoi(m[3].str()), 1) << l;
    }
    EXPECT_EQ(count, 1) << "expected exactly one 'file:line:col: error:' line\n" << r.describe();
  }
  EXPECT_EQ(dir_entries(dir.file("out")), std::vector<std::string>{}) << "a failed compile left files in OUT";
}

TEST(ModelFile, SyntaxErrorIsOneDiagnostic) {
  expect_model_refused("syntax.toml",
                       "name = \"broken\"\n"
                       "[input]\n"
                       "kind = \"tokens\"\n"
                       "vocab = \n",
                       4);
}

TEST(ModelFile, UnknownLayerKindIsOneDiagnostic) {
  expect_model_refused("kind.toml",
                       "name = \"broken\"\n"
                       "\n"
                       "[input]\n"
                       "kind = \"tokens\"\n"
                       "vocab = 10\n"
                       "\n"
                       "[[layers]]\n"
                       "kind = \"lstmm\"\n"
                       "hidden = 4\n",
                       8);
}

TEST(ModelFile, CompileWithMissingCompilerNamesItAndWritesNothing) {
  const ScratchDir dir;
  const std::string out = dir.file("out"), cxx = "/nonexistent/e2e-bin/c++";
  fs::create_directories(out);
  const RunResult r = run(compile_command(case_file(kTokensCase, "model.toml"), out), {"CXX=" + cxx});
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, cxx)) << r.describe();
  EXPECT_EQ(dir_entries(out), std::vector<std::string>{}) << "a failed compile left files in OUT";
}

TEST(ModelFile, OtherGpuApisAreRefusedByName) {
  // CUDA builds are tested in test_cuda_build.cpp.
  const ScratchDir dir;
  const std::string out = dir.file("out");
  fs::create_directories(out);
  std::vector<std::string> cmd = compile_command(case_file(kTokensCase, "model.toml"), out);
  cmd.insert(cmd.end(), {"--target", "host-opencl"});
  const RunResult o = run(cmd);
  EXPECT_EQ(o.exit_code, 1) << o.describe();
  EXPECT_TRUE(contains(o.err, "the only GPU target is CUDA")) << o.describe();
  EXPECT_EQ(dir_entries(out), std::vector<std::string>{}) << "a failed compile left files in OUT";
}

TEST(ModelFile, FailedCompileLeavesAnEarlierBuildAsItWas) {
  const ScratchDir dir;
  // OUT holds a complete earlier build; a compiler that starts but fails
  // (`false`) must not replace or remove any of it.
  const CompiledModel &built = compiled_model(case_file(kTokensCase, "model.toml"));
  const std::string out = dir.file("out");
  fs::copy(built.dir, out, fs::copy_options::recursive);
  const std::vector<std::string> before = dir_entries(out);
  std::vector<std::string> contents;
  for (const std::string &e : before) contents.push_back(read_text(out + "/" + e));
  const RunResult r = run(compile_command(case_file(kTokensCase, "model.toml"), out), {"CXX=false"});
  EXPECT_NE(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "false")) << r.describe();
  ASSERT_EQ(dir_entries(out), before) << "a failed compile changed the files in OUT";
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_TRUE(read_text(out + "/" + before[i]) == contents[i]) << "a failed compile changed " << before[i];
}

// ---------------------------------------------------------------------------
// Weights

class WeightsTest : public ::testing::Test {
 protected:
  const CompiledModel &m_ = compiled_model(case_file(kTokensCase, "model.toml"));
  const std::string weights_ = case_file(kTokensCase, "weights.safetensors");
  const SafeTensorsFile file_ = rnnc_rt::read_safetensors(weights_);
  const ScratchDir dir_;

  // The fixture's weights with edit applied, written to the scratch directory.
  template <class Edit>
  std::string edited(const std::string &name, Edit edit) {
    SafeTensorsFile f = file_;
    edit(f);
    const std::string path = dir_.file(name);
    rnnc_rt::write_safetensors(path, f);
    return path;
  }

  std::vector<std::string> args(const std::string &weights) const {
    return {"--weights", weights,
            "--inputs",  case_file(kTokensCase, "inputs.npy"),
            "--lengths", case_file(kTokensCase, "lengths.npy")};
  }

  static SafeTensor &find(SafeTensorsFile &f, const std::string &name) {
    for (SafeTensor &t : f.tensors)
      if (t.name == name) return t;
    throw std::runtime_error("the fixture has no tensor " + name);
  }
};

TEST_F(WeightsTest, MissingTensorIsNamed) {
  ASSERT_EQ(file_.tensors.at(2).name, "layers.1.weight_hh_l0");
  const std::string w =
      edited("missing.safetensors", [](SafeTensorsFile &f) { f.tensors.erase(f.tensors.begin() + 2); });
  expect_predict_refused(dir_, m_, args(w), 1, {w, "'layers.1.weight_hh_l0'"});
}

TEST_F(WeightsTest, MisshapenTensorIsNamedWithBothShapes) {
  const std::string w = edited("misshapen.safetensors", [](SafeTensorsFile &f) {
    SafeTensor &t = find(f, "layers.3.weight");  // [3, 10]
    t.shape = {3, 9};
    t.data.resize(3 * 9 * sizeof(float));
  });
  expect_predict_refused(dir_, m_, args(w), 1, {w, "'layers.3.weight'", "[3, 9]", "[3, 10]"});
}

TEST_F(WeightsTest, WrongDtypeTensorIsNamed) {
  const std::string w = edited("f64.safetensors", [](SafeTensorsFile &f) {
    SafeTensor &t = find(f, "layers.1.bias_ih_l0");
    std::vector<double> wide(static_cast<size_t>(t.numel()));
    for (size_t k = 0; k < wide.size(); ++k) {
      float v;
      std::memcpy(&v, t.data.data() + k * sizeof(float), sizeof v);
      wide[k] = v;
    }
    t.dtype = "F64";
    t.data.assign(reinterpret_cast<const uint8_t *>(wide.data()),
                  reinterpret_cast<const uint8_t *>(wide.data() + wide.size()));
  });
  expect_predict_refused(dir_, m_, args(w), 1, {w, "'layers.1.bias_ih_l0'", "F64"});
}

TEST_F(WeightsTest, UnknownTensorIsNamed) {
  const std::string w = edited("extra.safetensors", [](SafeTensorsFile &f) {
    SafeTensor extra = find(f, "layers.3.bias");
    extra.name = "layers.7.bias";
    f.tensors.push_back(extra);
  });
  expect_predict_refused(dir_, m_, args(w), 1, {w, "'layers.7.bias'"});
}

TEST_F(WeightsTest, OptimizerTensorsAreSkipped) {
  const std::string w = edited("checkpoint.safetensors", [](SafeTensorsFile &f) {
    SafeTensor state = find(f, "layers.3.weight");
    state.name = "optim.state.layers.3.weight.exp_avg";
    f.tensors.insert(f.tensors.begin(), state);
    SafeTensor step;
    step.name = "optim.step";
    step.dtype = "I64";
    step.data.assign(8, 0);
    f.tensors.push_back(step);
  });
  const FloatArray y = predict_ok(dir_, m_, args(w));
  EXPECT_TRUE(arrays_close(y, read_f32(case_file(kTokensCase, "expected.npy")), 1e-5));
}

// ---------------------------------------------------------------------------
// Inputs and lengths

class DataTest : public ::testing::Test {
 protected:
  const CompiledModel &tokens_ = compiled_model(case_file(kTokensCase, "model.toml"));
  const CompiledModel &features_ = compiled_model(case_file(kFeaturesCase, "model.toml"));
  const ScratchDir dir_;

  // Writes an array of the given dtype and shape filled with value.
  template <class T>
  std::string write_filled(const std::string &name, DType dtype, const std::vector<int64_t> &shape, T value) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    std::vector<T> v(static_cast<size_t>(count), value);
    const std::string path = dir_.file(name);
    rnnc_rt::write_npy(path, dtype, v.data(), shape);
    return path;
  }

  // The token fixture's inputs (int64 [5, 7]) with element (seq, pos) set to id.
  std::string tokens_with(const std::string &name, int64_t seq, int64_t pos, int64_t id) {
    NpyArray in = rnnc_rt::read_npy(case_file(kTokensCase, "inputs.npy"));
    EXPECT_EQ(in.dtype, DType::kI64);
    reinterpret_cast<int64_t *>(in.data.data())[seq * in.shape[1] + pos] = id;
    const std::string path = dir_.file(name);
    rnnc_rt::write_npy(path, in.dtype, in.data.data(), in.shape);
    return path;
  }

  std::vector<std::string> tokens_args(const std::string &inputs, const std::string &lengths = "") const {
    return {"--weights", case_file(kTokensCase, "weights.safetensors"),
            "--inputs",  inputs,
            "--lengths", lengths.empty() ? case_file(kTokensCase, "lengths.npy") : lengths};
  }
  std::vector<std::string> features_args(const std::string &inputs, const std::string &lengths = "") const {
    return {"--weights", case_file(kFeaturesCase, "weights.safetensors"),
            "--inputs",  inputs,
            "--lengths", lengths.empty() ? case_file(kFeaturesCase, "lengths.npy") : lengths};
  }
};

TEST_F(DataTest, TokenIdOutsideVocabularyNamesSequenceAndPosition) {
  // Lengths are [3, 7, 5, 1, 6] and the vocabulary is [0, 20).
  const std::string high = tokens_with("high.npy", 1, 2, 20);
  expect_predict_refused(dir_, tokens_, tokens_args(high), 1, {high, "sequence 1", "position 2", "20"});
  const std::string negative = tokens_with("negative.npy", 4, 5, -1);
  expect_predict_refused(dir_, tokens_, tokens_args(negative), 1, {negative, "sequence 4", "position 5", "-1"});
  // The last position before the length still counts.
  const std::string last = tokens_with("last.npy", 0, 2, 1 << 20);
  expect_predict_refused(dir_, tokens_, tokens_args(last), 1, {last, "sequence 0", "position 2"});
}

TEST_F(DataTest, JunkTokenIdsAtPaddedPositionsAreAccepted) {
  NpyArray in = rnnc_rt::read_npy(case_file(kTokensCase, "inputs.npy"));
  ASSERT_EQ(in.dtype, DType::kI64);
  const int64_t lengths[] = {3, 7, 5, 1, 6};
  const int64_t junk[] = {20, -1, std::numeric_limits<int64_t>::min(), int64_t{1} << 40, -7, 1048576};
  int64_t *ids = reinterpret_cast<int64_t *>(in.data.data());
  int j = 0;
  for (int64_t i = 0; i < in.shape[0]; ++i)
    for (int64_t s = lengths[i]; s < in.shape[1]; ++s) ids[i * in.shape[1] + s] = junk[j++ % 6];
  rnnc_rt::write_npy(dir_.file("junk.npy"), in.dtype, in.data.data(), in.shape);
  const FloatArray y = predict_ok(dir_, tokens_, tokens_args(dir_.file("junk.npy")));
  EXPECT_TRUE(arrays_close(y, read_f32(case_file(kTokensCase, "expected.npy")), 1e-5));
}

TEST_F(DataTest, LengthOutsideOneToTIsRefused) {
  const std::string zero = dir_.file("zero.npy"), long_ = dir_.file("long.npy");
  const std::vector<int64_t> with_zero = {3, 7, 0, 1, 6}, too_long = {3, 7, 5, 8, 6};
  rnnc_rt::write_npy(zero, DType::kI64, with_zero.data(), {5});
  rnnc_rt::write_npy(long_, DType::kI64, too_long.data(), {5});
  const std::string inputs = case_file(kTokensCase, "inputs.npy");
  expect_predict_refused(dir_, tokens_, tokens_args(inputs, zero), 1, {zero, "sequence 2"});
  expect_predict_refused(dir_, tokens_, tokens_args(inputs, long_), 1, {long_, "sequence 3"});
  const std::vector<int32_t> negative = {4, -3, 1, 6, 3};
  const std::string neg = dir_.file("negative.npy");
  rnnc_rt::write_npy(neg, DType::kI32, negative.data(), {5});
  expect_predict_refused(dir_, features_, features_args(case_file(kFeaturesCase, "inputs.npy"), neg), 1,
                         {neg, "sequence 1"});
}

TEST_F(DataTest, LengthsOfWrongShapeOrDtypeAreRefused) {
  const std::string inputs = case_file(kTokensCase, "inputs.npy");
  const std::string short_ = write_filled<int64_t>("short.npy", DType::kI64, {4}, 3);
  expect_predict_refused(dir_, tokens_, tokens_args(inputs, short_), 1, {short_, "[4]"});
  const std::string two_d = write_filled<int64_t>("two_d.npy", DType::kI64, {5, 1}, 3);
  expect_predict_refused(dir_, tokens_, tokens_args(inputs, two_d), 1, {two_d, "[5, 1]"});
  const std::string floats = write_filled<float>("float.npy", DType::kF32, {5}, 3.0f);
  expect_predict_refused(dir_, tokens_, tokens_args(inputs, floats), 1, {floats, "float32"});
}

TEST_F(DataTest, InputsOfWrongDtypeAreRefusedNamingFileAndDtype) {
  const std::string f32 = write_filled<float>("f32.npy", DType::kF32, {5, 7}, 1.0f);
  expect_predict_refused(dir_, tokens_, tokens_args(f32), 1, {f32, "float32"});
  const std::string u8_tokens = write_filled<uint8_t>("u8_tokens.npy", DType::kU8, {5, 7}, 1);
  expect_predict_refused(dir_, tokens_, tokens_args(u8_tokens), 1, {u8_tokens, "uint8"});
  const std::string i32 = write_filled<int32_t>("i32.npy", DType::kI32, {5, 7, 5}, 1);
  expect_predict_refused(dir_, features_, features_args(i32), 1, {i32, "int32"});
  const std::string i64 = write_filled<int64_t>("i64.npy", DType::kI64, {5, 7, 5}, 1);
  expect_predict_refused(dir_, features_, features_args(i64), 1, {i64, "int64"});
  const std::string u8_features = write_filled<uint8_t>("u8_features.npy", DType::kU8, {5, 7, 5}, 1);
  expect_predict_refused(dir_, features_, features_args(u8_features), 1, {u8_features, "uint8"});
}

TEST_F(DataTest, InputsOfWrongShapeAreRefused) {
  const std::string wide = write_filled<float>("wide.npy", DType::kF32, {5, 7, 6}, 0.5f);
  expect_predict_refused(dir_, features_, features_args(wide), 1, {wide, "[5, 7, 6]"});
  const std::string flat = write_filled<float>("flat.npy", DType::kF32, {5, 7}, 0.5f);
  expect_predict_refused(dir_, features_, features_args(flat), 1, {flat, "[5, 7]"});
  const std::string cube = write_filled<int64_t>("cube.npy", DType::kI64, {5, 7, 1}, 1);
  expect_predict_refused(dir_, tokens_, tokens_args(cube), 1, {cube, "[5, 7, 1]"});
  // Inputs of another batch size than the lengths.
  const std::string six = write_filled<float>("six.npy", DType::kF32, {6, 7, 5}, 0.5f);
  expect_predict_refused(dir_, features_, features_args(six), 1, {case_file(kFeaturesCase, "lengths.npy")});
}

TEST_F(DataTest, MissingFilesAreNamed) {
  const std::string nowhere = dir_.file("no-such-file.npy");
  expect_predict_refused(dir_, tokens_, tokens_args(nowhere), 1, {nowhere});
  expect_predict_refused(dir_, tokens_, tokens_args(case_file(kTokensCase, "inputs.npy"), nowhere), 1, {nowhere});
  std::vector<std::string> args = tokens_args(case_file(kTokensCase, "inputs.npy"));
  args[1] = dir_.file("no-such-weights.safetensors");
  expect_predict_refused(dir_, tokens_, args, 1, {args[1]});
}

// ---------------------------------------------------------------------------
// Command lines

class UsageTest : public ::testing::Test {
 protected:
  const CompiledModel &m_ = compiled_model(case_file(kTokensCase, "model.toml"));
  const ScratchDir dir_;

  std::vector<std::string> valid_args() const {
    return {"--weights", case_file(kTokensCase, "weights.safetensors"),
            "--inputs",  case_file(kTokensCase, "inputs.npy"),
            "--lengths", case_file(kTokensCase, "lengths.npy")};
  }
};

TEST_F(UsageTest, UnknownOptionIsAUsageError) {
  std::vector<std::string> args = valid_args();
  args.insert(args.end(), {"--bogus", "1"});
  expect_predict_refused(dir_, m_, args, 2, {"--bogus", "predict --help"});
  args = valid_args();
  args.insert(args.end(), {"--batch-size", "zero"});
  expect_predict_refused(dir_, m_, args, 2, {"--batch-size", "predict --help"});
}

TEST_F(UsageTest, MisspelledOptionSuggestsTheIntendedOne) {
  std::vector<std::string> args = valid_args();
  args[4] = "--lenghts";  // two letters swapped
  expect_predict_refused(dir_, m_, args, 2, {"--lenghts", "predict --help"});
  // A swap of two letters counts as one edit, so '--lengths' wins over
  // '--weights' (plain Levenshtein distance made them tie).
  const RunResult r = run({m_.program, "predict", "--lenghts", "x.npy"});
  EXPECT_TRUE(contains(r.err, "did you mean '--lengths'?")) << r.describe();
}

TEST_F(UsageTest, MissingRequiredOptionIsAUsageError) {
  expect_predict_refused(dir_, m_, {"--weights", case_file(kTokensCase, "weights.safetensors")}, 2,
                         {"--inputs", "predict --help"});
  const RunResult init = run({m_.program, "init", "--seed", "3"});
  EXPECT_EQ(init.exit_code, 2) << init.describe();
  EXPECT_TRUE(contains(init.err, "--output")) << init.describe();
  EXPECT_TRUE(contains(init.err, "init --help")) << init.describe();
}

TEST_F(UsageTest, UnknownOrNoCommandIsAUsageError) {
  const RunResult unknown = run({m_.program, "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.describe();
  EXPECT_TRUE(contains(unknown.err, "frobnicate")) << unknown.describe();
  const RunResult none = run({m_.program});
  EXPECT_EQ(none.exit_code, 2) << none.describe();
  EXPECT_TRUE(contains(none.err, "usage:")) << none.describe();
  const RunResult rnnc_unknown = run({rnnc_exe(), "frobnicate"});
  EXPECT_EQ(rnnc_unknown.exit_code, 2) << rnnc_unknown.describe();
  const RunResult rnnc_option = run({rnnc_exe(), "compile", case_file(kTokensCase, "model.toml"), "--bogus"});
  EXPECT_EQ(rnnc_option.exit_code, 2) << rnnc_option.describe();
  EXPECT_TRUE(contains(rnnc_option.err, "compile --help")) << rnnc_option.describe();
  const RunResult rnnc_missing = run({rnnc_exe(), "compile", case_file(kTokensCase, "model.toml")});
  EXPECT_EQ(rnnc_missing.exit_code, 2) << rnnc_missing.describe();
  EXPECT_TRUE(contains(rnnc_missing.err, "compile --help")) << rnnc_missing.describe();
}

TEST_F(UsageTest, HelpOfEveryCommandSucceeds) {
  const RunResult overview = run({m_.program, "--help"});
  ASSERT_EQ(overview.exit_code, 0) << overview.describe();
  // The commands are listed after "commands:", one per line, up to a blank line.
  std::vector<std::string> commands;
  bool in_list = false;
  for (const std::string &l : lines_of(overview.out)) {
    if (l == "commands:") {
      in_list = true;
    } else if (in_list && l.empty()) {
      break;
    } else if (in_list) {
      std::string name;
      std::istringstream(l) >> name;
      commands.push_back(name);
    }
  }
  for (const char *expected : {"info", "init", "predict", "bench"})
    EXPECT_NE(std::find(commands.begin(), commands.end(), expected), commands.end())
        << "'" << expected << "' is not listed\n"
        << overview.describe();
  for (const std::string &c : commands) {
    const RunResult r = run({m_.program, c, "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "usage:") && contains(r.out, c)) << r.describe();
  }
  for (const std::vector<std::string> &argv : std::vector<std::vector<std::string>>{
           {rnnc_exe(), "--help"}, {rnnc_exe(), "check", "--help"}, {rnnc_exe(), "compile", "--help"}}) {
    const RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_FALSE(r.out.empty()) << r.describe();
  }
}

}  // namespace
}  // namespace rnnc_e2e
