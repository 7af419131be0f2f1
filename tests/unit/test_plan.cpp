// Unit tests of the plan: every shipped model lowers to a plan the verifier
// accepts, kernels of equal descriptors are generated once, each stacked
// layer and direction has its own time loop, bidirectional layers reorder
// through the perm index, and the verifier refuses hand-broken plans.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/cpu_schedules.h"
#include "frontend/parser.h"
#include "plan/plan.h"

namespace rnnc::plan {
namespace {

using namespace rnnc_rt;

// The tests run in tests/, the models live beside it.
const char *const kModels[] = {"bigru_tagger", "compare_gru", "compare_lstm",   "compare_rnn", "memory_lstm",
                               "memory_rnn",   "packed_lstm", "sentiment_lstm", "vanilla_rnn"};

// The default schedules for the host, as the compiler uses them.
const schedules::ScheduleSource &target() {
  static const schedules::DefaultCpuSchedules defaults(
      Halide::get_host_target().with_feature(Halide::Target::UserContext).with_feature(Halide::Target::NoRuntime));
  return defaults;
}

ir::Graph graph_of(const std::string &model) {
  return ir::build_graph(parse_model_file("../models/" + model + ".toml"));
}

ir::Graph graph_of_text(const std::string &text) { return ir::build_graph(parse_model_text(text, "m.toml")); }

// Runs verify() and returns the message it throws, or "" if none.
std::string verify_error(const Plan &p, const ir::Graph &g) {
  try {
    verify(p, g);
  } catch (const std::logic_error &e) {
    return e.what();
  }
  return "";
}

bool starts_with(const std::string &s, const std::string &prefix) { return s.rfind(prefix, 0) == 0; }

// Distinct kernels of `family` that the inference steps call.
int count_kernels(const Plan &p, kernels::Family family) {
  std::set<int> used;
  for (const Step &s : p.infer)
    if (s.kernel >= 0 && p.kernels[s.kernel].family == family) used.insert(s.kernel);
  return static_cast<int>(used.size());
}

std::vector<const Step *> time_loops(const Plan &p) {
  std::vector<const Step *> v;
  for (const Step &s : p.infer)
    if (s.op == kOpTimeLoop) v.push_back(&s);
  return v;
}

// The index of the first inference step whose comment contains `what`.
size_t step_index(const Plan &p, const std::string &what) {
  for (size_t i = 0; i < p.infer.size(); ++i)
    if (p.infer[i].comment.find(what) != std::string::npos) return i;
  ADD_FAILURE() << "no step '" << what << "'";
  return 0;
}

bool has_index_arg(const Step &s, IndexKind k) {
  for (const Arg &a : s.args)
    if (a.kind == kArgIndex && a.id == k) return true;
  return false;
}

TEST(Plan, EveryShippedModelLowersToAVerifiedPlan) {
  for (const char *name : kModels) {
    SCOPED_TRACE(name);
    const ir::Graph g = graph_of(name);
    const Plan p = lower(g, target());
    EXPECT_EQ(verify_error(p, g), "");
    EXPECT_FALSE(p.infer.empty());
    // Models with a loss also get the training lists: one loss step, one
    // sum of squares per parameter, one optimizer update.
    const bool trains = g.loss != LossKind::kNone;
    EXPECT_EQ(!p.train_fwd.empty(), trains);
    EXPECT_EQ(!p.train_bwd.empty(), trains);
    EXPECT_EQ(p.loss.size(), trains ? 1u : 0u);
    EXPECT_EQ(p.grad_norm.size(), trains ? g.params.size() : 0u);
    EXPECT_EQ(p.update.size(), trains ? 1u : 0u);

    // Parameters are laid out back to back in state_dict order.
    ASSERT_EQ(p.param_offsets.size(), g.params.size());
    int64_t offset = 0;
    for (size_t i = 0; i < g.params.size(); ++i) {
      EXPECT_EQ(p.param_offsets[i], offset) << g.params[i].name;
      offset += g.params[i].numel();
    }
    EXPECT_EQ(p.param_floats, g.total_params());

    EXPECT_EQ(p.output_width, g.output().out.width);
    EXPECT_EQ(p.per_step_output, g.output().out.per_step);
    EXPECT_EQ(p.buffers[p.output_buffer].cols, p.output_width);
  }
}

TEST(Plan, KernelsAreGeneratedOncePerDescriptor) {
  for (const char *name : kModels) {
    SCOPED_TRACE(name);
    const ir::Graph g = graph_of(name);
    const Plan p = lower(g, target());
    std::set<std::string> names;
    for (const auto &k : p.kernels) EXPECT_TRUE(names.insert(k.name()).second) << "twice: " << k.name();
    std::set<std::string> packed;
    for (const Packed &pk : p.packed) EXPECT_TRUE(packed.insert(pk.name).second) << "twice: " << pk.name;
  }
}

TEST(Plan, EqualLayersShareTheirStepKernel) {
  // sentiment_lstm: a 2-layer LSTM of 64 units. The layers' input
  // projections differ (32 and 64 inputs), their recurrences do not.
  const ir::Graph g = graph_of("sentiment_lstm");
  const Plan p = lower(g, target());
  EXPECT_EQ(count_kernels(p, kernels::Family::kLstmStepFwd), 1);
  EXPECT_EQ(count_kernels(p, kernels::Family::kGemmFwd), 3);  // two projections and the linear
  const auto loops = time_loops(p);
  ASSERT_EQ(loops.size(), 2u);
  EXPECT_EQ(loops[0]->kernel, loops[1]->kernel);
  // Both W_hh are packed for the forward step by one pack kernel (and for
  // the backward step, transposed, by another).
  int hh_kernel = -1;
  for (const Packed &pk : p.packed) {
    if (pk.name.find("weight_hh") == std::string::npos || p.kernels[pk.kernel].transpose) continue;
    if (hh_kernel < 0) hh_kernel = pk.kernel;
    EXPECT_EQ(pk.kernel, hh_kernel) << pk.name;
  }

  // The bidirectional GRU: four recurrences, one step kernel.
  const ir::Graph gg = graph_of("bigru_tagger");
  const Plan pg = lower(gg, target());
  EXPECT_EQ(count_kernels(pg, kernels::Family::kGruStepFwd), 1);
  for (const Step *s : time_loops(pg)) EXPECT_EQ(s->kernel, time_loops(pg)[0]->kernel);
}

TEST(Plan, LayersOfDifferentSizesOrCellsGetTheirOwnKernels) {
  const ir::Graph g = graph_of_text(R"([input]
kind = "features"
size = 8
[[layers]]
kind = "lstm"
hidden = 16
[[layers]]
kind = "lstm"
hidden = 24
[[layers]]
kind = "gru"
hidden = 16
[[layers]]
kind = "gru"
hidden = 16
linear_before_reset = false
[[layers]]
kind = "rnn"
hidden = 16
[[layers]]
kind = "rnn"
hidden = 16
nonlinearity = "relu"
[[layers]]
kind = "readout"
mode = "mean"
)");
  const Plan p = lower(g, target());
  EXPECT_EQ(verify_error(p, g), "");
  EXPECT_EQ(count_kernels(p, kernels::Family::kLstmStepFwd), 2);
  EXPECT_EQ(count_kernels(p, kernels::Family::kGruStepFwd), 2);
  EXPECT_EQ(count_kernels(p, kernels::Family::kRnnStepFwd), 2);
  EXPECT_EQ(count_kernels(p, kernels::Family::kReadoutMean), 1);
  EXPECT_EQ(time_loops(p).size(), 6u);
}

// A parameter just under the 2^31 - 1 byte buffer limit (W_hh of an LSTM
// with 11585 units: 536,848,900 floats) whose packed copy, padded to whole
// tiles, would pass it is refused at the layer with both sizes named.
TEST(Plan, PackedCopyAboveTheBufferLimitIsRefusedAtItsLayer) {
  const ir::Graph g = graph_of_text(R"([input]
kind = "features"
size = 2
[[layers]]
kind = "lstm"
hidden = 11585
[[layers]]
kind = "readout"
mode = "last"
)");
  ASSERT_LE(g.params[1].numel() * 4, kMaxTensorBytes) << g.params[1].name;
  try {
    (void)lower(g, target());
    FAIL() << "lowering accepted a packed copy above the buffer limit";
  } catch (const CompileError &e) {
    EXPECT_EQ(e.loc().line, 4);
    const std::string msg = e.message();
    EXPECT_NE(msg.find("the packed copy of parameter 'layers.0.weight_hh_l0' (11585 units padded to whole tiles of "),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("bytes, above the limit of 2^31 - 1 bytes per kernel buffer"), std::string::npos) << msg;
  }
}

TEST(Plan, OneTimeLoopPerLayerAndDirection) {
  for (const char *name : kModels) {
    SCOPED_TRACE(name);
    const ir::Graph g = graph_of(name);
    const Plan p = lower(g, target());
    size_t want = 0;
    for (const ir::Node &n : g.nodes)
      if (n.op == ir::Op::kRecurrent) want += n.num_layers * n.directions();
    const auto loops = time_loops(p);
    EXPECT_EQ(loops.size(), want);
    EXPECT_EQ(p.states.size(), want);  // one h_n entry per loop
    // Every loop walks its own state buffer.
    std::set<int> states;
    for (const State &s : p.states) EXPECT_TRUE(states.insert(s.h_buffer).second);
    for (const Step *s : loops) EXPECT_EQ(s->direction, kForward);  // reverse directions walk reverse-packed rows
  }
}

TEST(Plan, BidirectionalLayersReorderThroughThePermIndex) {
  const ir::Graph g = graph_of("bigru_tagger");
  const Plan p = lower(g, target());
  // Layer 0 reads the embedding in each direction's own row order.
  EXPECT_TRUE(has_index_arg(p.infer[step_index(p, "gru layer 0 forward: input projection")], kIdxInputFwd));
  EXPECT_TRUE(has_index_arg(p.infer[step_index(p, "gru layer 0 reverse: input projection")], kIdxInputRev));
  // Layer 1 reverse gathers the packed-order input into reverse-packed order.
  const Step &rev1 = p.infer[step_index(p, "gru layer 1 reverse: input projection")];
  EXPECT_TRUE(has_index_arg(rev1, kIdxPerm));
  EXPECT_TRUE(p.kernels[rev1.kernel].gather);
  const Step &fwd1 = p.infer[step_index(p, "gru layer 1 forward: input projection")];
  EXPECT_FALSE(p.kernels[fwd1.kernel].gather);
  // Concatenating the directions puts the reverse half back in packed order.
  int gathers = 0, perm_gathers = 0;
  for (const Step &s : p.infer) {
    if (s.op != kOpGatherRows) continue;
    ++gathers;
    perm_gathers += has_index_arg(s, kIdxPerm);
  }
  EXPECT_EQ(gathers, 4);  // layer 1's input and the head's input, two halves each
  EXPECT_EQ(perm_gathers, 2);
}

TEST(Plan, BidirectionalLastReadoutReadsBothDirections) {
  const ir::Graph g = graph_of_text(R"([input]
kind = "features"
size = 4
[[layers]]
kind = "lstm"
hidden = 8
bidirectional = true
[[layers]]
kind = "readout"
mode = "last"
[[layers]]
kind = "linear"
out = 3
)");
  const Plan p = lower(g, target());
  EXPECT_EQ(verify_error(p, g), "");
  const Step &r = p.infer[step_index(p, "readout last")];
  EXPECT_EQ(p.kernels[r.kernel].dirs, 2);
  EXPECT_TRUE(has_index_arg(r, kIdxLastRow));
  EXPECT_EQ(p.buffers[r.args.back().id].cols, 16);
  // No concatenation is needed: the readout reads each direction's rows.
  for (const Step &s : p.infer) EXPECT_NE(s.op, kOpGatherRows) << s.comment;
}

TEST(Plan, PrintMentionsEveryKernelBufferAndStep) {
  for (const char *name : kModels) {
    SCOPED_TRACE(name);
    const ir::Graph g = graph_of(name);
    const Plan p = lower(g, target());
    const std::string text = print_plan(p, g);
    EXPECT_TRUE(starts_with(text, std::string("plan ") + name + "\n"));
    for (const auto &k : p.kernels) EXPECT_NE(text.find(k.name()), std::string::npos) << k.name();
    for (const Buffer &b : p.buffers) EXPECT_NE(text.find("%" + b.name), std::string::npos) << b.name;
    for (const Packed &pk : p.packed) EXPECT_NE(text.find(pk.name), std::string::npos) << pk.name;
    for (const Step &s : p.infer) EXPECT_NE(text.find("# " + s.comment), std::string::npos) << s.comment;
  }
}

// --- the verifier on hand-broken plans -------------------------------------------

class BrokenPlan : public testing::Test {
 protected:
  void SetUp() override {
    g_ = graph_of("sentiment_lstm");
    p_ = lower(g_, target());
    ASSERT_EQ(verify_error(p_, g_), "");
  }

