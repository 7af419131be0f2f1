// The kernel cache under load (compiler/codegen/kernel_cache.h): compiles
// sharing one cache four at a time while its bound evicts, compiles killed at
// staggered moments, and the bound with least-recently-used eviction
// (RNNC_CACHE_MAX) with `rnnc cache info` and `rnnc cache clear`. After each,
// a compile through the cache must give the library a compile without any
// cache gives: the same predictions, bit for bit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"
#include "io/npy.h"

namespace rnnc_e2e {
namespace {

namespace fs = std::filesystem;

// Three small models that share some kernels (the losses, the optimizer).
const std::vector<std::string> kModels = {"models/vanilla_rnn.toml", "models/compare_rnn.toml",
                                          "models/memory_rnn.toml"};

std::string model_path(size_t i) { return source_dir() + "/" + kModels[i]; }

std::vector<std::string> compile_into(size_t model, const std::string &out, const std::string &cache) {
  return {rnnc_exe(), "compile", model_path(model), "-o", out, "--cache-dir", cache, "-j", "2"};
}

// What a model predicts for fixed weights and inputs, from a compile
// without the cache: the reference every cached compile must equal.
struct Reference {
  std::string name, weights, inputs, output_bytes;
};

// The bytes of OUT/<name>'s predictions for the reference's weights and inputs.
std::string predict_bytes(const std::string &out_dir, const Reference &ref, const std::string &y) {
  const RunResult r =
      run({out_dir + "/" + ref.name, "predict", "--weights", ref.weights, "--inputs", ref.inputs, "--output", y});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return r.exit_code == 0 ? read_text(y) : std::string();
}

std::vector<Reference> make_references(const ScratchDir &dir) {
  std::vector<Reference> refs;
  for (size_t i = 0; i < kModels.size(); ++i) {
    const std::string out = dir.file("ref" + std::to_string(i));
    const RunResult c = run({rnnc_exe(), "compile", model_path(i), "-o", out, "--no-cache", "-j", "2"});
    EXPECT_EQ(c.exit_code, 0) << c.describe();
    const CompiledModel m = describe_compiled(out);
    Reference ref;
    ref.name = m.name;
    ref.weights = dir.file("w" + std::to_string(i) + ".safetensors");
    ref.inputs = dir.file("x" + std::to_string(i) + ".npy");
    EXPECT_EQ(run({m.program, "init", "--seed", "3", "--output", ref.weights}).exit_code, 0);
    const int64_t n = 3, t = 7;
    if (m.tokens) {
      std::vector<int32_t> x(n * t);
      for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<int32_t>((k * 7 + 1) % m.vocab);
      rnnc_rt::write_npy(ref.inputs, rnnc_rt::DType::kI32, x.data(), {n, t});
    } else {
      std::vector<float> x(n * t * m.input_size);
      for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>((k * 37) % 101) / 50.0f - 1.0f;
      rnnc_rt::write_npy(ref.inputs, rnnc_rt::DType::kF32, x.data(), {n, t, m.input_size});
    }
    ref.output_bytes = predict_bytes(out, ref, dir.file("y_ref" + std::to_string(i) + ".npy"));
    EXPECT_FALSE(ref.output_bytes.empty());
    refs.push_back(ref);
  }
  return refs;
}

nlohmann::json cache_info(const std::string &cache, const std::vector<std::string> &env = {}) {
  const RunResult r = run({rnnc_exe(), "cache", "info", "--cache-dir", cache, "--json"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

// The number of kernels a compile's JSON report says came from the cache, of all.
std::pair<int, int> cached_kernels(const RunResult &r) {
  const nlohmann::json j = nlohmann::json::parse(r.out);
  int cached = 0, all = 0;
  for (const auto &k : j.at("kernels")) {
    cached += k.at("cached").get<bool>();
    ++all;
  }
  return {cached, all};
}

// Compiles every model through `cache` and checks each against its reference.
void expect_cache_gives_the_references(const ScratchDir &dir, const std::string &cache,
                                       const std::vector<Reference> &refs, const std::string &tag) {
  for (size_t i = 0; i < kModels.size(); ++i) {
    SCOPED_TRACE(tag + ": " + kModels[i]);
    const std::string out = dir.file(tag + "_final" + std::to_string(i));
    const RunResult c = run(compile_into(i, out, cache));
    ASSERT_EQ(c.exit_code, 0) << c.describe();
    EXPECT_EQ(predict_bytes(out, refs[i], dir.file(tag + "_y" + std::to_string(i) + ".npy")), refs[i].output_bytes);
  }
}

// 4 compiles at once x 10 rounds, each round the three models overlapping,
// under a bound that holds about half of their kernels, so that entries are
// evicted while other compiles read them.
TEST(KernelCache, ConcurrentCompilesUnderEvictionGiveTheSameLibraries) {
  const ScratchDir dir;
  const std::vector<Reference> refs = make_references(dir);
  const std::string cache = dir.file("cache");
  const std::vector<std::string> env = {"RNNC_CACHE_MAX=500K"};
  constexpr int kRounds = 10, kAtOnce = 4;
  int compiles = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<RunResult> results(kAtOnce);
    std::vector<std::thread> threads;
    for (int i = 0; i < kAtOnce; ++i)
      threads.emplace_back([&, i] {
        const size_t model = static_cast<size_t>(round + i) % kModels.size();
        results[i] =
            run(compile_into(model, dir.file("r" + std::to_string(round) + "_" + std::to_string(i)), cache), env);
      });
    for (std::thread &t : threads) t.join();
    for (int i = 0; i < kAtOnce; ++i) {
      const size_t model = static_cast<size_t>(round + i) % kModels.size();
      SCOPED_TRACE("round " + std::to_string(round) + ", compile " + std::to_string(i) + ": " + kModels[model]);
      ASSERT_EQ(results[i].exit_code, 0) << results[i].describe();
      ++compiles;
      const std::string out = dir.file("r" + std::to_string(round) + "_" + std::to_string(i));
      EXPECT_EQ(predict_bytes(out, refs[model], out + "/y.npy"), refs[model].output_bytes);
    }
    EXPECT_LE(cache_info(cache, env).value("bytes", int64_t{0}), 500 * 1024) << "round " << round;
  }
  expect_cache_gives_the_references(dir, cache, refs, "after");
  std::printf("[ measured ] %d compiles, %d at once, under RNNC_CACHE_MAX=500K: all gave the reference libraries\n",
              compiles, kAtOnce);
}

// 20 compiles killed at staggered moments (from before the first kernel to
// the link), all sharing one cache: the next compiles still succeed and give
// the reference libraries.
TEST(KernelCache, KilledCompilesLeaveAUsableCache) {
  const ScratchDir dir;
  const std::vector<Reference> refs = make_references(dir);
  const std::string cache = dir.file("cache");
  constexpr int kKills = 20;
  int killed = 0;
  for (int k = 0; k < kKills; ++k) {
    const size_t model = static_cast<size_t>(k) % kModels.size();
    // A fresh start every 5 kills, so that kills land in kernel generation too.
    if (k % 5 == 0) run({rnnc_exe(), "cache", "clear", "--cache-dir", cache});
    const std::vector<std::string> argv = compile_into(model, dir.file("k" + std::to_string(k)), cache);
    std::vector<char *> cargv;
    for (const auto &a : argv) cargv.push_back(const_cast<char *>(a.c_str()));
    cargv.push_back(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const int null_fd = open("/dev/null", O_RDWR);
      if (null_fd >= 0) {
        dup2(null_fd, 0);
        dup2(null_fd, 1);
        dup2(null_fd, 2);
      }
      // Its own process group, so that the kill takes its kernel workers too.
      setpgid(0, 0);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    setpgid(pid, pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(40 + 90 * k % 1500));
    kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }
  EXPECT_GT(killed, kKills / 2) << "most compiles finished before their kill";
  // Every complete-looking entry holds an object file.
  for (const auto &e : fs::directory_iterator(cache)) {
    if (e.path().extension() != ".key") continue;
    fs::path obj = e.path();
    obj.replace_extension(".o");
    ASSERT_TRUE(fs::exists(obj)) << e.path() << " has no object";
    EXPECT_EQ(read_text(obj.string()).substr(0, 4),
              "\x7f"
              "ELF")
        << obj;
  }
  expect_cache_gives_the_references(dir, cache, refs, "after");
  std::printf(
      "[ measured ] %d of %d compiles killed at staggered moments; the cache then gave the reference "
      "libraries\n",
      killed, kKills);
}

// The bound keeps the most recently used kernels; `cache info` reports it
// and `cache clear` empties the cache; a malformed bound is a usage error.
TEST(KernelCache, BoundEvictsTheLeastRecentlyUsedAndCacheCommandsReportIt) {
  const ScratchDir dir;
  const std::string cache = dir.file("cache");
  auto compile = [&](size_t model, const std::string &tag, const std::vector<std::string> &env) {
    std::vector<std::string> argv = compile_into(model, dir.file(tag), cache);
    argv.push_back("--json");
    const RunResult r = run(argv, env);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return r.exit_code == 0 ? cached_kernels(r) : std::pair<int, int>{0, 0};
  };
  compile(0, "a0", {});
  const int64_t first_bytes = cache_info(cache).value("bytes", int64_t{0});
  for (size_t i = 1; i < kModels.size(); ++i) compile(i, "a" + std::to_string(i), {});
  const nlohmann::json all = cache_info(cache);
  const int64_t total = all.value("bytes", int64_t{0}), entries = all.value("entries", int64_t{0});
  ASSERT_GT(first_bytes, 0);
  ASSERT_GT(total, first_bytes);
  EXPECT_EQ(all.value("max_bytes", int64_t{0}), int64_t{2} << 30) << "the documented default, 2G";

  // Use the first model again under a bound that holds it and a third of
  // the rest: the others' kernels go, the first model's stay.
  const int64_t bound = first_bytes + (total - first_bytes) / 3;
  const std::string half = "RNNC_CACHE_MAX=" + std::to_string(bound);
  const auto first = compile(0, "b0", {half});
  EXPECT_EQ(first.first, first.second) << "the first model was compiled from the cache";
  const nlohmann::json bounded = cache_info(cache, {half});
  EXPECT_LE(bounded.value("bytes", int64_t{0}), bound);
  EXPECT_LT(bounded.value("entries", int64_t{0}), entries);
  EXPECT_EQ(bounded.value("max_bytes", int64_t{0}), bound);
  const auto again = compile(0, "c0", {half});
  EXPECT_EQ(again.first, again.second) << "the most recently used model was evicted";
  const auto last = compile(2, "c2", {"RNNC_CACHE_MAX=2G"});
  EXPECT_LT(last.first, last.second) << "the least recently used model kept all its kernels";

  const int64_t before_clear = cache_info(cache).value("entries", int64_t{-1});
  const RunResult clear = run({rnnc_exe(), "cache", "clear", "--cache-dir", cache, "--json"});
  ASSERT_EQ(clear.exit_code, 0) << clear.describe();
  EXPECT_EQ(nlohmann::json::parse(clear.out).value("removed_entries", int64_t{-1}), before_clear);
  EXPECT_EQ(cache_info(cache).value("entries", int64_t{-1}), 0);
  EXPECT_EQ(cache_info(cache).value("bytes", int64_t{-1}), 0);

  for (const char *bad : {"RNNC_CACHE_MAX=lots", "RNNC_CACHE_MAX=12T", "RNNC_CACHE_MAX=", "RNNC_CACHE_MAX=5 M"}) {
    const RunResult r = run(compile_into(0, dir.file("bad"), cache), {bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.describe();
    EXPECT_TRUE(contains(r.err, "RNNC_CACHE_MAX")) << r.describe();
  }
  const RunResult k = run({rnnc_exe(), "cache", "info", "--cache-dir", cache}, {"RNNC_CACHE_MAX=64k"});
  EXPECT_EQ(k.exit_code, 0) << k.describe();
  EXPECT_TRUE(contains(k.out, "65536")) << k.describe();
}

}  // namespace
}  // namespace rnnc_e2e
