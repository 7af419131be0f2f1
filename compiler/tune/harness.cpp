#include "tune/harness.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

#include "codegen/kernel_builder.h"
#include "cpu/cpu_schedules.h"
#include "parallel.h"
#include "tune/reference.h"

namespace rnnc::tune {

using kernels::ArgSig;
using kernels::ArgType;
using kernels::Family;
using kernels::KernelDesc;
using Clock = std::chrono::steady_clock;

namespace {

// Candidates run their parallel loops on the runtime's pool, as in the
// generated programs: Halide's own pool costs a different fork/join per
// call, which at a few microseconds per step ranks schedules differently
// (schedules/cpu/NOTES.md). Threads: $HL_NUM_THREADS, else one per core.
int runtime_do_par_for(Halide::JITUserContext *uc, int (*f)(Halide::JITUserContext *, int, uint8_t *), int min,
                       int size, uint8_t *closure) {
  return rnnc_rt::parallel_for(uc, reinterpret_cast<halide_task_t>(f), min, size, closure);
}

bool is_step_bwd(Family f) { return f == Family::kRnnStepBwd || f == Family::kLstmStepBwd || f == Family::kGruStepBwd; }

// The logical weight matrix behind a packed input: `gates` x `units` rows
// over k columns, or (transposed) k rows x units columns.
struct PackGeometry {
  int gates = 1;
  int64_t units = 0, k = 0;
  bool transpose = false;
};

// The layout of packed argument `arg` of kernel d.
PackGeometry pack_geometry(const KernelDesc &d, const std::string &arg) {
  if (d.family == Family::kGemmFwd) return {1, d.n, d.k, false};
  const int64_t state = d.state_width();
  if (arg == "w_hr") return {1, state, d.h, false};  // the LSTM projection W_hr [proj, h]
  if (arg == "w_hr_t") return {1, d.h, state, true};
  if (is_step_bwd(d.family)) return {1, state, d.g * d.h, true};
  return {d.g, d.h, state, false};
}

// The value a scalar input of the kernel runs with (the clip bound).
constexpr float kClip = 0.5f;
float scalar_value(const ArgSig &a) { return a.name == "clip" ? kClip : 1.0f; }

// The logical weights packed for a consumer with tile `tile`, by the plan's
// own pack kernel (the layout is defined once, in kernels::pack_weights).
Halide::Buffer<float> pack(const std::vector<float> &w, const PackGeometry &g, const Halide::Target &target, int tile) {
  KernelDesc d;
  d.family = Family::kPackWeights;
  d.g = g.gates;
  d.h = g.units;
  d.k = g.k;
  d.transpose = g.transpose;
  d.sched = schedules::default_cpu_params(d, target);
  d.sched.tile = tile;
  codegen::BuiltKernel k = codegen::build_kernel(d, target);
  k.pipeline.compile_jit(target);
  // W as the pack kernel reads it: [gates * units, k], or transposed [k, units].
  Halide::Buffer<float> in(static_cast<int>(g.transpose ? g.units : g.k),
                           static_cast<int>(g.transpose ? g.k : g.gates * g.units));
  size_t i = 0;
  in.for_each_value([&](float &x) { x = w[i++]; });
  Halide::Buffer<float> out(tile, g.gates, static_cast<int>(g.k), static_cast<int>((g.units + tile - 1) / tile));
  Halide::ParamMap pm;
  pm.set(std::get<Halide::ImageParam>(k.inputs[0]), in);
  k.pipeline.realize(Halide::Realization(out), target, pm);
  return out;
}

// Rows of a 2-D argument: the workload's rows, except a weight gradient's
// output, which has one row per output unit.
int64_t rows_of(const KernelDesc &d, const ArgSig &a, int64_t rows) {
  if (d.family == Family::kGemmWgrad && a.output) return d.n;
  return rows;
}

double scaled_diff(const Halide::Buffer<float> &out, const std::vector<float> &ref) {
  double worst = 0, scale = 1;
  for (float v : ref) scale = std::max(scale, static_cast<double>(std::abs(v)));
  size_t i = 0;
  bool bad = false;
  out.for_each_value([&](const float &v) {
    if (!std::isfinite(v)) bad = true;
    worst = std::max(worst, std::abs(static_cast<double>(v) - ref[i++]));
  });
  return bad || i != ref.size() ? INFINITY : worst / scale;
}

// The outputs of `d` from the plain C++ reference, for the families that
// have one (the products and the forward steps); empty otherwise.
std::vector<std::vector<float>> cpp_reference(const KernelDesc &d, const std::vector<std::vector<float>> &logical,
                                              const std::vector<std::vector<int32_t>> &indices, int64_t rows) {
  // The float inputs by signature name (logical holds them in signature order).
  std::map<std::string, ref::Mat> in;
  size_t fi = 0;
  for (const ArgSig &a : kernels::signature(d))
    if (!a.output && a.type == ArgType::kBufferF32) {
      in[a.name] = ref::Mat(logical[fi].begin(), logical[fi].end());
      ++fi;
    }
  auto out = [](const ref::Mat &m) { return std::vector<float>(m.begin(), m.end()); };
  const int64_t h = d.h;
  if (d.family == Family::kGemmFwd) {
    if (d.terms != 1) return {};
    return {out(ref::gemm(in.at("a"), d.k, d.gather ? &indices[0] : nullptr, rows, in.at("w"), d.n, in.at("bias")))};
  }
  if (d.family != Family::kRnnStepFwd && d.family != Family::kLstmStepFwd && d.family != Family::kGruStepFwd) return {};
  ref::StepOptions opt;
  opt.clip = d.clip ? kClip : 0.0;
  opt.peephole = d.peephole ? &in.at("peephole") : nullptr;
  opt.input_forget = d.input_forget;
  opt.w_hr = d.proj > 0 ? &in.at("w_hr") : nullptr;
  opt.proj = d.proj;
  ref::StepResult s;
  int gates = 1;
  switch (d.family) {
    case Family::kRnnStepFwd:
      s = ref::rnn_step(in.at("xp"), in.at("h_prev"), rows, h, in.at("w"), in.at("bias"), d.relu, opt);
      break;
    case Family::kLstmStepFwd:
      s = ref::lstm_step(in.at("xp"), in.at("h_prev"), in.at("c_prev"), rows, h, in.at("w"), in.at("bias"), opt);
      gates = 4;
      break;
    case Family::kGruStepFwd:
      s = ref::gru_step(in.at("xp"), in.at("h_prev"), rows, h, in.at("w"), in.at("bias"), d.linear_before_reset, opt);
      gates = 3;
      break;
    default:
      return {};
  }
  // Every output of the step's signature, by name.
  std::map<std::string, std::vector<float>> named = {
      {"h", out(s.h)},
      {"c", out(s.c)},
      {"hn", out(s.hn)},
      {"m", out(s.m)},
      {"clip_mask", out(ref::packed_clip_mask(s.masks, rows, h, gates))}};
  const char *gate_names[] = {"gate_i", "gate_f", "gate_g", "gate_o"}, *gru_names[] = {"gate_r", "gate_z", "gate_n"};
  for (int g = 0; g < gates && gates > 1; ++g) {
    std::vector<float> v(rows * h);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < h; ++j) v[r * h + j] = static_cast<float>(s.gates[(r * gates + g) * h + j]);
    named[gates == 4 ? gate_names[g] : gru_names[g]] = std::move(v);
  }
  std::vector<std::vector<float>> o;
  for (const ArgSig &a : kernels::signature(d))
    if (a.output) o.push_back(named.at(a.name));
  return o;
}

}  // namespace

