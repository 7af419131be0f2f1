// A model instance: its parameters, packed weights and workspace, and the
// executor that runs the plan's step lists over them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "geometry.h"
#include "rnnc/model_desc.h"

namespace rnnc_rt {

// Workspace matrices for one batch, one allocation per base buffer.
struct Workspace {
  std::vector<std::vector<float>> storage;
  int64_t n = 0;
  int64_t rows = 0;
};

// The batch a step list runs on: the user's inputs as kernels read them.
struct BatchInput {
  const int32_t *tokens = nullptr;   // [n, t]
  const float *features = nullptr;   // [n, t, input_size]
};

struct Model {
  const ModelDesc *desc = nullptr;
  std::vector<float> params;  // flat, ParamDesc offsets
  std::vector<std::vector<float>> packed;
  std::vector<float> zeros;   // stands for absent biases
  std::vector<char> used_infer;  // base buffers the inference steps touch
  Workspace ws;
  Geometry geo;
};

// A model with zero parameters; call init_params or load_weights next.
std::unique_ptr<Model> new_model(const ModelDesc *desc);

// Refreshes every packed weight from the parameters. Must run after the
// parameters change and before the next forward.
void repack(Model &m);

// Runs `list` on the current geometry and workspace.
void run_steps(Model &m, StepList list, const BatchInput &in);

// Forward pass (see api_forward_state for the arguments' layout).
void forward(Model &m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
             const float *c0, float *outputs, float *h_n, float *c_n);

int64_t output_size(const ModelDesc &d, int64_t n, int64_t t);
int64_t state_size(const ModelDesc &d, int64_t n, bool cell_state);

// Makes the Halide runtime report kernel errors through the calling
// thread's context instead of printing them; idempotent.
void install_halide_error_handler();

}  // namespace rnnc_rt
