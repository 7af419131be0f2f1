// Shared helpers of the end-to-end tests: running rnnc and the programs it
// generates (fork/exec, no shell), compiling a model once per test process,
// per-test scratch directories, and comparing float arrays.
//
// The build passes four paths as compile definitions: RNNC_EXE (the rnnc
// executable), RNNC_SOURCE_DIR, RNNC_TEST_CACHE_DIR (a kernel cache shared by
// the test runs, so that only the first run compiles kernels) and
// RNNC_TEST_WORK_DIR (the root of the tests' scratch directories).
#pragma once

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "io/npy.h"

#if !defined(RNNC_EXE) || !defined(RNNC_SOURCE_DIR) || !defined(RNNC_TEST_CACHE_DIR) || !defined(RNNC_TEST_WORK_DIR)
#error "the e2e tests need RNNC_EXE, RNNC_SOURCE_DIR, RNNC_TEST_CACHE_DIR and RNNC_TEST_WORK_DIR"
#endif

extern char **environ;

namespace rnnc_e2e {

namespace fs = std::filesystem;

inline std::string rnnc_exe() { return RNNC_EXE; }
inline std::string source_dir() { return RNNC_SOURCE_DIR; }
inline std::string cache_dir() { return RNNC_TEST_CACHE_DIR; }

// ---------------------------------------------------------------------------
// Files

inline std::string read_text(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Names of the entries of dir (hidden ones included), sorted.
inline std::vector<std::string> dir_entries(const std::string &dir) {
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string join(const std::vector<std::string> &v, const std::string &sep = " ") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

inline std::string shape_str(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------
// Processes

struct RunResult {
  std::vector<std::string> argv;
  int exit_code = -1;  // 128 + signal when killed by a signal
  bool timed_out = false;
  std::string out, err;

  // The command and everything it printed, for failure messages.
  std::string describe() const {
    return "$ " + join(argv) + "\nexit code " + std::to_string(exit_code) + (timed_out ? " (timed out)" : "") +
           "\n--- stdout ---\n" + out + "--- stderr ---\n" + err + "--------------";
  }
};

// Reads a child's stdout and stderr (out_fd, err_fd: pipes or terminals)
// into r.out and r.err until both close, killing it after timeout_s seconds
// (r.timed_out), then waits for it and sets r.exit_code (128 + signal when
// killed by one). Closes both fds.
inline void collect_child(pid_t pid, int out_fd, int err_fd, int timeout_s, RunResult &r) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string *sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    const int ready = poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {  // a terminal reads EIO once the program has closed it
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (const pollfd &p : fds)
    if (p.fd >= 0) close(p.fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

// Runs argv[0] (looked up in PATH when it has no '/') with stdin from
// /dev/null, capturing stdout and stderr. `env` holds "NAME=VALUE" entries
// that replace or extend the environment. A command still running after
// timeout_s seconds is killed.
inline RunResult run(const std::vector<std::string> &argv, const std::vector<std::string> &env = {},
                     int timeout_s = 300) {
  RunResult r;
  r.argv = argv;
  if (argv.empty()) throw std::invalid_argument("run: empty command");

  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char **e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(
        env.begin(), env.end(), [&](const std::string &o) { return o.compare(0, name.size() + 1, name + "=") == 0; });
    if (!replaced) env_strings.push_back(entry);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char *> cargv, cenv;
  for (const auto &a : argv) cargv.push_back(const_cast<char *>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto &e : env_strings) cenv.push_back(const_cast<char *>(e.c_str()));
  cenv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    throw std::runtime_error("pipe2 failed");
  }
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execvpe(cargv[0], cargv.data(), cenv.data());
    const char msg[] = "e2e run: cannot execute the command\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);

  collect_child(pid, out_pipe[0], err_pipe[0], timeout_s, r);
  return r;
}

inline bool contains(const std::string &text, const std::string &needle) {
  return text.find(needle) != std::string::npos;
}

// Lines of text, without their '\n'.
inline std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---------------------------------------------------------------------------
// Scratch directories

// RNNC_TEST_WORK_DIR/<test executable>[.emulated_device]: every test process
// of one executable keeps its directories here.
inline std::string executable_work_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::string name = ec ? std::string("e2e") : exe.filename().string();
  // The suites registered again on the emulated device run beside the others.
  if (const char *e = std::getenv("RNNC_EMULATE_DEVICE"); e && std::string(e) == "1") name += ".emulated_device";
  return (fs::path(RNNC_TEST_WORK_DIR) / name).string();
}

// The running test's own directory, RNNC_TEST_WORK_DIR/<executable>/<suite>.<test>
// (a parameterised test's '/' becomes '.'): emptied when created, removed
// when the test passes and kept for inspection when it fails. ctest may run
// tests in parallel; no two tests share the directory.
class ScratchDir {
 public:
  ScratchDir() {
    const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "no_test";
    std::replace(name.begin(), name.end(), '/', '.');
    path_ = (fs::path(executable_work_dir()) / name).string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!::testing::Test::HasFailure()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  const std::string &path() const { return path_; }
  // path()/name; name may contain '/'.
  std::string file(const std::string &name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------
// Fixtures

inline std::string fixtures_dir() { return source_dir() + "/tests/fixtures"; }

// The fixture cases whose directory name starts with `prefix` ("fwd_",
// "train_", "state_"), sorted; listed from the source tree when called, so
// a new case is picked up without editing a test.
inline std::vector<std::string> fixture_cases(const std::string &prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(fixtures_dir(), ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.rfind(prefix, 0) == 0) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------
// Compiled models

// What `rnnc compile` wrote for one model, with the facts its header states.
struct CompiledModel {
  std::string name;
  std::string dir;         // OUT
  std::string program;     // OUT/<name>
  std::string shared_lib;  // OUT/lib<name>.so
  std::string static_lib;  // OUT/lib<name>.a
  std::string header;      // OUT/<name>.h
  bool tokens = false;     // <NAME>_INPUT_IS_TOKENS
  int64_t vocab = 0;       // <NAME>_VOCAB, token models
  int64_t input_size = 0;  // <NAME>_INPUT_SIZE, feature models
  int64_t output_width = 0;
  bool per_step = false;   // <NAME>_OUTPUT_PER_STEP
  int64_t num_params = 0;  // <NAME>_NUM_PARAMS
};

// The value of `#define <macro> <integer>` in header text; throws when absent.
inline int64_t header_define(const std::string &text, const std::string &macro) {
  const std::string key = "#define " + macro + " ";
  const size_t at = text.find(key);
  if (at == std::string::npos) throw std::runtime_error("the generated header lacks " + macro);
  return std::stoll(text.substr(at + key.size()));
}

// Describes the model rnnc compiled into out_dir (which holds one header).
inline CompiledModel describe_compiled(const std::string &out_dir) {
  CompiledModel m;
  m.dir = out_dir;
  for (const std::string &e : dir_entries(out_dir))
    if (e.size() > 2 && e.compare(e.size() - 2, 2, ".h") == 0) m.name = e.substr(0, e.size() - 2);
  if (m.name.empty()) throw std::runtime_error(out_dir + " holds no generated header");
  m.program = out_dir + "/" + m.name;
  m.shared_lib = out_dir + "/lib" + m.name + ".so";
  m.static_lib = out_dir + "/lib" + m.name + ".a";
  m.header = out_dir + "/" + m.name + ".h";
  std::string up;
  for (char c : m.name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string text = read_text(m.header);
  m.tokens = header_define(text, up + "_INPUT_IS_TOKENS") != 0;
  if (m.tokens)
    m.vocab = header_define(text, up + "_VOCAB");
  else
    m.input_size = header_define(text, up + "_INPUT_SIZE");
  m.output_width = header_define(text, up + "_OUTPUT_WIDTH");
  m.per_step = header_define(text, up + "_OUTPUT_PER_STEP") != 0;
  m.num_params = header_define(text, up + "_NUM_PARAMS");
  return m;
}

// The arguments of `rnnc compile` for model_path into out_dir, with the tests'
// kernel cache.
inline std::vector<std::string> compile_command(const std::string &model_path, const std::string &out_dir) {
  return {rnnc_exe(), "compile", model_path, "-o", out_dir, "--cache-dir", cache_dir(), "-j", "2"};
}

// Directory of the models this process compiled:
// RNNC_TEST_WORK_DIR/<executable>/compiled.<pid>, removed when the process
// exits normally. Directories left by processes that no longer run (a crash)
// are removed when the next one starts.
class CompiledModels {
 public:
  static CompiledModels &instance() {
    static CompiledModels models;
    return models;
  }

  // Compiles model_path (relative paths are taken from RNNC_SOURCE_DIR) on the
  // first call for that path and returns the result of that compile on every
  // call; throws std::runtime_error with rnnc's output when it fails.
  const CompiledModel &get(const std::string &model_path) {
    const std::string path = fs::path(model_path).is_absolute() ? model_path : source_dir() + "/" + model_path;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = models_.find(path);
    if (it != models_.end()) return it->second;
    const std::string out = dir_ + "/" + std::to_string(models_.size());
    const RunResult r = run(compile_command(path, out));
    if (r.exit_code != 0) throw std::runtime_error("rnnc compile failed:\n" + r.describe());
    return models_.emplace(path, describe_compiled(out)).first->second;
  }

 private:
  CompiledModels() {
    const std::string root = executable_work_dir();
    fs::create_directories(root);
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(root, ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind("compiled.", 0) != 0) continue;
      const long pid = std::strtol(n.c_str() + 9, nullptr, 10);
      if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
    }
    dir_ = root + "/compiled." + std::to_string(getpid());
    fs::remove_all(dir_, ec);
    fs::create_directories(dir_);
  }
  ~CompiledModels() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::mutex mutex_;
  std::string dir_;
  std::map<std::string, CompiledModel> models_;
};

inline const CompiledModel &compiled_model(const std::string &model_path) {
  return CompiledModels::instance().get(model_path);
}

// ---------------------------------------------------------------------------
// Arrays

struct FloatArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Reads a float32 .npy file; throws when it holds another dtype.
inline FloatArray read_f32(const std::string &path) {
  rnnc_rt::NpyArray a = rnnc_rt::read_npy(path);
  if (a.dtype != rnnc_rt::DType::kF32)
    throw std::runtime_error(path + ": expected float32, found " + rnnc_rt::dtype_name(a.dtype));
  FloatArray f;
  f.shape = a.shape;
  f.data.assign(a.as<float>(), a.as<float>() + a.numel());
  return f;
}

// max |actual - expected| / max(1, max |expected|): the error relative to the
// scale of the expected values (absolute for values below 1). Infinite when
// the sizes differ or actual holds a non-finite value.
inline double scaled_max_diff(const std::vector<float> &actual, const std::vector<float> &expected,
                              size_t *worst = nullptr) {
  if (actual.size() != expected.size()) return INFINITY;
  double scale = 1.0, diff = 0.0;
  for (float e : expected) scale = std::max(scale, std::fabs(static_cast<double>(e)));
  if (worst) *worst = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = std::isfinite(actual[i]) ? std::fabs(static_cast<double>(actual[i]) - expected[i]) : INFINITY;
    if (d > diff) {
      diff = d;
      if (worst) *worst = i;
    }
  }
  return diff / scale;
}

// Success when the shapes are equal and scaled_max_diff ≤ tol; the failure
// message gives the worst element.
inline ::testing::AssertionResult arrays_close(const std::vector<float> &actual,
                                               const std::vector<int64_t> &actual_shape,
                                               const std::vector<float> &expected,
                                               const std::vector<int64_t> &expected_shape, double tol) {
  if (actual_shape != expected_shape)
    return ::testing::AssertionFailure() << "shape " << shape_str(actual_shape) << ", expected "
                                         << shape_str(expected_shape);
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << actual.size() << " elements, expected " << expected.size();
  size_t worst = 0;
  const double d = scaled_max_diff(actual, expected, &worst);
  if (d <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max |actual - expected| / max(1, max |expected|) = " << d << " > " << tol
                                       << "; worst at flat index " << worst << ": actual " << actual[worst]
                                       << ", expected " << expected[worst];
}

inline ::testing::AssertionResult arrays_close(const FloatArray &actual, const FloatArray &expected, double tol) {
  return arrays_close(actual.data, actual.shape, expected.data, expected.shape, tol);
}

// A generated model's shared library, loaded with dlopen (RTLD_NOW |
// RTLD_LOCAL). It stays loaded for the rest of the process: the Halide
// runtime inside keeps worker threads.
class ModelLibrary {
 public:
  ModelLibrary(const std::string &so_path, const std::string &name) : path_(so_path), name_(name) {
    lib_ = dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib_) throw std::runtime_error("dlopen " + so_path + ": " + dlerror());
  }

  // Sets fn to the library's <name><suffix>; throws naming a missing symbol.
  template <class Fn>
  void resolve(Fn &fn, const char *suffix) const {
    void *sym = dlsym(lib_, (name_ + suffix).c_str());
    if (!sym) throw std::runtime_error(path_ + " does not export " + name_ + suffix);
    fn = reinterpret_cast<std::remove_reference_t<Fn>>(sym);
  }

 private:
  std::string path_, name_;
  void *lib_ = nullptr;
};

}  // namespace rnnc_e2e