// One compiled candidate with its inputs bound and its outputs allocated.
struct KernelHarness::Run {
  codegen::BuiltKernel built;
  Halide::ParamMap params;
  std::vector<Halide::Buffer<>> inputs;  // kept alive for params
  std::vector<Halide::Buffer<>> outputs;
  Halide::Target target;
  void call() {
    std::vector<Halide::Buffer<>> outs = outputs;
    built.pipeline.realize(Halide::Realization(outs), target, params);
  }
};

KernelHarness::KernelHarness(Workload w, Halide::Target target, const schedules::ScheduleParams &reference,
                             uint32_t seed)
    : w_(std::move(w)), target_(std::move(target)), rng_(seed) {
  KernelDesc d = w_.desc;
  d.sched = reference;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const ArgSig &a : kernels::signature(d)) {
    if (a.output) continue;
    if (a.type == ArgType::kBufferI32) {
      // The plan's gathers read near-sequential rows (the previous step's
      // state rows, the reverse order's permutation, consecutive packed
      // rows): one batch of rows back, as the previous-state index does.
      std::vector<int32_t> idx(w_.rows);
      const int64_t back = std::min<int64_t>(w_.rows - 1, 64);
      for (int64_t r = 0; r < w_.rows; ++r) idx[r] = static_cast<int32_t>(r >= back ? r - back : r);
      indices_.push_back(idx);
      continue;
    }
    if (a.type == ArgType::kScalarF32) continue;  // scalar_value()
    if (a.type != ArgType::kBufferF32)
      throw std::logic_error(std::string("harness: ") + kernels::to_string(d.family) + " has integer scalar inputs");
    int64_t n = 0;
    if (a.dims == 4) {
      const PackGeometry g = pack_geometry(d, a.name);
      n = g.gates * g.units * g.k;
    } else if (a.dims == 1) {
      n = a.width;
    } else {
      n = a.width * rows_of(d, a, w_.rows);
    }
    std::vector<float> v(n);
    for (auto &x : v) x = u(rng_);
    logical_.push_back(std::move(v));
  }
  // The C++ reference where the family has one; else the reference
  // parameters' own results.
  reference_outputs_ = cpp_reference(d, logical_, indices_, w_.rows);
  has_cpp_reference_ = !reference_outputs_.empty();
  if (has_cpp_reference_) return;
  double compile_s = 0;
  std::unique_ptr<Run> ref = make_run(reference, &compile_s);
  ref->call();
  for (const Halide::Buffer<> &o : ref->outputs) {
    Halide::Buffer<float> f(o);
    std::vector<float> v;
    f.for_each_value([&](const float &x) { v.push_back(x); });
    reference_outputs_.push_back(std::move(v));
  }
}

