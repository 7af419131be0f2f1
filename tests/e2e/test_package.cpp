// End-to-end checks of rnnc as users' builds see it: the installed CMake
// package (cmake --install, then examples/ configured against the moved
// prefix, built and run: a C program on the static library, a C++ program
// on the shared one), rnnc_add_model's options, rebuilds and configure-time
// errors, and the pkg-config file every compile writes.
//
// Besides the e2e paths, the build passes RNNC_BINARY_DIR (to install from),
// RNNC_CMAKE (the cmake that configured it), RNNC_C_COMPILER and RNNC_PKG_CONFIG
// (empty when pkg-config was not found).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <rnnc_version.h>

#include "e2e_util.h"
#include "io/npy.h"

#if !defined(RNNC_BINARY_DIR) || !defined(RNNC_CMAKE) || !defined(RNNC_C_COMPILER) || !defined(RNNC_PKG_CONFIG)
#error "test_package needs RNNC_BINARY_DIR, RNNC_CMAKE, RNNC_C_COMPILER and RNNC_PKG_CONFIG"
#endif

namespace rnnc_e2e {
namespace {

using rnnc_rt::DType;

const char *const kModelName = "tiny_classifier";
const char *const kExampleModel = "examples/tiny_classifier.toml";
constexpr int64_t kOutputWidth = 3;

// The same library and the program's predict on the same inputs: the
// tolerance only allows for printing with 9 significant digits.
constexpr double kTol = 1e-5;

// Generous: a cold kernel cache compiles every kernel of the model twice
// (the examples compile it for two targets at once).
constexpr int kBuildTimeout = 1200;

std::vector<std::string> cache_env() { return {"RNNC_CACHE_DIR=" + cache_dir()}; }

// The inputs given to the examples' predict, ragged: each one's length is
// its number of tokens.
const std::vector<std::vector<int32_t>> kSequences = {{1, 2, 3, 4, 5}, {7}, {11, 0, 3}, {4, 4, 4, 4, 4, 4, 4}};

std::vector<std::string> sequence_args() {
  std::vector<std::string> args;
  for (const auto &seq : kSequences) {
    std::string a;
    for (size_t i = 0; i < seq.size(); ++i) a += (i ? "," : "") + std::to_string(seq[i]);
    args.push_back(a);
  }
  return args;
}

// The generated program's `predict` over kSequences (written as .npy with
// lengths) with the given weights: the reference outputs, [N, out].
FloatArray program_predict(const std::string &program, const std::string &weights, const std::string &dir) {
  size_t t = 0;
  for (const auto &seq : kSequences) t = std::max(t, seq.size());
  const int64_t n = static_cast<int64_t>(kSequences.size());
  std::vector<int32_t> tokens(n * t, 0), lengths;
  for (int64_t i = 0; i < n; ++i) {
    std::copy(kSequences[i].begin(), kSequences[i].end(), tokens.begin() + i * static_cast<int64_t>(t));
    lengths.push_back(static_cast<int32_t>(kSequences[i].size()));
  }
  const std::string x = dir + "/x.npy", len = dir + "/lengths.npy", y = dir + "/y.npy";
  rnnc_rt::write_npy(x, DType::kI32, tokens.data(), {n, static_cast<int64_t>(t)});
  rnnc_rt::write_npy(len, DType::kI32, lengths.data(), {n});
  const RunResult r = run({program, "predict", "--weights", weights, "--inputs", x, "--lengths", len, "--output", y});
  if (r.exit_code != 0) throw std::runtime_error("the program's predict failed\n" + r.describe());
  return read_f32(y);
}

// The examples' predict output ("<i>: <v> <v> <v>" per sequence) as [N, out];
// the shape is [0] when a line does not read that way.
FloatArray parse_predict_output(const std::string &out) {
  FloatArray a;
  int64_t rows = 0;
  for (const std::string &line : lines_of(out)) {
    const std::string prefix = std::to_string(rows) + ":";
    if (line.compare(0, prefix.size(), prefix) != 0) return {{0}, {}};
    std::istringstream values(line.substr(prefix.size()));
    int64_t width = 0;
    for (float v; values >> v; ++width) a.data.push_back(v);
    if (width != kOutputWidth || !values.eof()) return {{0}, {}};
    ++rows;
  }
  a.shape = {rows, kOutputWidth};
  return a;
}

// `cmake --install` of this build into prefix; throws with cmake's output.
void install_rnnc(const std::string &prefix) {
  const RunResult r = run({RNNC_CMAKE, "--install", RNNC_BINARY_DIR, "--prefix", prefix});
  if (r.exit_code != 0) throw std::runtime_error("cmake --install failed\n" + r.describe());
}

// Configures the project in src against the rnnc installed in prefix.
RunResult configure(const std::string &src, const std::string &build, const std::string &prefix) {
  return run({RNNC_CMAKE, "-S", src, "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release"},
             cache_env());
}

RunResult build(const std::string &build_dir) {
  return run({RNNC_CMAKE, "--build", build_dir, "-j", "2"}, cache_env(), kBuildTimeout);
}

// The shared libraries an executable needs (readelf's NEEDED entries) and its
// run paths, as one text to search.
std::string dynamic_section(const std::string &exe) {
  const RunResult r = run({"readelf", "-d", exe});
  if (r.exit_code != 0) throw std::runtime_error("readelf failed\n" + r.describe());
  return r.out;
}

// Every number after `key` at the start of a line of text ("step 3 loss 1.2"
// with key "step": the last number of each such line).
std::vector<double> numbers_after(const std::string &text, const std::string &key) {
  std::vector<double> v;
  for (const std::string &line : lines_of(text)) {
    if (line.compare(0, key.size() + 1, key + " ") != 0) continue;
    const size_t at = line.find_last_of(' ');
    v.push_back(std::strtod(line.c_str() + at + 1, nullptr));
  }
  return v;
}

// text with every run of white space replaced by one space.
std::string squeezed(const std::string &text) {
  std::string s;
  for (char c : text) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (!space || (!s.empty() && s.back() != ' ')) s += space ? ' ' : c;
  }
  return s;
}

TEST(Package, ExamplesBuildAgainstTheInstalledPackageAndRun) {
  const ScratchDir dir;
  // Installed, then moved: nothing may depend on the prefix it was installed to.
  const std::string staged = dir.file("staged"), prefix = dir.file("prefix");
  install_rnnc(staged);
  for (const char *f :
       {"bin/rnnc", "lib/rnnc/librnnc_runtime.a", "include/rnnc/model_desc.h", "lib/cmake/rnnc/rnncConfig.cmake",
        "lib/cmake/rnnc/rnncConfigVersion.cmake", "lib/cmake/rnnc/RnncAddModel.cmake"})
    ASSERT_TRUE(fs::exists(staged + "/" + f)) << "cmake --install wrote no " << f;
  fs::rename(staged, prefix);

  const std::string bdir = dir.file("build");
  const RunResult configured = configure(source_dir() + "/examples", bdir, prefix);
  ASSERT_EQ(configured.exit_code, 0) << configured.describe();
  const RunResult built = build(bdir);
  ASSERT_EQ(built.exit_code, 0) << built.describe();
  ASSERT_TRUE(contains(built.out, "rnnc: compiling model tiny_classifier")) << built.describe();

  // predict links the static library, train the shared one.
  const std::string predict = bdir + "/predict", train = bdir + "/train";
  const std::string so = std::string("lib") + kModelName + ".so";
  EXPECT_FALSE(contains(dynamic_section(predict), so)) << "predict should link lib" << kModelName << ".a";
  EXPECT_TRUE(contains(dynamic_section(train), so)) << "train should link " << so;

  // The C program's outputs are those of the generated program's predict,
  // for seed-0 weights from init(0) and from the program's `init --seed 0`.
  const std::string program = bdir + "/rnnc/tiny_classifier_static/" + kModelName;
  const std::string w0 = dir.file("w0.safetensors");
  const RunResult init = run({program, "init", "--seed", "0", "--output", w0});
  ASSERT_EQ(init.exit_code, 0) << init.describe();
  const FloatArray expected = program_predict(program, w0, dir.path());
  ASSERT_EQ(expected.shape, (std::vector<int64_t>{static_cast<int64_t>(kSequences.size()), kOutputWidth}));
  std::vector<std::string> args = {predict};
  for (const std::string &a : sequence_args()) args.push_back(a);
  const RunResult from_init = run(args);
  ASSERT_EQ(from_init.exit_code, 0) << from_init.describe();
  EXPECT_TRUE(arrays_close(parse_predict_output(from_init.out), expected, kTol)) << from_init.describe();
  args.insert(args.begin() + 1, {"--weights", w0});
  const RunResult from_file = run(args);
  ASSERT_EQ(from_file.exit_code, 0) << from_file.describe();
  EXPECT_TRUE(arrays_close(parse_predict_output(from_file.out), expected, kTol)) << from_file.describe();

  // A token outside the vocabulary: the library's own message, non-zero exit.
  const RunResult bad = run({predict, "1,2", "3,12"});
  EXPECT_EQ(bad.exit_code, 1) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "predict: forward failed: token id 12 of sequence 1")) << bad.describe();

  // The C++ program's loss falls over its steps on its fixed batch, and the
  // weights it saves give the program's predict outputs of their own.
  const std::string trained = dir.file("trained.safetensors");
  const RunResult trained_run = run({train, "--steps", "30", "--save", trained});
  ASSERT_EQ(trained_run.exit_code, 0) << trained_run.describe();
  const std::vector<double> before = numbers_after(trained_run.out, "loss before"),
                            after = numbers_after(trained_run.out, "loss after"),
                            steps = numbers_after(trained_run.out, "step");
  ASSERT_EQ(before.size(), 1u) << trained_run.describe();
  ASSERT_EQ(after.size(), 1u) << trained_run.describe();
  ASSERT_EQ(steps.size(), 30u) << trained_run.describe();
  EXPECT_LT(after[0], 0.7 * before[0]) << trained_run.describe();
  EXPECT_LT(steps.back(), steps.front()) << trained_run.describe();
  const FloatArray after_training = program_predict(program, trained, dir.path());
  EXPECT_FALSE(arrays_close(after_training, expected, 1e-3)) << "training did not change the outputs";
  args[2] = trained;  // predict --weights <trained> SEQUENCE...
  const RunResult with_trained = run(args);
  ASSERT_EQ(with_trained.exit_code, 0) << with_trained.describe();
  EXPECT_TRUE(arrays_close(parse_predict_output(with_trained.out), after_training, kTol)) << with_trained.describe();

  // Up to date: a second build compiles nothing.
  const RunResult again = build(bdir);
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_FALSE(contains(again.out, "rnnc: compiling model")) << again.describe();
}

