#include "codegen/compile_model.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "codegen/emit.h"
#include "codegen/kernel_builder.h"
#include "codegen/process.h"
#include "codegen/target.h"
#include "cpu/cpu_schedules.h"
#include "cuda/cuda_families.h"
#include "frontend/parser.h"
#include "plan/plan.h"
#include "records.h"

#include <rnnc_version.h>

namespace rnnc::codegen {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void write_text(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<std::string> sanitizer_flags() {
  std::vector<std::string> flags;
  std::istringstream in(RNNC_SANITIZE_FLAGS);
  for (std::string f; in >> f;) flags.push_back(f);
  return flags;
}

std::string find_cxx() {
  const char *env = std::getenv("CXX");
  const std::string cxx = env && *env ? env : "c++";
  if (!run_process({cxx, "--version"}).started)
    throw std::runtime_error("the C++ compiler '" + cxx + "' was not found" + (env && *env ? " (from $CXX)" : "") +
                             "; rnnc links the generated code with it: install g++ or set CXX");
  return cxx;
}

void require_tool(const std::string &tool) {
  if (!run_process({tool, "--version"}).started)
    throw std::runtime_error("'" + tool + "' was not found; rnnc needs it to build libraries (install binutils)");
}

// The SHA-256 of a file's bytes, as `sha256sum` prints it.
std::string sha256_hex_of_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("cannot hash " + path);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

// Removes the work directory unless asked to keep it.
struct WorkDir {
  std::string path;
  bool keep = false;
  ~WorkDir() {
    std::error_code ec;
    if (!keep && !path.empty()) fs::remove_all(path, ec);
  }
};

}  // namespace

InstallPaths install_paths() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot locate the rnnc executable");
  const fs::path prefix = exe.parent_path().parent_path();
  InstallPaths p;
  p.runtime_library = (prefix / "lib" / "rnnc" / "librnnc_runtime.a").string();
  p.include_dir = (prefix / "include").string();
  if (!fs::exists(p.runtime_library) || !fs::exists(fs::path(p.include_dir) / "rnnc" / "model_desc.h"))
    throw std::runtime_error("rnnc cannot find its runtime (" + p.runtime_library + " and " + p.include_dir +
                             "/rnnc); keep rnnc in bin/ beside lib/rnnc and include/");
  return p;
}

