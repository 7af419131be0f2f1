// A model instance: its parameters, packed weights and workspace, and the
// executor that runs the plan's step lists over them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "geometry.h"
#include "memory.h"
#include "rnnc/model_desc.h"
#include "workspace.h"

namespace rnnc_rt {

// The batch a step list runs on: the user's inputs as kernels read them,
// the labels in the output's row order, and the runtime scalars.
struct BatchInput {
  const int32_t *tokens = nullptr;        // [n, t]
  const float *features = nullptr;        // [n, t, input_size]
  const int32_t *class_labels = nullptr;  // [rows] (cross-entropy)
  const float *targets = nullptr;         // [rows, output_width] (MSE)
  int64_t label_rows = 0;
  bool dropout = true;               // false: every kArgDropoutRate is 0 (dropout off)
  float scalars[kScalarCount] = {};  // RuntimeScalar values (kScalarDropoutSeed: int bits)
};

// Gradients and optimizer state, allocated on the first training step.
struct TrainState {
  Mirror<float> grads;
  Mirror<float> slot1, slot2;  // Adam: exp_avg, exp_avg_sq; SGD: momentum_buffer
  Mirror<float> next_params, next_slot1, next_slot2;
  int64_t step = 0;  // optimizer steps taken
};

// A batch's inputs, labels and index arrays on the device (device modes),
// copied there once per batch.
struct StagedBatch {
  Mirror<int32_t> tokens, classes;
  Mirror<float> features, targets;
  Mirror<int32_t> index[kIdxCount];
  int64_t inputs_of = -1, labels_of = -1;  // the batch (Model::batch) they hold
};

struct Model {
  const ModelDesc *desc = nullptr;
  // The device the arrays below mirror to (memory.h): CUDA for a CUDA
  // build, the emulated device with RNNC_EMULATE_DEVICE=1, else none.
  // Declared first: the arrays free their device copies into it.
  std::unique_ptr<Device> device;
  Mirror<float> params;  // flat, ParamDesc offsets
  std::vector<Mirror<float>> packed;
  Mirror<float> zeros;           // stands for absent biases
  std::vector<char> used_infer;  // base buffers the inference steps touch
  std::vector<char> used_eval;   // ... with the loss
  std::vector<char> used_train;  // ... and the training steps
  Workspace ws;
  Geometry geo;
  int64_t batch = 0;  // counts prepare_batch calls
  StagedBatch staged;
  // Per kernel, per argv position: whether the kernel writes that buffer
  // (from its Halide metadata; every buffer without metadata).
  std::vector<std::vector<char>> kernel_writes;
  // The packed weights lag the parameters (after a load, an init, a
  // set_params or an update) until the next step list runs: commands that
  // run no kernel (init, export) never pack.
  bool packed_stale = true;
  bool cuda = false;            // uses_cuda(*desc), read once: the executor asks per call
  bool device_checked = false;  // CUDA builds: the GPU was found (cuda_driver.h)
  TrainState train;
  // Time spent per step (RNNC_PROFILE set in the environment), for tuning.
  bool profile = false;
  std::vector<double> step_seconds;
  std::vector<int64_t> step_calls;
};

// Calls fn(state, hidden, offset) for every state (StateDesc index) in
// PyTorch's h_n order — with `cell`, only those with a cell state — where
// offset is the start of its block in the flat [state][n][hidden] layout
// of h0/c0 and h_n/c_n.
template <class Fn>
void for_each_state_block(const ModelDesc &d, bool cell, int64_t n, Fn fn) {
  int64_t offset = 0;
  for (int32_t s = 0; s < d.num_states; ++s) {
    if (cell && d.states[s].c_buffer < 0) continue;
    const int64_t width = cell ? d.states[s].c_hidden : d.states[s].hidden;
    fn(s, width, offset);
    offset += n * width;
  }
}

// Prints the time per step, most expensive first, when profiling is on.
void print_profile(const Model &m);

// A model with zero parameters; call init_params or load_weights next.
std::unique_ptr<Model> new_model(const ModelDesc *desc);

// Refreshes every packed weight from the parameters now (run_steps does it
// when packed_stale is set).
void repack(Model &m);

// True when the model's kernels were compiled for CUDA.
bool uses_cuda(const ModelDesc &d);

// CUDA builds: finds the GPU (once) before anything touches the device;
// throws RtError with one line when there is none. No-op otherwise.
void require_device(Model &m);

// Attaches every array of the model to its device (none: host memory).
void attach_arrays(Model &m);

// Runs `list` on the current geometry and workspace.
void run_steps(Model &m, StepList list, const BatchInput &in);

// What a batch will run: inference; inference and the loss; or training.
enum class BatchMode { kInfer, kEval, kTrain };

// Sets up the geometry and workspace of a batch for `mode` and the initial
// states (h0/c0 or zeros).
void prepare_batch(Model &m, const BatchInput &in, const int32_t *lengths, int64_t n, int64_t t, BatchMode mode,
                   const float *h0 = nullptr, const float *c0 = nullptr);

// The model's output buffer after a forward: rows in the output's order
// (sequences in input order, or packed rows for per-step outputs).
struct OutputView {
  const float *data;  // the host copy, current
  int64_t stride;
  int64_t rows;
};
OutputView output_view(const Model &m);

// Copies the output buffer of the last forward to `outputs` in the API's
// layout ([n, out], or [n, t, out] with 0 at padded positions).
void copy_outputs(const Model &m, float *outputs);
// Copies every state's value after its sequence's last step to h_n/c_n
// (either may be NULL).
void get_final_states(const Model &m, float *h_n, float *c_n);

// Where the caller's arrays of a forward are: host memory, or memory of the
// model's device (CUDA device pointers in the primary context; for the
// emulated device, host addresses standing for device memory).
enum class Residence { kHost, kDevice };

// Forward pass (see api_forward_state for the arguments' layout). With
// kDevice, inputs, h0/c0, outputs and h_n/c_n are device pointers and
// lengths stays on the host; features and states then never cross to the
// host (token ids do: they build the packed layout and are checked there).
void forward(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
             const float *c0, float *outputs, float *h_n, float *c_n, Residence where = Residence::kHost);

int64_t output_size(const ModelDesc &d, int64_t n, int64_t t);
int64_t state_size(const ModelDesc &d, int64_t n, bool cell_state);

// Makes the Halide runtime report kernel errors through the calling
// thread's context instead of printing them; idempotent.
void install_halide_error_handler();

}  // namespace rnnc_rt