// TARGET and SCHEDULES reach rnnc compile, and an edited model file or
// records file compiles the model again; a C-only project links the static
// library alone.
TEST(Package, RnncAddModelPassesItsOptionsAndRecompilesWhatChanged) {
  const ScratchDir dir;
  const std::string prefix = dir.file("prefix"), src = dir.file("project"), bdir = dir.file("build");
  install_rnnc(prefix);
  fs::create_directories(src);
  const std::string model = src + "/tiny_classifier.toml", records = src + "/records.json";
  fs::copy_file(source_dir() + "/" + kExampleModel, model);
  // Not a records file: rnnc warns, names it and compiles with the defaults.
  write_text(records, "{}\n");
  // The target is named m, as libm is: the static library's link
  // dependencies must not take it for the target itself.
  write_text(src + "/CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.20)\nproject(edited C)\nfind_package(rnnc REQUIRED)\n"
             "rnnc_add_model(m MODEL tiny_classifier.toml TARGET x86-64-linux-sse41 SCHEDULES records.json)\n"
             "add_executable(app app.c)\ntarget_link_libraries(app PRIVATE m)\n");
  write_text(src + "/app.c",
             "#include \"tiny_classifier.h\"\nint main(void) {\n  tiny_classifier_model *m = tiny_classifier_init(0);\n"
             "  if (!m) return 1;\n  tiny_classifier_close(m);\n  return 0;\n}\n");
  const RunResult configured = configure(src, bdir, prefix);
  ASSERT_EQ(configured.exit_code, 0) << configured.describe();
  const RunResult built = build(bdir);
  ASSERT_EQ(built.exit_code, 0) << built.describe();
  // rnnc prints the target's canonical form, its features sorted.
  EXPECT_TRUE(contains(built.out, "rnnc: compiled tiny_classifier for x86-64-linux-no_runtime-sse41-user_context\n"))
      << built.describe();
  EXPECT_TRUE(contains(built.err, records + ": not an rnnc tuning records file")) << built.describe();
  const RunResult app = run({bdir + "/app"});
  EXPECT_EQ(app.exit_code, 0) << app.describe();

  for (const std::string &edited : {model, records}) {
    SCOPED_TRACE(edited);
    write_text(edited, read_text(edited) + (edited == model ? "# edited\n" : "\n"));
    const RunResult rebuilt = build(bdir);
    ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.describe();
    EXPECT_TRUE(contains(rebuilt.out, "rnnc: compiling model tiny_classifier")) << rebuilt.describe();
  }
}

