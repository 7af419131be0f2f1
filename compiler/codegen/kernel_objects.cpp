#include "codegen/kernel_objects.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "codegen/kernel_builder.h"

namespace rnnc::codegen {

namespace {

using Clock = std::chrono::steady_clock;

std::string cache_key(const std::string &what, const TargetInfo &target) {
  return "rnnc kernel object\n" + build_id() + "\n" + target.kernels.to_string() + "\n" + what + "\n";
}

// Generates one kernel's object file; throws on failure.
void generate(const kernels::KernelDesc &d, const TargetInfo &target, const std::string &path) {
  BuiltKernel k = build_kernel(d, target.kernels);
  k.pipeline.compile_to_object(path, k.arguments(), kernel_symbol(d), target.kernels);
  // For schedule work: RNNC_KERNEL_STMT=DIR also writes each generated
  // kernel's lowered loop nest and assembly there (kernels found in the cache
  // are not generated, so pair it with a fresh --cache-dir).
  if (const char *dir = std::getenv("RNNC_KERNEL_STMT"); dir && *dir) {
    const std::string base = std::string(dir) + "/" + d.name();
    k.pipeline.compile_to_lowered_stmt(base + ".stmt", k.arguments(), Halide::Text, target.kernels);
    k.pipeline.compile_to_assembly(base + ".s", k.arguments(), kernel_symbol(d), target.kernels);
  }
}

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string kernel_symbol(const kernels::KernelDesc &d) { return "rnnc_" + d.name(); }

std::vector<KernelObject> build_kernel_objects(const std::vector<kernels::KernelDesc> &descs, const TargetInfo &target,
                                               const KernelCache &cache, const std::string &work_dir, int jobs) {
  std::vector<KernelObject> objs(descs.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < descs.size(); ++i) {
    KernelObject &o = objs[i];
    o.name = descs[i].name();
    o.symbol = kernel_symbol(descs[i]);
    o.path = work_dir + "/" + o.name + ".o";
    o.cached = cache.fetch(cache_key(o.name, target), o.path);
    if (!o.cached) todo.push_back(i);
  }
  if (jobs <= 1 || todo.size() <= 1) {
    for (size_t i : todo) {
      const auto t0 = Clock::now();
      generate(descs[i], target, objs[i].path);
      objs[i].seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      cache.store(cache_key(objs[i].name, target), objs[i].path);
    }
    return objs;
  }
  // Worker processes: Halide compiles one pipeline per process, so separate
  // processes give parallelism without sharing compiler state.
  std::map<pid_t, std::pair<size_t, Clock::time_point>> running;
  size_t next = 0;
  std::string failure;
  while (next < todo.size() || !running.empty()) {
    while (failure.empty() && next < todo.size() && static_cast<int>(running.size()) < jobs) {
      const size_t i = todo[next++];
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("cannot start a kernel compiler process");
      if (pid == 0) {
        try {
          generate(descs[i], target, objs[i].path);
          _exit(0);
        } catch (const std::exception &e) {
          std::ofstream(objs[i].path + ".err") << e.what();
        } catch (...) {
          std::ofstream(objs[i].path + ".err") << "unknown error";
        }
        _exit(1);
      }
      running[pid] = {i, Clock::now()};
    }
    int status = 0;
    const pid_t pid = wait(&status);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = it->second.first;
    objs[i].seconds = std::chrono::duration<double>(Clock::now() - it->second.second).count();
    running.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      cache.store(cache_key(objs[i].name, target), objs[i].path);
    } else if (failure.empty()) {
      std::string why = slurp(objs[i].path + ".err");
      failure = "generating kernel " + objs[i].name + " failed: " + (why.empty() ? "the worker crashed" : why);
    }
  }
  if (!failure.empty()) throw std::runtime_error(failure);
  return objs;
}

KernelObject build_runtime_object(const TargetInfo &target, const KernelCache &cache, const std::string &work_dir) {
  KernelObject o;
  o.name = "halide_runtime";
  o.symbol = "";
  const std::string key = cache_key("halide runtime for " + target.runtime.to_string(), target);
  o.path = work_dir + "/halide_runtime.o";
  o.cached = cache.fetch(key, o.path);
  if (!o.cached) {
    const auto t0 = Clock::now();
    Halide::compile_standalone_runtime(o.path, target.runtime);
    o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    cache.store(key, o.path);
  }
  return o;
}

}  // namespace rnnc::codegen
