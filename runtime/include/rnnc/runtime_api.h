// Entry points of the runtime, called by each model's generated glue (which
// wraps them as the documented <name>_* C functions of <name>.h). Every
// function that can fail records a message for api_last_error() on the
// calling thread; none throws.
#pragma once

#include <cstdint>

#include "rnnc/model_desc.h"

namespace rnnc_rt {

struct Model;

// Loads weights (or a checkpoint; its optim.* tensors are skipped). NULL on failure.
Model *api_open(const ModelDesc *desc, const char *weights_path);
// PyTorch-default initialisation from `seed`. NULL on failure.
Model *api_init(const ModelDesc *desc, uint64_t seed);
// Forward pass; inputs are int32 token ids [n, t] or float32 features
// [n, t, input_size]; lengths (NULL = all t) in 1..t. Writes
// api_output_size(desc, n, t) floats. 0 on success, -1 on failure.
int api_forward(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, float *outputs);
// As api_forward, with optional initial states h0/c0 (PyTorch layout
// [layers*directions, n, hidden] per recurrent entry, entries one after the
// other; NULL = zeros) and optional final states h_n/c_n in the same layout.
int api_forward_state(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                      const float *c0, float *outputs, float *h_n, float *c_n);
// As api_forward_state with inputs, h0/c0, outputs and h_n/c_n in device
// memory (lengths on the host); a CPU build refuses it.
int api_forward_device(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                       const float *c0, float *outputs, float *h_n, float *c_n);
int64_t api_output_size(const ModelDesc *desc, int64_t n, int64_t t);
// Floats of h0 / h_n (and of c0 / c_n: only LSTM entries hold a c) for n sequences.
int64_t api_state_size(const ModelDesc *desc, int64_t n, bool cell_state);
// The parameters as one flat float array in state_dict order
// (desc->num_param_floats floats): read and replace.
int api_get_params(Model *m, float *out);
int api_set_params(Model *m, const float *in);
// The loss in inference mode (dropout off) on a labelled batch: labels are
// int32 class ids ([n], or [n, t] per step) or float targets ([n, out] or
// [n, t, out]); entries at padded positions are ignored.
int api_loss(Model *m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t,
             double *loss);
// The training-mode loss and its gradient with respect to every parameter
// (flat, like api_get_params); dropout draws from the model's seed and step.
int api_gradients(Model *m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t,
                  float *grads, double *loss);
// One optimizer step with the model file's [train] settings (clipping
// included) on the batch; `loss` (may be NULL) receives the batch's loss.
int api_train_step(Model *m, const void *inputs, const int32_t *lengths, const void *labels, int64_t n, int64_t t,
                   double *loss);
// The forward pass in training mode, as api_forward_state, with dropout on
// (dropout != 0; masks drawn from dropout_seed) or off; the outputs are those
// api_backward differentiates for the same arguments.
int api_forward_train(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                      const float *c0, int dropout, uint64_t dropout_seed, float *outputs, float *h_n, float *c_n);
// Runs api_forward_train's forward again and the backward pass from
// grad_outputs (dL/d outputs, laid out as the outputs; padded positions
// ignored): the parameters' gradients (flat, like api_get_params) and, for a
// features input when input_grads is not NULL, dL/d inputs [n, t, input_size].
int api_backward(Model *m, const void *inputs, const int32_t *lengths, int64_t n, int64_t t, const float *h0,
                 const float *c0, int dropout, uint64_t dropout_seed, const float *grad_outputs, float *param_grads,
                 float *input_grads);
// Writes the weights as safetensors (atomically). 0 on success.
int api_save(Model *m, const char *path);
// Selects the GPU a CUDA build runs on (process-wide; before the first
// call that runs kernels). -1 for a CPU build.
int api_set_device(const ModelDesc *desc, int device);
// The CUDA stream (a CUstream; NULL: the default stream) rnnc queues its
// kernels and copies on (process-wide). -1 for a CPU build.
int api_set_stream(const ModelDesc *desc, void *stream);
// Sets the number of threads the kernels may use (process-wide).
int api_set_threads(const ModelDesc *desc, int threads);
const char *api_last_error();
void api_close(Model *m);
// The generated program's command line (info, init, predict, bench, ...).
int api_program_main(const ModelDesc *desc, int argc, char **argv);

}  // namespace rnnc_rt