CompileReport compile_model(const CompileOptions &opt) {
  const auto t0 = Clock::now();
  ModelSpec spec = parse_model_file(opt.model_path);
  ir::Graph graph = ir::build_graph(spec);
  TargetInfo target = parse_target(opt.target);
  CompileReport report;
  const schedules::DefaultCpuSchedules defaults(target.kernels);
  std::optional<schedules::RecordSchedules> tuned;
  if (!opt.schedules_path.empty()) {
    std::string problem;
    std::optional<schedules::TuningRecords> recs =
        schedules::read_records(opt.schedules_path, target.kernels, &problem, &report.schedule_warnings);
    if (recs) {
      const int64_t batch = opt.batch > 0 ? opt.batch : recs->batch, steps = opt.steps > 0 ? opt.steps : recs->steps;
      tuned.emplace(std::move(*recs), target.kernels, batch, steps);
    } else {
      report.schedule_warnings.push_back(problem);
    }
  }
  plan::Plan plan = plan::lower(graph, tuned ? static_cast<const schedules::ScheduleSource &>(*tuned) : defaults);
  if (target.kernels.has_feature(Halide::Target::CUDA)) {
    // Every family the model needs must have a GPU schedule: none falls back to the CPU.
    std::vector<kernels::Family> missing;
    for (const kernels::KernelDesc &k : plan.kernels)
      if (!schedules::cuda_family(k.family) && std::find(missing.begin(), missing.end(), k.family) == missing.end())
        missing.push_back(k.family);
    if (!missing.empty())
      throw std::runtime_error("target '" + opt.target + "': model " + graph.name +
                               " cannot be compiled for CUDA yet: " + no_cuda_schedule_message(missing));
  }
  if (tuned) report.schedule_notes = tuned->notes();
  const InstallPaths paths = install_paths();
  const std::string cxx = find_cxx();
  require_tool("objcopy");
  require_tool("ar");

  report.model = graph.name;
  report.target = target.kernels.to_string();

  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (ec || !fs::is_directory(opt.out_dir))
    throw std::runtime_error("cannot create the output directory " + opt.out_dir);
  WorkDir work;
  work.path = (fs::path(opt.out_dir) / (".rnnc-build-" + std::to_string(getpid()))).string();
  work.keep = opt.keep_temps;
  fs::remove_all(work.path, ec);
  fs::create_directories(work.path);
  const std::string w = work.path + "/";

  KernelCache cache(opt.cache_dir, KernelCache::max_bytes_from_env());
  report.kernels = build_kernel_objects(plan.kernels, target, cache, work.path, opt.jobs);
  report.runtime = build_runtime_object(target, cache, work.path);
  cache.trim();  // also when everything was a hit: the hits are the newest now

  const auto tl = Clock::now();
  const std::string &n = graph.name;
  const Provenance provenance{RNNC_VERSION, sha256_hex_of_file(opt.model_path), report.target};
  write_text(w + n + "_glue.cpp", emit_glue(graph, plan, report.kernels, provenance));
  write_text(w + n + ".h", emit_header(graph, plan));
  write_text(w + n + "_main.cpp", emit_main(graph));
  write_text(w + n + ".py", emit_python_module(graph, plan, RNNC_VERSION));
  write_text(w + n + "_torch.py", emit_torch_module(graph, plan, RNNC_VERSION));
  write_text(w + n + ".pc", emit_pkgconfig(graph));
  std::string syms;
  for (const std::string &s : exported_symbols(n)) syms += s + "\n";
  write_text(w + "exported.txt", syms);

  // An rnnc built with sanitizers (RNNC_SANITIZE) ships a sanitized
  // runtime: the glue, the library and the program get the same flags.
  const std::vector<std::string> sanitize = sanitizer_flags();
  auto with = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin() + 1, sanitize.begin(), sanitize.end());
    return argv;
  };
  run_checked(with({cxx, "-std=c++17", "-O2", "-fPIC", "-fvisibility=hidden", "-I" + paths.include_dir, "-c",
                    w + n + "_glue.cpp", "-o", w + "glue.o"}),
              "compiling the model's glue code");
  // One relocatable object holds the glue, the kernels, the Halide runtime
  // and the rnnc runtime; every symbol but the C API becomes local, so the
  // libraries of several models coexist in one process.
  std::vector<std::string> ld = {cxx, "-r", "-nostdlib", "-o", w + "combined.o", w + "glue.o"};
  for (const KernelObject &k : report.kernels) ld.push_back(k.path);
  ld.push_back(report.runtime.path);
  ld.push_back(paths.runtime_library);
  run_checked(ld, "combining the model's objects");
  run_checked({"objcopy", "--keep-global-symbols=" + w + "exported.txt", w + "combined.o", w + n + ".o"},
              "hiding internal symbols");
  run_checked({"ar", "rcs", w + "lib" + n + ".a", w + n + ".o"}, "archiving lib" + n + ".a");
  run_checked(with({cxx, "-shared", "-o", w + "lib" + n + ".so", "-Wl,-soname,lib" + n + ".so", w + n + ".o",
                    "-lpthread", "-ldl", "-lm"}),
              "linking lib" + n + ".so");
  run_checked(with({cxx, "-O2", "-I" + work.path, "-c", w + n + "_main.cpp", "-o", w + "main.o"}),
              "compiling the program");
  run_checked(with({cxx, "-o", w + n, w + "main.o", w + "lib" + n + ".a", "-lpthread", "-ldl", "-lm"}),
              "linking the program " + n);
  report.link_seconds = std::chrono::duration<double>(Clock::now() - tl).count();

  // Everything built: move the results in, one rename each.
  for (const std::string &f :
       {"lib" + n + ".so", "lib" + n + ".a", n + ".h", n + ".pc", n + ".py", n + "_torch.py", n}) {
    const std::string dst = (fs::path(opt.out_dir) / f).string();
    fs::rename(w + f, dst);
    report.outputs.push_back(dst);
  }
  report.total_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return report;
}

}  // namespace rnnc::codegen
