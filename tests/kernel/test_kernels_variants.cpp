// The ONNX cell variants (clip, LSTM peepholes, coupled input and forget
// gates): forward steps against the double-precision references, backward
// steps against central finite differences of those references. Kernel
// arguments are bound by name from each family's signature, so a variant's
// extra inputs and outputs are exercised exactly as the plan passes them.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "kernel_checks.h"
#include "kernels/families.h"

namespace rnnc::test {
namespace {

using kernels::Family;
using kernels::KernelDesc;

enum class Cell { kRnnTanh, kRnnRelu, kLstm, kGruLbr, kGruOnnx };

struct Variant {
  Cell cell;
  double clip;
  bool peephole;
  bool input_forget;
  std::string label;
  int64_t proj = 0;  // LSTM projection size (PyTorch's proj_size)
};

void PrintTo(const Variant &v, std::ostream *os) { *os << v.label; }

int gates_of(Cell c) { return c == Cell::kLstm ? 4 : (c == Cell::kGruLbr || c == Cell::kGruOnnx) ? 3 : 1; }

KernelDesc desc_of(const Variant &v, bool backward, bool train, int64_t h) {
  KernelDesc d;
  const int g = gates_of(v.cell);
  d.family = g == 4   ? (backward ? Family::kLstmStepBwd : Family::kLstmStepFwd)
             : g == 3 ? (backward ? Family::kGruStepBwd : Family::kGruStepFwd)
                      : (backward ? Family::kRnnStepBwd : Family::kRnnStepFwd);
  d.h = h;
  d.g = g;
  d.train = train;
  d.relu = v.cell == Cell::kRnnRelu;
  d.linear_before_reset = v.cell != Cell::kGruOnnx;
  d.clip = v.clip > 0;
  d.peephole = v.peephole;
  d.input_forget = v.input_forget;
  d.proj = v.proj;
  return d;
}

// One step's data: weights, inputs and the reference forward.
struct Problem {
  Variant v;
  int64_t h = 0, rows = 0;
  int g = 1;
  Mat w, b, peep, xp, hp, cp, w_hr;
  int64_t sw() const { return v.proj > 0 ? v.proj : h; }  // width of h
  ref::StepOptions opt() const {
    ref::StepOptions o;
    o.clip = v.clip;
    o.peephole = v.peephole ? &peep : nullptr;
    o.input_forget = v.input_forget;
    o.w_hr = v.proj > 0 ? &w_hr : nullptr;
    o.proj = v.proj;
    return o;
  }
  ref::StepResult forward() const {
    switch (v.cell) {
      case Cell::kRnnTanh:
      case Cell::kRnnRelu:
        return ref::rnn_step(xp, hp, rows, h, w, b, v.cell == Cell::kRnnRelu, opt());
      case Cell::kLstm:
        return ref::lstm_step(xp, hp, cp, rows, h, w, b, opt());
      default:
        return ref::gru_step(xp, hp, rows, h, w, b, v.cell == Cell::kGruLbr, opt());
    }
  }
};

Problem make_problem(const Variant &v, int64_t h, int64_t rows, std::mt19937 &rng) {
  Problem p;
  p.v = v;
  p.h = h;
  p.rows = rows;
  p.g = gates_of(v.cell);
  p.w = as_float(random_values(p.g * h * p.sw(), rng, -0.6, 0.6));
  p.w_hr = as_float(random_values(p.sw() * h, rng, -0.6, 0.6));
  p.b = as_float(random_values(p.g * h, rng));
  p.peep = as_float(random_values(3 * h, rng, -0.8, 0.8));
  p.xp = as_float(random_values(p.g * h * rows, rng, -1.5, 1.5));
  if (v.cell == Cell::kRnnRelu)  // keep pre-activations away from the kink at 0
    for (auto &x : p.xp) x = static_cast<float>(x + (x >= 0 ? 0.3 : -0.3));
  p.hp = as_float(random_values(p.sw() * rows, rng));
  p.cp = as_float(random_values(h * rows, rng, -1.5, 1.5));
  return p;
}

const std::vector<Variant> kVariants = {
    {Cell::kRnnTanh, 0.7, false, false, "rnn_tanh_clip"},
    {Cell::kRnnRelu, 0.9, false, false, "rnn_relu_clip"},
    {Cell::kLstm, 0.0, true, false, "lstm_peepholes"},
    {Cell::kLstm, 0.0, false, true, "lstm_input_forget"},
    {Cell::kLstm, 0.8, false, false, "lstm_clip"},
    {Cell::kLstm, 0.8, true, true, "lstm_all_three"},
    {Cell::kGruLbr, 0.6, false, false, "gru_clip"},
    {Cell::kGruOnnx, 0.6, false, false, "gru_onnx_clip"},
    {Cell::kLstm, 0.0, false, false, "lstm_projection", 2},
    {Cell::kLstm, 0.7, true, false, "lstm_projection_peepholes_clip", 3},
};

class VariantStep : public ::testing::TestWithParam<Variant> {};

TEST_P(VariantStep, ForwardMatchesReference) {
  const Variant v = GetParam();
  std::mt19937 rng(21);
  for (bool train : {false, true})
    for (int64_t h : {3, 8, 21}) {
      if (v.proj >= h) continue;
      const KernelDesc d = desc_of(v, false, train, h);
      JitKernel kernel(d);
      for (int64_t rows : {1, 5, 17}) {
        SCOPED_TRACE(v.label + " train=" + std::to_string(train) + " h=" + std::to_string(h) +
                     " rows=" + std::to_string(rows));
        Problem p = make_problem(v, h, rows, rng);
        const ref::StepResult want = p.forward();
        // Expected value of every output, by name.
        std::map<std::string, Mat> expect = {{"h", want.h}, {"c", want.c}, {"hn", want.hn}, {"m", want.m}};
        const char *lstm_gates[] = {"i", "f", "g", "o"}, *gru_gates[] = {"r", "z", "n"};
        for (int q = 0; q < p.g; ++q) {
          const std::string gname = p.g == 4 ? lstm_gates[q] : p.g == 3 ? gru_gates[q] : "";
          if (p.g > 1) expect["gate_" + gname] = columns(want.gates, rows, p.g * h, q * h, h);
        }
        expect["clip_mask"] = ref::packed_clip_mask(want.masks, rows, h, p.g);
        std::vector<JitKernel::Input> inputs;
        std::vector<MatrixView> outs;
        std::vector<std::string> out_names;
        std::vector<std::unique_ptr<MatrixView>> keep;
        for (const kernels::ArgSig &a : kernels::signature(kernel.desc())) {
          if (a.output) {
            outs.emplace_back(a.width, rows, 1, 0);
            out_names.push_back(a.name);
          } else if (a.name == "clip") {
            inputs.push_back(static_cast<float>(v.clip));
          } else if (a.name == "w") {
            inputs.push_back(pack(p.w, p.g, h, p.sw(), kernel.desc().sched.tile, false));
          } else if (a.name == "w_hr") {
            inputs.push_back(pack(p.w_hr, 1, p.sw(), h, kernel.desc().sched.tile, false));
          } else if (a.name == "bias" || a.name == "peephole") {
            inputs.push_back(vector_buffer(a.name == "bias" ? p.b : p.peep));
          } else {
            const Mat &m = a.name == "xp" ? p.xp : a.name == "h_prev" ? p.hp : p.cp;
            keep.push_back(std::make_unique<MatrixView>(a.width, rows, 2, 1));
            keep.back()->fill(m);
            inputs.push_back(keep.back()->buf);
          }
        }
        std::vector<Halide::Buffer<>> bufs;
        for (auto &o : outs) bufs.push_back(o.buf);
        kernel.run(inputs, bufs);
        for (size_t i = 0; i < outs.size(); ++i) {
          ASSERT_TRUE(expect.count(out_names[i])) << out_names[i];
          EXPECT_LT(max_abs_diff(outs[i].values(), expect[out_names[i]]), 2e-6) << out_names[i];
        }
        if (v.clip > 0 && train) {  // the case must actually clamp something
          double clamped = 0;
          for (double m : want.masks) clamped += m == 0;
          if (rows * h >= 40) {
            EXPECT_GT(clamped, 0) << "no pre-activation was clamped";
          }
        }
      }
    }
}

TEST_P(VariantStep, BackwardMatchesFiniteDifferences) {
  const Variant v = GetParam();
  std::mt19937 rng(22);
  for (int64_t h : {3, 8, 21}) {
    if (v.proj >= h) continue;
    const KernelDesc d = desc_of(v, true, false, h);
    JitKernel kernel(d);
    for (int64_t rows : {1, 5, 17}) {
      SCOPED_TRACE(v.label + " h=" + std::to_string(h) + " rows=" + std::to_string(rows));
      Problem p = make_problem(v, h, rows, rng);
      const int g = p.g;
      const int64_t sw = p.sw();
      Mat dout = as_float(random_values(sw * rows, rng)), dh_next = as_float(random_values(sw * rows, rng)),
          dc_next = as_float(random_values(h * rows, rng));
      Mat dh(sw * rows);
      for (size_t i = 0; i < dh.size(); ++i) dh[i] = dout[i] + dh_next[i];
      auto loss = [&]() {
        ref::StepResult s = p.forward();
        return dot(dh, s.h) + (g == 4 ? dot(dc_next, s.c) : 0.0);
      };
      const ref::StepResult fwd = p.forward();
      std::map<std::string, Mat> in = {{"dout", dout},   {"dh_next", dh_next}, {"dc_next", dc_next}, {"h", fwd.h},
                                       {"h_prev", p.hp}, {"c", fwd.c},         {"c_prev", p.cp},     {"hn", fwd.hn}};
      const char *lstm_gates[] = {"i", "f", "g", "o"}, *gru_gates[] = {"r", "z", "n"};
      for (int q = 0; q < g; ++q) {
        const std::string gname = g == 4 ? lstm_gates[q] : g == 3 ? gru_gates[q] : "";
        if (g > 1) in["gate_" + gname] = as_float(columns(fwd.gates, rows, g * h, q * h, h));
      }
      in["clip_mask"] = ref::packed_clip_mask(fwd.masks, rows, h, g);
      std::vector<JitKernel::Input> inputs;
      std::vector<std::unique_ptr<MatrixView>> keep;
      std::map<std::string, MatrixView *> outs;
      std::vector<Halide::Buffer<>> bufs;
      for (const kernels::ArgSig &a : kernels::signature(kernel.desc())) {
        if (a.name == "wt") {
          inputs.push_back(pack(p.w, 1, sw, g * h, kernel.desc().sched.tile, true));
          continue;
        }
        if (a.name == "w_hr_t") {
          inputs.push_back(pack(p.w_hr, 1, h, sw, kernel.desc().sched.tile, true));
          continue;
        }
        if (a.name == "peephole") {
          inputs.push_back(vector_buffer(p.peep));
          continue;
        }
        keep.push_back(std::make_unique<MatrixView>(a.width, rows, 1, a.output ? 0 : 2));
        if (a.output) {
          outs[a.name] = keep.back().get();
          bufs.push_back(keep.back()->buf);
        } else {
          ASSERT_TRUE(in.count(a.name)) << a.name;
          keep.back()->fill(in[a.name]);
          inputs.push_back(keep.back()->buf);
        }
      }
      kernel.run(inputs, bufs);
      // da = dL/d(pre-activation) = dL/dxp (for every gate's pre-activation sum).
      const std::string da_name = outs.count("dxp") ? "dxp" : "da";
      EXPECT_LT(rel_err(outs[da_name]->values(), numeric_grad(p.xp, loss)), 2e-5) << da_name;
      EXPECT_LT(rel_err(outs["dh_prev"]->values(), numeric_grad(p.hp, loss)), 2e-5) << "dh_prev";
      if (g == 4) {
        EXPECT_LT(rel_err(outs["dc_prev"]->values(), numeric_grad(p.cp, loss)), 2e-5) << "dc_prev";
      }
      if (v.proj > 0) {
        // dL/dh_t (for dW_hr); summed against m over the rows it is dL/dW_hr.
        EXPECT_LT(max_abs_diff(outs["dh"]->values(), dh), 1e-6) << "dh";
        Mat dw(sw * h, 0.0);
        const Mat got_dh = outs["dh"]->values();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t q = 0; q < sw; ++q)
            for (int64_t j = 0; j < h; ++j) dw[q * h + j] += got_dh[r * sw + q] * fwd.m[r * h + j];
        EXPECT_LT(rel_err(dw, numeric_grad(p.w_hr, loss)), 2e-5) << "dW_hr";
      }
      if (outs.count("dhp")) {
        EXPECT_LT(rel_err(column_sums(outs["dhp"]->values(), rows, g * h), numeric_grad(p.b, loss)), 2e-5) << "dhp";
      } else if (g > 1) {
        EXPECT_LT(rel_err(column_sums(outs[da_name]->values(), rows, g * h), numeric_grad(p.b, loss)), 2e-5)
            << "da = dL/db_hh";
      }
      if (v.peephole) {
        Mat got(3 * h);
        const char *names[] = {"dpeephole_i", "dpeephole_f", "dpeephole_o"};
        for (int q = 0; q < 3; ++q) {
          Mat s = column_sums(outs[names[q]]->values(), rows, h);
          std::copy(s.begin(), s.end(), got.begin() + q * h);
        }
        EXPECT_LT(rel_err(got, numeric_grad(p.peep, loss)), 2e-5) << "peephole gradient";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(OnnxVariants, VariantStep, ::testing::ValuesIn(kVariants),
                         [](const ::testing::TestParamInfo<Variant> &i) { return i.param.label; });

}  // namespace
}  // namespace rnnc::test
