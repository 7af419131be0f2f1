// The runtime's executor on hand-written plans: the packed geometry of a
// ragged batch, argument binding (views, step slices, index arrays), and the
// two ways a plan can run a recurrence — the runtime's time loop calling a
// step kernel, or one kernel that runs the whole loop itself (kOpWholeLoop).
// The "kernels" here are plain C++ functions with the generated kernels'
// calling convention (_argv: user context, then one pointer per argument).
#include <HalideRuntime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "error.h"
#include "geometry.h"
#include "model.h"

// Every generated library links its own Halide runtime; this test has no
// generated kernels, so it supplies the runtime functions rnnc_rt calls.
extern "C" halide_error_handler_t halide_set_error_handler(halide_error_handler_t) { return nullptr; }
extern "C" int halide_set_num_threads(int n) { return n; }
extern "C" halide_do_par_for_t halide_set_custom_do_par_for(halide_do_par_for_t f) { return f; }

namespace rnnc_rt {
namespace {

// --- geometry ----------------------------------------------------------------

TEST(Geometry, PacksARaggedBatchLikePackPaddedSequence) {
  // Lengths in input order 2, 4, 1, 4: sorted (stable) 1, 3, 0, 2.
  const std::vector<int32_t> lengths = {2, 4, 1, 4};
  const Geometry g = make_geometry(lengths.data(), 4, 5, nullptr, 0);
  EXPECT_EQ(g.steps, 4);
  EXPECT_EQ(g.rows, 11);
  EXPECT_EQ(g.order, (std::vector<int32_t>{1, 3, 0, 2}));
  EXPECT_EQ(g.sort_pos, (std::vector<int32_t>{2, 0, 3, 1}));
  EXPECT_EQ(g.batch_sizes, (std::vector<int32_t>{4, 3, 2, 2}));
  EXPECT_EQ(g.offsets, (std::vector<int32_t>{0, 4, 7, 9}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t s = 0; s < lengths[i]; ++s) {
      const int64_t r = g.row(i, s);
      EXPECT_EQ(g.index[kIdxRowSeq][r], i);
      EXPECT_EQ(g.index[kIdxInputFwd][r], i * 5 + s);  // features: row n*T + t
      // The reverse direction reads position length-1-s at its step s, and
      // the permutation maps each packed row to its reverse-packed row.
      const int64_t rev = g.offsets[s] + g.sort_pos[i];
      EXPECT_EQ(g.index[kIdxInputRev][rev], i * 5 + (lengths[i] - 1 - s));
      EXPECT_EQ(g.index[kIdxPerm][g.index[kIdxPerm][r]], r);  // an involution
      EXPECT_EQ(g.index[kIdxPrevRow][r], s == 0 ? g.sort_pos[i] : 4 + g.row(i, s - 1));
      EXPECT_EQ(g.index[kIdxLastOf][r], s == lengths[i] - 1 ? i : -1);
    }
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(g.index[kIdxLastRow][i], g.row(i, lengths[i] - 1));
}

TEST(Geometry, RefusesBadLengthsAndTokensNamingThePosition) {
  const std::vector<int32_t> zero = {3, 0};
  EXPECT_THROW(make_geometry(zero.data(), 2, 3, nullptr, 0), RtError);
  const std::vector<int32_t> long_ = {4};
  EXPECT_THROW(make_geometry(long_.data(), 1, 3, nullptr, 0), RtError);
  // Token 9 at position 1 of sequence 0 is inside the length: refused;
  // token 99 at position 2 is padding: ignored.
  const std::vector<int32_t> lengths = {2}, tokens = {1, 9, 99};
  try {
    make_geometry(lengths.data(), 1, 3, tokens.data(), 5);
    FAIL() << "an out-of-vocabulary token was accepted";
  } catch (const RtError &e) {
    EXPECT_NE(std::string(e.what()).find("sequence 0 at position 1"), std::string::npos) << e.what();
  }
  const std::vector<int32_t> ok = {1, 4, 99};
  EXPECT_NO_THROW(make_geometry(lengths.data(), 1, 3, ok.data(), 5));
}

// --- a toy model run two ways ------------------------------------------------

// h_t = tanh(x_t + 0.5 h_{t-1}), two features, two units; the output is
// the state after each sequence's last step.
constexpr int kWidth = 2;

float *host(void *arg) { return reinterpret_cast<float *>(static_cast<halide_buffer_t *>(arg)->host); }
const halide_buffer_t &buf(void *arg) { return *static_cast<halide_buffer_t *>(arg); }
const int32_t *ints(void *arg) { return reinterpret_cast<const int32_t *>(static_cast<halide_buffer_t *>(arg)->host); }

// (input (I, N*T), idx [R]) -> x [R, I]: the packed inputs.
int gather_inputs(void **args) {
  const halide_buffer_t &in = buf(args[1]), &out = buf(args[3]);
  const int32_t *idx = ints(args[2]);
  for (int r = 0; r < out.dim[1].extent; ++r)
    for (int j = 0; j < kWidth; ++j)
      host(args[3])[r * out.dim[1].stride + j] = host(args[1])[idx[r] * in.dim[1].stride + j];
  return 0;
}

// One step: (x [b, I], h_prev [b, H]) -> h [b, H].
int rnn_step(void **args) {
  const halide_buffer_t &x = buf(args[1]), &hp = buf(args[2]), &h = buf(args[3]);
  if (x.dim[1].extent != h.dim[1].extent || hp.dim[1].extent != h.dim[1].extent) return -1;
  for (int r = 0; r < h.dim[1].extent; ++r)
    for (int j = 0; j < kWidth; ++j)
      host(args[3])[r * h.dim[1].stride + j] =
          std::tanh(host(args[1])[r * x.dim[1].stride + j] + 0.5f * host(args[2])[r * hp.dim[1].stride + j]);
  return 0;
}

// The whole loop: (x [R, I], batch_sizes [T], offsets [T]) -> states [N + R, H].
int rnn_loop(void **args) {
  const halide_buffer_t &x = buf(args[1]), &st = buf(args[4]);
  const int32_t *sizes = ints(args[2]), *offsets = ints(args[3]);
  const int steps = buf(args[2]).dim[0].extent;
  const int n = st.dim[1].extent - x.dim[1].extent;
  for (int t = 0; t < steps; ++t)
    for (int b = 0; b < sizes[t]; ++b) {
      const int row = offsets[t] + b, prev = t == 0 ? b : n + offsets[t - 1] + b;
      for (int j = 0; j < kWidth; ++j)
        host(args[4])[(n + row) * st.dim[1].stride + j] =
            std::tanh(host(args[1])[row * x.dim[1].stride + j] + 0.5f * host(args[4])[prev * st.dim[1].stride + j]);
    }
  return 0;
}

// (states' packed rows [R, H], last_row [N]) -> out [N, H].
int readout_last(void **args) {
  const halide_buffer_t &src = buf(args[1]), &out = buf(args[3]);
  const int32_t *last = ints(args[2]);
  for (int s = 0; s < out.dim[1].extent; ++s)
    for (int j = 0; j < kWidth; ++j)
      host(args[3])[s * out.dim[1].stride + j] = host(args[1])[last[s] * src.dim[1].stride + j];
  return 0;
}

const KernelEntry kKernels[] = {{"gather_inputs", gather_inputs, nullptr},
                                {"rnn_step", rnn_step, nullptr},
                                {"rnn_loop", rnn_loop, nullptr},
                                {"readout_last", readout_last, nullptr}};
const BufferDesc kBuffers[] = {
    {"x", kRowsPacked, kWidth, -1, 0, 0},
    {"h", kRowsState, kWidth, -1, 0, 0},
    {"h.out", kRowsPacked, kWidth, 1, 1, 0},  // h's packed rows (skips the N initial rows)
    {"out", kRowsBatch, kWidth, -1, 0, 0},
};
const StateDesc kStates[] = {{1, -1, kWidth, 0, 0, 0, 0, -1, -1}};

// The plan, with the recurrence as a runtime time loop or as one kernel.
ModelDesc toy_model(bool whole_loop, std::vector<ArgDesc> &args, std::vector<StepDesc> &steps) {
  auto arg = [](int32_t kind, int32_t id, int32_t slice = kSliceAll) { return ArgDesc{kind, id, slice, 0.0f, 0, 0}; };
  args = {arg(kArgInput, 0), arg(kArgIndex, kIdxInputFwd), arg(kArgBuffer, 0)};
  steps = {{kOpCall, 0, kForward, 0, 3, "gather the packed inputs"}};
  if (whole_loop) {
    args.insert(args.end(), {arg(kArgBuffer, 0), arg(kArgIndex, kIdxBatchSizes), arg(kArgIndex, kIdxStepOffsets),
                             arg(kArgBuffer, 1)});
    steps.push_back({kOpWholeLoop, 2, kForward, 3, 4, "the whole recurrence in one kernel"});
  } else {
    args.insert(args.end(), {arg(kArgBuffer, 0, kSliceStep), arg(kArgBuffer, 1, kSliceStatePrev),
                             arg(kArgBuffer, 1, kSliceStateCur)});
    steps.push_back({kOpTimeLoop, 1, kForward, 3, 3, "the recurrence, one step per call"});
  }
  const int32_t r0 = static_cast<int32_t>(args.size());
  args.insert(args.end(), {arg(kArgBuffer, 2), arg(kArgIndex, kIdxLastRow), arg(kArgBuffer, 3)});
  steps.push_back({kOpCall, 3, kForward, r0, 3, "readout last"});

  ModelDesc d{};
  d.name = "toy";
  d.source_file = "test_executor.cpp";
  d.abi_version = kAbiVersion;
  d.input_kind = kInputFeatures;
  d.input_size = kWidth;
  d.output_width = kWidth;
  d.kernels = kKernels;
  d.num_kernels = 4;
  d.buffers = kBuffers;
  d.num_buffers = 4;
  d.args = args.data();
  d.num_args = static_cast<int32_t>(args.size());
  d.steps = steps.data();
  d.num_steps = static_cast<int32_t>(steps.size());
  d.infer = StepList{0, d.num_steps};
  d.output_buffer = 3;
  d.loss_buffer = -1;
  d.grad_sq_buffer = -1;
  d.states = kStates;
  d.num_states = 1;
  return d;
}

TEST(Executor, TimeLoopAndWholeLoopKernelsAgreeWithADirectComputation) {
  const int64_t n = 5, t = 6;
  const std::vector<int32_t> lengths = {3, 6, 1, 6, 4};
  std::vector<float> x(n * t * kWidth);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i));
  // h0 for the one state, [1][n][H], input order.
  std::vector<float> h0(n * kWidth);
  for (size_t i = 0; i < h0.size(); ++i) h0[i] = 0.1f * static_cast<float>(i) - 0.4f;

