// Plan: what the runtime executes for one model — the kernels to generate,
// the workspace buffers, the packed weights, and the step lists (inference,
// training forward and backward, optimizer). It is lowered from the graph
// IR, verified, printed by `rnnc check --dump`, and emitted as the static
// tables of runtime/include/rnnc/model_desc.h.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "kernels/kernel_desc.h"
#include "rnnc/model_desc.h"
#include "schedule_source.h"

namespace rnnc::plan {

struct Buffer {
  std::string name;
  rnnc_rt::RowKind rows = rnnc_rt::kRowsPacked;
  int cols = 0;
  int parent = -1;  // a view into another buffer
  bool skip_state_rows = false;
  int col_offset = 0;
};

struct Arg {
  rnnc_rt::ArgKind kind = rnnc_rt::kArgBuffer;
  int id = 0;
  rnnc_rt::SliceKind slice = rnnc_rt::kSliceAll;
  float fvalue = 0.0f;
  int64_t row0 = 0;   // kArgParam/kArgGrad rows, kArgFlat elements: [row0, row0 + nrows)
  int64_t nrows = 0;  // 0: all
};

struct Step {
  rnnc_rt::OpKind op = rnnc_rt::kOpCall;
  int kernel = -1;
  rnnc_rt::Direction direction = rnnc_rt::kForward;
  std::vector<Arg> args;
  std::string comment;
};

struct Packed {
  std::string name;
  int param = -1;
  int kernel = -1;            // its pack kernel
  std::vector<int64_t> dims;  // Halide order
};

// One direction of one stacked sub-layer: where its states live.
// Buffers of a reverse direction are in reverse-packed order.
struct State {
  int h_buffer = -1;
  int c_buffer = -1;
  int hidden = 0;    // width of h
  int c_hidden = 0;  // width of c (0 without)
  int layer = -1;    // [[layers]] index
  int sublayer = 0;  // stacked layer within the entry
  bool reverse = false;
  // Training: dL/dh_t is the sum of out_grad's packed row (from above) and
  // rec_grad's state row of step t (through the recurrence from t+1).
  int out_grad = -1;
  int rec_grad = -1;
};

struct Plan {
  std::vector<kernels::KernelDesc> kernels;
  std::vector<int64_t> param_offsets;  // in floats, per graph parameter
  int64_t param_floats = 0;
  std::vector<Packed> packed;
  std::vector<Buffer> buffers;
  std::vector<Step> infer, train_fwd, loss, train_bwd, grad_norm, update;
  // Features input: dL/dx of the first recurrent layer, run after train_bwd
  // only when asked for (training does not need it).
  std::vector<Step> input_grad;
  int output_buffer = -1;
  int loss_buffer = -1;         // training only
  int grad_sq_buffer = -1;      // training only
  int output_grad_buffer = -1;  // training only: dL/d(output), written by the loss steps
  int input_grad_buffer = -1;   // features input, training only: dL/dx [R, input_size] packed
  std::vector<State> states;  // PyTorch h_n order: layer-major, direction-minor
  int64_t output_width = 0;
  bool per_step_output = false;
};

// Lowers a verified graph, taking every kernel's schedule parameters (and
// so the packed layouts) from `schedules`. Runs verify() before returning.
Plan lower(const ir::Graph &g, const schedules::ScheduleSource &schedules);

// Checks that every step passes its kernel exactly the arguments of the
// kernel's signature, that ids are in range and views fit their parents.
// Throws std::logic_error describing the first problem.
void verify(const Plan &p, const ir::Graph &g);

std::string print_plan(const Plan &p, const ir::Graph &g);

}  // namespace rnnc::plan
