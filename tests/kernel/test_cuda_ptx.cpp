// The CUDA schedules, checked without a GPU: every family in the CUDA table
// is compiled for host-cuda (Halide 14's highest capability, 86); its host
// code must hold no loop (no stage silently left on the CPU); its PTX is
// taken from the module and assembled for the H200's sm_90 with the CUDA
// toolkit's `ptxas -v` (the step the driver's JIT performs), which must
// report no spills, registers within Halide's default JIT cap (64) and
// shared memory within 48 KB. Without ptxas the test skips, saying so.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "codegen/kernel_builder.h"
#include "codegen/target.h"
#include "cuda/cuda_families.h"

namespace rnnc {
namespace {

using kernels::Family;
using kernels::KernelDesc;

std::string ptxas_path() {
  const char *home = std::getenv("CUDA_HOME");
  const std::string p = std::string(home && *home ? home : "/usr/local/cuda") + "/bin/ptxas";
  return std::filesystem::exists(p) ? p : "";
}

// A workload of family f at sizes a model would give it.
KernelDesc sample(Family f) {
  KernelDesc d;
  d.family = f;
  d.n = 96;  // dropout: row width; losses: outputs per row
  d.h = 64;  // readouts: units per direction
  d.dirs = f == Family::kReadoutLast || f == Family::kReadoutLastBwd ? 2 : 1;
  d.k = 48;  // weight gradients: inputs; scatter: vocabulary
  d.gather = f == Family::kGemmWgrad;
  switch (f) {
    case Family::kRnnStepFwd:
    case Family::kRnnStepBwd:
      d.g = 1;
      break;
    case Family::kLstmStepFwd:
    case Family::kLstmStepBwd:
      d.g = 4;
      break;
    case Family::kGruStepFwd:
    case Family::kGruStepBwd:
      d.g = 3;
      d.linear_before_reset = true;
      break;
    case Family::kPackWeights:
      d.g = 4;
      break;
    case Family::kGemmFwd:
      d.n = 256;
      break;
    default:
      break;
  }
  d.train = true;  // forward steps: save the activations too
  // The packed layouts come from the default schedule parameters (tile sizes).
  return codegen::with_default_schedule(d, codegen::parse_target("host").kernels);
}

// The host part of `d`'s lowered pipeline: what runs on the CPU around the
// kernel launches.
std::string host_code_of(const KernelDesc &d, const Halide::Target &t, const std::string &path) {
  codegen::BuiltKernel k = codegen::build_kernel(d, t);
  k.pipeline.compile_to_lowered_stmt(path, k.arguments(), Halide::Text, t);
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t host = text.find("halide_cuda_initialize_kernels");
  return host == std::string::npos ? "" : text.substr(host);
}

// The PTX Halide generated for `d` (the module's cuda_gpu_source_kernels buffer).
std::string ptx_of(const KernelDesc &d, const Halide::Target &t) {
  codegen::BuiltKernel k = codegen::build_kernel(d, t);
  Halide::Module m = k.pipeline.compile_to_module(k.arguments(), "k_" + std::string(kernels::to_string(d.family)), t);
  for (const Halide::Buffer<> &b : m.buffers())
    if (b.name() == "cuda_gpu_source_kernels") {
      std::string text(reinterpret_cast<const char *>(b.data()), b.size_in_bytes());
      return text.substr(0, text.find('\0'));  // a NUL ends the text in the buffer
    }
  return "";
}

struct PtxasReport {
  int exit_code = -1;
  std::string text;
};

PtxasReport ptxas(const std::string &exe, const std::string &ptx_path) {
  const std::string out = ptx_path + ".log";
  const std::string cmd = exe + " -v --gpu-name sm_90 " + ptx_path + " -o /dev/null > " + out + " 2>&1";
  PtxasReport r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out);
  r.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

// The cell variants real models carry (the import issue's), beside each
// family's sample: ReLU RNN, LSTM with projection, peepholes, clip and
// coupled gates, GRU in the ONNX form, inference steps, a two-term product.
std::vector<std::pair<std::string, KernelDesc>> cases() {
  std::vector<std::pair<std::string, KernelDesc>> out;
  for (Family f : schedules::cuda_families()) out.emplace_back(kernels::to_string(f), sample(f));
  auto variant = [&](Family f, const std::string &name, auto edit) {
    if (!schedules::cuda_family(f)) return;
    KernelDesc d = sample(f);
    edit(d);
    out.emplace_back(std::string(kernels::to_string(f)) + " " + name,
                     codegen::with_default_schedule(d, codegen::parse_target("host").kernels));
  };
  for (Family f : {Family::kRnnStepFwd, Family::kRnnStepBwd}) variant(f, "relu", [](KernelDesc &d) { d.relu = true; });
  for (Family f : {Family::kLstmStepFwd, Family::kLstmStepBwd}) {
    variant(f, "projection 32", [](KernelDesc &d) { d.proj = 32; });
    variant(f, "peepholes, clip, coupled gates", [](KernelDesc &d) {
      d.peephole = true;
      d.clip = true;
      d.input_forget = true;
    });
  }
  for (Family f : {Family::kGruStepFwd, Family::kGruStepBwd})
    variant(f, "onnx form", [](KernelDesc &d) { d.linear_before_reset = false; });
  for (Family f : {Family::kRnnStepFwd, Family::kLstmStepFwd, Family::kGruStepFwd})
    variant(f, "inference", [](KernelDesc &d) { d.train = false; });
  variant(Family::kGemmFwd, "two terms, gathered", [](KernelDesc &d) {
    d.terms = 2;
    d.gather = true;
  });
  return out;
}

TEST(CudaPtx, EveryCudaScheduleAssemblesForSm90WithinTheLimits) {
  const std::string exe = ptxas_path();
  if (exe.empty()) GTEST_SKIP() << "no CUDA toolkit ptxas (set CUDA_HOME); the GPU script runs this check";
  const Halide::Target t = codegen::parse_target("host-cuda-cuda_capability_86").kernels;
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("rnnc_ptx_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_FALSE(schedules::cuda_families().empty());
  for (const auto &[name, desc] : cases()) {
    SCOPED_TRACE(name);
    const std::string ptx = ptx_of(desc, t);
    ASSERT_NE(ptx.find(".target sm_86"), std::string::npos) << "no sm_86 PTX in the module";
    // Nothing computed on the CPU: the host code only copies and launches.
    const std::string host = host_code_of(desc, t, (dir / "host.stmt").string());
    ASSERT_NE(host.find("halide_cuda_run("), std::string::npos) << "no kernel launch in the host code";
    EXPECT_EQ(host.find("for ("), std::string::npos) << "a loop runs on the host:\n" << host;
    const std::string path = (dir / "kernel.ptx").string();
    std::ofstream(path) << ptx;
    const PtxasReport r = ptxas(exe, path);
    ASSERT_EQ(r.exit_code, 0) << r.text;
    // One "Used N registers, ... bytes smem" line per kernel; spills per kernel.
    const std::regex used(R"(Used (\d+) registers(?:, used \d+ barriers)?(?:, (\d+) bytes smem)?)");
    const std::regex spills(R"((\d+) bytes spill stores, (\d+) bytes spill loads)");
    int kernels = 0;
    for (auto it = std::sregex_iterator(r.text.begin(), r.text.end(), used); it != std::sregex_iterator(); ++it) {
      ++kernels;
      EXPECT_LE(std::stoi((*it)[1]), 64) << r.text;
      if ((*it)[2].matched) {
        EXPECT_LE(std::stoi((*it)[2]), 48 * 1024) << r.text;
      }
    }
    EXPECT_GT(kernels, 0) << "ptxas reported no kernel:\n" << r.text;
    for (auto it = std::sregex_iterator(r.text.begin(), r.text.end(), spills); it != std::sregex_iterator(); ++it) {
      EXPECT_EQ((*it)[1], "0") << r.text;
      EXPECT_EQ((*it)[2], "0") << r.text;
    }
    std::printf("[ measured ] %s: %s", name.c_str(), r.text.c_str());
  }
  std::filesystem::remove_all(dir);
}

TEST(CudaPtx, EveryFamilyHasACudaSchedule) {
  // The families in declaration order, kPackWeights to kSgdUpdate: a new
  // family without a CUDA entry fails here (and a CUDA compile names it).
  std::vector<Family> missing;
  for (int f = static_cast<int>(Family::kPackWeights); f <= static_cast<int>(Family::kSgdUpdate); ++f)
    if (!schedules::cuda_family(static_cast<Family>(f))) missing.push_back(static_cast<Family>(f));
  EXPECT_TRUE(missing.empty()) << codegen::no_cuda_schedule_message(missing);
  EXPECT_EQ(schedules::cuda_families().size(),
            static_cast<size_t>(static_cast<int>(Family::kSgdUpdate) - static_cast<int>(Family::kPackWeights) + 1));
  const std::string m = codegen::no_cuda_schedule_message({Family::kGemmFwd, Family::kColSum});
  EXPECT_NE(m.find("no CUDA schedule for the kernel families gemm_fwd, colsum"), std::string::npos) << m;
}

TEST(CudaPtx, TargetsAreParsed) {
  EXPECT_TRUE(codegen::parse_target("host-cuda").kernels.has_feature(Halide::Target::CUDA));
  EXPECT_GE(codegen::parse_target("host-cuda").kernels.get_cuda_capability_lower_bound(), 50);
  EXPECT_EQ(codegen::parse_target("host-cuda-cuda_capability_86").kernels.get_cuda_capability_lower_bound(), 86);
  EXPECT_THROW(codegen::parse_target("host-opencl"), std::runtime_error);
  EXPECT_FALSE(codegen::parse_target("host").kernels.has_gpu_feature());
}

}  // namespace
}  // namespace rnnc