KernelHarness::~KernelHarness() = default;

std::unique_ptr<KernelHarness::Run> KernelHarness::make_run(const schedules::ScheduleParams &p, double *compile_s) {
  KernelDesc d = w_.desc;
  d.sched = p;
  auto run = std::make_unique<Run>();
  run->target = target_;
  const auto t0 = Clock::now();
  run->built = codegen::build_kernel(d, target_);
  run->built.pipeline.jit_handlers().custom_do_par_for = runtime_do_par_for;
  run->built.pipeline.compile_jit(target_);
  *compile_s = std::chrono::duration<double>(Clock::now() - t0).count();
  size_t fi = 0, ii = 0, pi = 0;
  for (const ArgSig &a : kernels::signature(d)) {
    if (a.output) {
      const int64_t rows = rows_of(d, a, w_.rows);
      run->outputs.push_back(a.dims == 1 ? Halide::Buffer<float>(static_cast<int>(a.width))
                                         : Halide::Buffer<float>(static_cast<int>(a.width), static_cast<int>(rows)));
      continue;
    }
    if (a.type == ArgType::kScalarF32) {
      run->params.set(std::get<Halide::Param<float>>(run->built.inputs[pi++]), scalar_value(a));
      continue;
    }
    const auto &param = std::get<Halide::ImageParam>(run->built.inputs[pi++]);
    Halide::Buffer<> b;
    if (a.type == ArgType::kBufferI32) {
      const std::vector<int32_t> &idx = indices_[ii++];
      Halide::Buffer<int32_t> ib(static_cast<int>(idx.size()));
      for (size_t i = 0; i < idx.size(); ++i) ib(static_cast<int>(i)) = idx[i];
      b = ib;
    } else if (a.dims == 4) {
      // Packed once per (weights, tile): every candidate with that tile shares it.
      const size_t which = fi++;
      auto &cached = packed_[{which, p.tile}];
      if (!cached.defined()) cached = pack(logical_[which], pack_geometry(d, a.name), target_, p.tile);
      b = cached;
    } else {
      const std::vector<float> &v = logical_[fi++];
      Halide::Buffer<float> fb =
          a.dims == 1 ? Halide::Buffer<float>(static_cast<int>(a.width))
                      : Halide::Buffer<float>(static_cast<int>(a.width), static_cast<int>(rows_of(d, a, w_.rows)));
      size_t i = 0;
      fb.for_each_value([&](float &x) { x = v[i++]; });
      b = fb;
    }
    run->params.set(param, b);
    run->inputs.push_back(b);
  }
  return run;
}

Measurement KernelHarness::measure(const schedules::ScheduleParams &params, double seconds, double tolerance) {
  Measurement m;
  std::unique_ptr<Run> run;
  try {
    run = make_run(params, &m.compile_s);
    run->call();
  } catch (const std::exception &e) {
    m.error = std::string("failed to build or run: ") + e.what();
    return m;
  }
  for (size_t i = 0; i < run->outputs.size(); ++i)
    m.max_error = std::max(m.max_error, scaled_diff(Halide::Buffer<float>(run->outputs[i]), reference_outputs_[i]));
  if (!(m.max_error <= tolerance)) {
    m.error = "wrong result: error " + std::to_string(m.max_error) + " against the reference";
    return m;
  }
  // Batches of calls of about 5 ms each; the median batch's time per call.
  auto time_calls = [&](int64_t n) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i) run->call();
    return std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(n);
  };
  const double estimate = time_calls(3);
  const int64_t per_batch = std::max<int64_t>(1, static_cast<int64_t>(0.005 / std::max(estimate, 1e-9)));
  const int batches = std::max(5, std::min(31, static_cast<int>(seconds / std::max(estimate * per_batch, 1e-9))));
  std::vector<double> t;
  for (int b = 0; b < batches; ++b) t.push_back(time_calls(per_batch));
  std::sort(t.begin(), t.end());
  m.us = 1e6 * t[t.size() / 2];
  m.ok = true;
  return m;
}

}  // namespace rnnc::tune