  // Breaks the plan with `edit` and returns the verifier's message.
  std::string broken(const std::function<void(Plan &)> &edit) {
    Plan p = p_;
    edit(p);
    return verify_error(p, g_);
  }

  ir::Graph g_;
  Plan p_;
};

TEST_F(BrokenPlan, WrongArgumentCount) {
  const size_t linear = step_index(p_, "linear 64 -> 2");
  const std::string e = broken([&](Plan &p) { p.infer[linear].args.pop_back(); });
  EXPECT_NE(e.find("takes 4 arguments, the step passes 3"), std::string::npos) << e;
}

TEST_F(BrokenPlan, WrongWidth) {
  const size_t linear = step_index(p_, "linear 64 -> 2");
  const std::string e = broken([&](Plan &p) { p.infer[linear].args[2] = Arg{kArgZeros, 3, kSliceAll, 0.0f}; });
  EXPECT_NE(e.find("argument 'bias': width 3, expects 2"), std::string::npos) << e;
}

TEST_F(BrokenPlan, WrongBufferWidth) {
  const std::string e = broken([&](Plan &p) {
    for (Buffer &b : p.buffers)
      if (b.name == "layers.2.out") b.cols = 32;
  });
  EXPECT_NE(e.find("width 32, expects 64"), std::string::npos) << e;
}

TEST_F(BrokenPlan, BufferIdOutOfRange) {
  const size_t readout = step_index(p_, "readout last");
  const int n = static_cast<int>(p_.buffers.size());
  const std::string e = broken([&](Plan &p) { p.infer[readout].args[0].id = n; });
  EXPECT_NE(e.find("id " + std::to_string(n) + " out of range"), std::string::npos) << e;
}

TEST_F(BrokenPlan, ParameterIdOutOfRange) {
  const size_t linear = step_index(p_, "linear 64 -> 2");
  const std::string e = broken([&](Plan &p) { p.infer[linear].args[2].id = -1; });
  EXPECT_NE(e.find("id -1 out of range"), std::string::npos) << e;
}

TEST_F(BrokenPlan, StepSliceOutsideATimeLoop) {
  const size_t proj = step_index(p_, "layer 0 forward: input projection");
  const std::string e = broken([&](Plan &p) { p.infer[proj].args.back().slice = kSliceStep; });
  EXPECT_NE(e.find("a step slice outside a time loop"), std::string::npos) << e;
}

TEST_F(BrokenPlan, StateSliceOfAPackedBuffer) {
  const size_t loop = step_index(p_, "layer 0 forward: recurrence");
  const std::string e = broken([&](Plan &p) { p.infer[loop].args[0].slice = kSliceStatePrev; });
  EXPECT_NE(e.find("slice does not fit the buffer's rows"), std::string::npos) << e;
}

TEST_F(BrokenPlan, BadKernelIndex) {
  const size_t linear = step_index(p_, "linear 64 -> 2");
  const int n = static_cast<int>(p_.kernels.size());
  const std::string e = broken([&](Plan &p) { p.infer[linear].kernel = n; });
  EXPECT_NE(e.find("bad kernel index"), std::string::npos) << e;
}

TEST_F(BrokenPlan, ViewOutsideItsParent) {
  const std::string e = broken([&](Plan &p) {
    for (Buffer &b : p.buffers)
      if (b.parent >= 0) b.col_offset = 1;
  });
  EXPECT_NE(e.find("exceeds its parent's columns"), std::string::npos) << e;
}

TEST_F(BrokenPlan, PackKernelOfAnotherShape) {
  const std::string e = broken([&](Plan &p) {
    // Give the first packed weight the pack kernel of a parameter of another shape.
    const ir::Param &first = g_.params[p.packed[0].param];
    for (Packed &other : p.packed)
      if (g_.params[other.param].shape != first.shape) {
        p.packed[0].kernel = other.kernel;
        return;
      }
  });
  EXPECT_NE(e.find("pack kernel does not match the parameter's shape"), std::string::npos) << e;
}

TEST_F(BrokenPlan, MissingOutputBuffer) {
  const std::string e = broken([&](Plan &p) { p.output_buffer = -1; });
  EXPECT_NE(e.find("no output buffer"), std::string::npos) << e;
}

TEST_F(BrokenPlan, ParameterOffsetsOfAnotherGraph) {
  const std::string e = broken([&](Plan &p) { p.param_offsets.pop_back(); });
  EXPECT_NE(e.find("parameter offsets do not match the graph"), std::string::npos) << e;
}

}  // namespace
}  // namespace rnnc::plan