// A project calling rnnc_add_model(args) fails to configure with a message
// containing each of `expected`.
TEST(Package, RnncAddModelErrorsStopTheConfigure) {
  const ScratchDir dir;
  const std::string prefix = dir.file("prefix");
  install_rnnc(prefix);
  write_text(dir.file("broken.toml"), "name = \"broken\"\n[input]\nkind = \"tokens\"\n");
  struct Case {
    std::string args;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"MODEL no_such_model.toml", {"rnnc_add_model(m)", "the model file", dir.file("project/no_such_model.toml")}},
      {"STATIC", {"rnnc_add_model(m)", "MODEL <file.toml> is required"}},
      {"MODEL", {"rnnc_add_model(m)", "MODEL given without a value"}},
      {"MODEL ../broken.toml SHRED", {"rnnc_add_model(m)", "unknown argument(s) 'SHRED'"}},
      {"MODEL ../broken.toml STATIC SHARED", {"STATIC and SHARED exclude each other"}},
      {"MODEL ../broken.toml SCHEDULES none.json", {"the tuning records", dir.file("project/none.json")}},
      // The model file's own error, with its location, from `rnnc check`.
      {"MODEL ../broken.toml",
       {"rnnc check", dir.file("broken.toml") + ":2:1: error: [input] of kind \"tokens\" needs 'vocab'"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case &c = cases[i];
    SCOPED_TRACE(c.args);
    const std::string src = dir.file("project");
    fs::remove_all(src);
    fs::create_directories(src);
    const std::string call = "rnnc_add_model(m " + c.args + ")\n";
    write_text(src + "/CMakeLists.txt",
               "cmake_minimum_required(VERSION 3.20)\nproject(bad C)\nfind_package(rnnc REQUIRED)\n" + call);
    const RunResult r = configure(src, dir.file("build" + std::to_string(i)), prefix);
    EXPECT_NE(r.exit_code, 0) << r.describe();
    // CMake rewraps messages: compare with every run of white space as one space.
    const std::string err = squeezed(r.err);
    for (const std::string &e : c.expected) EXPECT_TRUE(contains(err, e)) << "no '" << e << "'\n" << r.describe();
  }
}

// OUT/<name>.pc, moved with OUT: a C program builds with its flags, runs on
// the shared library through the rpath, and matches the program's predict.
TEST(Package, PkgConfigFileBuildsAProgramFromAMovedDirectory) {
  ASSERT_STRNE(RNNC_PKG_CONFIG, "") << "pkg-config was not found when rnnc was configured (.ci/install-deps.sh "
                                       "installs it)";
  const ScratchDir dir;
  const CompiledModel &m = compiled_model(kExampleModel);
  const std::string out = dir.file("moved");
  fs::copy(m.dir, out, fs::copy_options::recursive);
  const std::vector<std::string> env = {"PKG_CONFIG_PATH=" + out};

  const RunResult version = run({RNNC_PKG_CONFIG, "--modversion", kModelName}, env);
  ASSERT_EQ(version.exit_code, 0) << version.describe();
  EXPECT_EQ(version.out, std::string(RNNC_VERSION) + "\n");
  const RunResult staticlib = run({RNNC_PKG_CONFIG, "--variable=staticlib", kModelName}, env);
  EXPECT_EQ(staticlib.out, out + "/lib" + kModelName + ".a\n") << staticlib.describe();
  const RunResult flags = run({RNNC_PKG_CONFIG, "--cflags", "--libs", kModelName}, env);
  ASSERT_EQ(flags.exit_code, 0) << flags.describe();
  EXPECT_TRUE(contains(flags.out, "-I" + out) && contains(flags.out, "-Wl,-rpath," + out)) << flags.describe();

  const std::string exe = dir.file("predict");
  std::vector<std::string> cc = {RNNC_C_COMPILER, "-o", exe, source_dir() + "/examples/predict.c"};
  std::istringstream words(flags.out);
  for (std::string w; words >> w;) cc.push_back(w);
  const RunResult compiled = run(cc);
  ASSERT_EQ(compiled.exit_code, 0) << compiled.describe();
  EXPECT_TRUE(contains(dynamic_section(exe), out)) << "no run path to " << out;

  std::vector<std::string> args = {exe};
  for (const std::string &a : sequence_args()) args.push_back(a);
  const RunResult r = run(args);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string w0 = dir.file("w0.safetensors");
  const RunResult init = run({out + "/" + kModelName, "init", "--seed", "0", "--output", w0});
  ASSERT_EQ(init.exit_code, 0) << init.describe();
  EXPECT_TRUE(arrays_close(parse_predict_output(r.out), program_predict(out + "/" + kModelName, w0, dir.path()), kTol))
      << r.describe();
}

}  // namespace
}  // namespace rnnc_e2e