  std::vector<float> want(n * kWidth);
  for (int64_t i = 0; i < n; ++i) {
    float h[kWidth] = {h0[i * kWidth], h0[i * kWidth + 1]};
    for (int64_t s = 0; s < lengths[i]; ++s)
      for (int j = 0; j < kWidth; ++j) h[j] = std::tanh(x[(i * t + s) * kWidth + j] + 0.5f * h[j]);
    for (int j = 0; j < kWidth; ++j) want[i * kWidth + j] = h[j];
  }

  for (bool whole : {false, true}) {
    SCOPED_TRACE(whole ? "whole-loop kernel" : "runtime time loop");
    std::vector<ArgDesc> args;
    std::vector<StepDesc> steps;
    const ModelDesc d = toy_model(whole, args, steps);
    auto m = new_model(&d);
    std::vector<float> out(n * kWidth), h_n(n * kWidth);
    forward(*m, x.data(), lengths.data(), n, t, h0.data(), nullptr, out.data(), h_n.data(), nullptr);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_FLOAT_EQ(out[i], want[i]) << i;
      EXPECT_FLOAT_EQ(h_n[i], want[i]) << i;  // the final state is the readout here
    }
  }
}

TEST(Executor, AFailingKernelNamesItselfAndTheStep) {
  std::vector<ArgDesc> args;
  std::vector<StepDesc> steps;
  ModelDesc d = toy_model(false, args, steps);
  // Make the time loop pass mismatched rows: h_prev over all state rows.
  args[4].slice = kSliceAll;
  auto m = new_model(&d);
  const std::vector<float> x(2 * 3 * kWidth, 0.5f);
  std::vector<float> out(2 * kWidth);
  try {
    forward(*m, x.data(), nullptr, 2, 3, nullptr, nullptr, out.data(), nullptr, nullptr);
    FAIL() << "the kernel's failure was not reported";
  } catch (const RtError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("kernel rnn_step failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the recurrence, one step per call"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace rnnc_rt
